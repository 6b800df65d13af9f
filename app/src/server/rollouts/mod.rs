//! Staged rollouts: creating one, the buttons (start, advance, pause, resume, roll back, complete) and
//! sign-offs. The rules are the pure functions of `domain::rollout`; this module locks the rollout row,
//! loads what they take, calls them, and writes the rollout, its timeline event and the audit event in one
//! transaction, ending with the NOTIFY that makes every server's snapshot serve the change.
//!
//! Concurrency: every write locks the rollout row (`for update`) before reading it, so two requests on one
//! rollout run one after the other; each may carry the version its page showed (`expected_version`), and
//! a stale one is refused with 409 and the current version. Of two advances sent at once, the second
//! finds the version moved (or, without an expected version, the next stage's gates no longer met).

//!
//! The module is split the way the page is: [`create`] a rollout, press its buttons ([`transition`]),
//! [`edit`] it, [`sign`] it, and read it back (`read`); `store` holds the rows all of them share.

mod create;
mod edit;
mod read;
mod signoff;
mod store;
mod stuck;
mod transition;

pub use create::{create, create_in, NewRollout, PlanSource};
pub use edit::{edit, edit_in, RolloutEdit};
pub use read::{approvals_for, detail, for_flag, live_id, population};
pub use signoff::{sign, NewSignoff};
pub use store::record_system_event;
pub(crate) use store::{load_plan, load_plans, tidy_audience};
pub use stuck::stuck;
pub use transition::{transition, transition_with_notice, TransitionRequest};

use super::ServiceError;

fn refused(code: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::Refused { code, message: message.into() }
}
