//! Every request gets an id, answered in `x-request-id` and carried by the request's span, so a person
//! reporting a failed request and the server's log line can be matched. An id sent by a proxy in front
//! (`x-request-id`) is kept.

use axum::http::{HeaderValue, Request};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tower_http::request_id::{MakeRequestId, RequestId};

/// `<process>-<n>`: a random prefix drawn once per process and a counter, so ids differ across replicas
/// and restarts without a random draw on the evaluation path.
#[derive(Debug, Clone)]
pub struct RequestIds {
    process: Arc<str>,
    next: Arc<AtomicU64>,
}

impl Default for RequestIds {
    fn default() -> Self {
        Self { process: format!("{:08x}", rand::random::<u32>()).into(), next: Arc::new(AtomicU64::new(1)) }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n:x}", self.process)).ok().map(RequestId::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_one_process_share_a_prefix_and_never_repeat() {
        let mut ids = RequestIds::default();
        let request = Request::new(());
        let mut make = || {
            let id = ids.make_request_id(&request).map(|id| id.header_value().to_str().map(str::to_owned));
            id.and_then(Result::ok).unwrap_or_default()
        };
        let (first, second) = (make(), make());
        assert_ne!(first, second);
        assert_eq!(first.split_once('-').map(|p| p.0), second.split_once('-').map(|p| p.0));
        assert_eq!(first.split_once('-').map(|p| p.0.len()), Some(8));
    }
}
