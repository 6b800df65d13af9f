//! The signature on every delivery, so a receiver can tell a notification came from this Rollgate and was
//! not replayed long after:
//!
//! `X-Rollgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`
//!
//! The timestamp is inside the signed text, so a receiver that refuses old timestamps (five minutes is
//! usual) refuses replays. `v1` names the scheme; a later one can be sent beside it during a change.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Rollgate-Signature";
/// The header naming the event, e.g. `rollout.advanced`.
pub const EVENT_HEADER: &str = "X-Rollgate-Event";
/// The header carrying the delivery's id; the same on every retry of one delivery, so receivers can
/// drop duplicates.
pub const DELIVERY_HEADER: &str = "X-Rollgate-Delivery";

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The value of `X-Rollgate-Signature` for `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    format!("t={timestamp},v1={hex}")
}

/// What a receiver does: checks the header against the raw body in constant time, and refuses a
/// timestamp further than `tolerance_seconds` from `now` (unix seconds).
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64, tolerance_seconds: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.push(v),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else { return false };
    if (now - timestamp).abs() > tolerance_seconds {
        return false;
    }
    signatures.into_iter().filter_map(decode_hex).any(|sig| mac(secret, timestamp, body).verify_slice(&sig).is_ok())
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_0123456789abcdef";
    const BODY: &[u8] = br#"{"event":"webhook.test"}"#;

    #[test]
    fn the_signature_matches_a_fixed_vector() {
        // Computed independently: printf '%s' '1700000000.{"event":"webhook.test"}' |
        //   openssl dgst -sha256 -hmac 'whsec_test_0123456789abcdef'
        assert_eq!(
            sign(SECRET, 1_700_000_000, BODY),
            "t=1700000000,v1=e7178659252c8b52cf8000a85380d0bdbea51fe7bcfda998b7f131e8a84835ff"
        );
    }

    #[test]
    fn a_receiver_accepts_the_signature_and_refuses_tampering_other_secrets_and_old_timestamps() {
        let header = sign(SECRET, 1_700_000_000, BODY);
        assert!(verify(SECRET, &header, BODY, 1_700_000_100, 300));
        assert!(!verify(SECRET, &header, br#"{"event":"webhook.tesT"}"#, 1_700_000_100, 300));
        assert!(!verify("another secret of some length", &header, BODY, 1_700_000_100, 300));
        assert!(!verify(SECRET, &header, BODY, 1_700_000_400, 300));
        assert!(!verify(SECRET, "t=1700000000,v1=zz", BODY, 1_700_000_000, 300));
        assert!(!verify(SECRET, "v1=00", BODY, 1_700_000_000, 300));
    }
}
