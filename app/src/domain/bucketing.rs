//! Bucketing: which units (customers, organizations...) a rollout percentage lets in.
//!
//! A unit's bucket comes from `h = murmur3_x86_32(utf8("{flag_key}:{stickiness_value}"), seed 0)`:
//!
//! * **Unleash-compatible at whole percentages.** Unleash's gradual rollout computes
//!   `normalizedId = h % 100 + 1` (1..=100, with the flag name as group id) and lets a unit in iff
//!   `percentage > 0 && normalizedId <= percentage`. For a whole `pct` in 0..=100, `h % 100 + 1 <= pct` is
//!   the same as `h % 100 < pct`, and at `pct = 0` that is false for every unit, so the `percentage > 0`
//!   guard changes nothing: a team moving from Unleash keeps its customers in the same buckets. (This holds
//!   byte for byte for SDKs that hash the UTF-8 of the string, such as the Java and Rust ones; for non-ASCII
//!   ids the JavaScript SDK's murmurhash3js hashes the low byte of each UTF-16 unit instead and may differ.)
//! * **Finer steps.** With `a = h % 100` and `b = (h / 100) % 100`, the bucket is `100 * a + b`, in
//!   0..10000, and a unit is in at `bp` basis points iff `bucket < bp`. Since `h % 10000 = 100 * b + a`, the
//!   bucket is `h % 10000` with its two base-100 digits swapped, so every bucket is equally likely (up to
//!   the 2^32 % 10000 remainder, a bias of two in a million).
//! * **Consistent.** At a whole percentage, `bp = 100 * pct`, and `100a + b < 100 pct` iff `a < pct`:
//!   if `a <= pct - 1` then `100a + b <= 100 pct - 100 + 99 < 100 pct`; if `a >= pct` then
//!   `100a + b >= 100 pct`. So the fine rule gives exactly Unleash's answer at every whole percentage.
//! * **Monotonic.** A unit's bucket depends only on the flag key and its stickiness value, never on the
//!   percentage, and `bucket < p` implies `bucket < q` for every `q >= p`: whoever is in at 1% is in at 10%,
//!   and rolling back and advancing again brings back exactly the same units.
//! * **Independent across flags.** The flag key is part of the hashed text, so two flags pick unrelated
//!   units, and nothing about one flag enters another's buckets.

use super::percent::Percent;

/// The seed for rollout buckets, as in Unleash's gradual rollout.
pub const BUCKET_SEED: u32 = 0;

/// The seed for variant assignment, as in Unleash (`VARIANT_SEED`). Not the bucket seed: the variant a
/// unit gets must not correlate with where it sits in the rollout, so that moving the percentage adds and
/// removes units without changing the mix of variants among those who are in.
pub const VARIANT_SEED: u32 = 86_028_157;

/// How many buckets there are: one per basis point.
pub const BUCKETS: u16 = Percent::MAX_BASIS_POINTS;

/// MurmurHash3, x86 32-bit variant (Austin Appleby's `MurmurHash3_x86_32`), fed in pieces.
///
/// Fed in pieces so that `"{flag_key}:{id}"` is hashed without building the string: evaluation runs for
/// every flag of every request, and an allocation per flag would cost more than the hash.
#[derive(Debug, Clone, Copy)]
pub struct Murmur3 {
    h: u32,
    /// Bytes not yet mixed (fewer than four), little-endian.
    tail: u32,
    tail_len: u32,
    /// Total length modulo 2^32, as the reference implementation's `int len` wraps.
    len: u32,
}

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

fn scramble(k: u32) -> u32 {
    k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
}

fn mix_block(h: u32, k: u32) -> u32 {
    (h ^ scramble(k)).rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64)
}

impl Murmur3 {
    /// Starts a hash with the given seed.
    pub fn new(seed: u32) -> Self {
        Self { h: seed, tail: 0, tail_len: 0, len: 0 }
    }

    /// Feeds more bytes; the result is the same however the input is split.
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.len = self.len.wrapping_add(bytes.len() as u32);
        if self.tail_len > 0 {
            while self.tail_len < 4 {
                let Some((&byte, rest)) = bytes.split_first() else {
                    return;
                };
                self.tail |= u32::from(byte) << (8 * self.tail_len);
                self.tail_len += 1;
                bytes = rest;
            }
            self.h = mix_block(self.h, self.tail);
            self.tail = 0;
            self.tail_len = 0;
        }
        let mut blocks = bytes.chunks_exact(4);
        for block in &mut blocks {
            self.h = mix_block(self.h, u32::from_le_bytes([block[0], block[1], block[2], block[3]]));
        }
        for &byte in blocks.remainder() {
            self.tail |= u32::from(byte) << (8 * self.tail_len);
            self.tail_len += 1;
        }
    }

    /// The hash of everything fed so far.
    pub fn finish(self) -> u32 {
        let mut h = self.h;
        if self.tail_len > 0 {
            h ^= scramble(self.tail);
        }
        h ^= self.len;
        // The finalizer ("fmix32") spreads every input bit over every output bit.
        h ^= h >> 16;
        h = h.wrapping_mul(0x85eb_ca6b);
        h ^= h >> 13;
        h = h.wrapping_mul(0xc2b2_ae35);
        h ^ (h >> 16)
    }
}

/// MurmurHash3 x86 32-bit of `data` with `seed`, as `mmh3.hash(data, seed, signed=False)` in Python.
pub fn murmur3_x86_32(data: &[u8], seed: u32) -> u32 {
    let mut hasher = Murmur3::new(seed);
    hasher.update(data);
    hasher.finish()
}

/// `murmur3_x86_32(utf8("{flag_key}:{stickiness_value}"), seed)`, without allocating.
pub fn unit_hash(flag_key: &str, stickiness_value: &str, seed: u32) -> u32 {
    let mut hasher = Murmur3::new(seed);
    hasher.update(flag_key.as_bytes());
    hasher.update(b":");
    hasher.update(stickiness_value.as_bytes());
    hasher.finish()
}

/// The unit's bucket for this flag, in `0..10000`: `(h % 100) * 100 + (h / 100) % 100` (see the module docs
/// for why this agrees with Unleash at whole percentages and is monotonic).
pub fn bucket(flag_key: &str, stickiness_value: &str) -> u16 {
    bucket_of_hash(unit_hash(flag_key, stickiness_value, BUCKET_SEED))
}

/// The bucket for an already computed `h`.
pub fn bucket_of_hash(h: u32) -> u16 {
    // Both factors are below 100, so the result is below 10000 and fits.
    ((h % 100) * 100 + (h / 100) % 100) as u16
}

/// Whether the unit is in the rollout at `percent`: its bucket is below the percentage in basis points.
pub fn is_in(flag_key: &str, stickiness_value: &str, percent: Percent) -> bool {
    bucket(flag_key, stickiness_value) < percent.basis_points()
}

#[cfg(test)]
mod golden;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_matches_the_published_reference_vectors() {
        // From the SMHasher reference and its widely reproduced test lists; checked with Python mmh3 5.3.1.
        let cases: [(&[u8], u32, u32); 9] = [
            (b"", 0, 0),
            (b"", 1, 0x514e_28b7),
            (b"", 0xffff_ffff, 0x81f1_6f39),
            (b"\0\0\0\0", 0, 0x2362_f9de),
            (b"aaaa", 0x9747_b28c, 0x5a97_808a),
            (b"Hello, world!", 0x9747_b28c, 0x2488_4cba),
            (b"The quick brown fox jumps over the lazy dog", 0x9747_b28c, 0x2fa8_26cd),
            (b"hello", 0, 0x248b_fa47),
            (b"abc", 0, 0xb3dd_93fa),
        ];
        for (data, seed, expected) in cases {
            assert_eq!(murmur3_x86_32(data, seed), expected, "{:?} seed {seed:#x}", String::from_utf8_lossy(data));
        }
    }

    #[test]
    fn hashing_in_pieces_gives_the_same_hash_wherever_the_input_is_cut() {
        let data = "the quick brown fox: ünïcødé 日本 🎉".as_bytes();
        let whole = murmur3_x86_32(data, 42);
        for i in 0..=data.len() {
            for j in i..=data.len() {
                let mut hasher = Murmur3::new(42);
                hasher.update(&data[..i]);
                hasher.update(&data[i..j]);
                hasher.update(&data[j..]);
                assert_eq!(hasher.finish(), whole, "cut at {i} and {j}");
            }
        }
    }

    #[test]
    fn the_unit_hash_is_the_hash_of_key_colon_value() {
        assert_eq!(unit_hash("new-checkout", "cust-0001", 0), murmur3_x86_32(b"new-checkout:cust-0001", 0));
        assert_eq!(unit_hash("f", "", VARIANT_SEED), murmur3_x86_32(b"f:", VARIANT_SEED));
    }

    #[test]
    fn the_bucket_puts_unleash_normalized_value_in_the_leading_digits() {
        let h = 1_234_567_891_u32;
        // h % 100 = 91 (Unleash's normalizedId - 1), (h / 100) % 100 = 78.
        assert_eq!(bucket_of_hash(h), 9178);
        assert_eq!(bucket_of_hash(u32::MAX), 9572);
        assert_eq!(bucket_of_hash(0), 0);
    }

    #[test]
    fn at_every_whole_percentage_the_bucket_rule_is_unleash_gradual_rollout() {
        for i in 0..2_000_u32 {
            let h = unit_hash("flag", &format!("user-{i}"), BUCKET_SEED);
            let normalized = h % 100 + 1;
            for pct in 0..=100_u16 {
                let unleash = pct > 0 && normalized <= u32::from(pct);
                let ours = bucket_of_hash(h) < pct * 100;
                assert_eq!(ours, unleash, "h = {h}, pct = {pct}");
            }
        }
    }

    #[test]
    fn zero_percent_lets_nobody_in_and_100_everybody() {
        for id in ["", "a", "cust-1", "日本"] {
            assert!(!is_in("f", id, Percent::ZERO));
            assert!(is_in("f", id, Percent::HUNDRED));
        }
    }
}
