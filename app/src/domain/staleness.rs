//! Flag hygiene: when a flag has outlived its purpose and should be cleaned up from the code and archived.

use super::FlagKind;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How long an archived flag's last evaluation counts as "still evaluated": an application that asked
/// within this window still has the flag in its code.
pub const STILL_EVALUATED_WITHIN_DAYS: i64 = 7;

/// After how many days without a change a flag of this kind is stale; `None`: never (kill switches and
/// permissions are meant to live for ever).
pub fn stale_after_days(kind: FlagKind) -> Option<i64> {
    match kind {
        FlagKind::Release | FlagKind::Experiment => Some(40),
        FlagKind::Operational => Some(7),
        FlagKind::KillSwitch | FlagKind::Permission => None,
    }
}

/// What staleness looks at, for one flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagActivity {
    pub kind: FlagKind,
    /// When the flag, one of its states or one of its rollouts last changed.
    pub last_changed_at: DateTime<Utc>,
    /// Whether it serves everyone everywhere: on in every environment with no rollout in progress.
    pub fully_rolled_out: bool,
    pub archived_at: Option<DateTime<Utc>>,
    pub last_evaluated_at: Option<DateTime<Utc>>,
}

/// Why a flag is stale.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum StaleReason {
    /// On for everyone, unchanged for `days` days: the code path can be made permanent.
    FullyRolledOut { days: i64 },
    /// Not changed for `days` days, longer than its kind allows.
    Untouched { days: i64 },
    /// Archived, yet an application asked for it at `last_evaluated_at`.
    ArchivedButEvaluated { last_evaluated_at: DateTime<Utc> },
}

impl std::fmt::Display for StaleReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::FullyRolledOut { days } => write!(f, "fully rolled out for {days} days"),
            Self::Untouched { days } => write!(f, "untouched for {days} days"),
            Self::ArchivedButEvaluated { last_evaluated_at } => {
                write!(f, "archived but still evaluated (last {})", last_evaluated_at.format("%Y-%m-%d %H:%M UTC"))
            }
        }
    }
}

/// Whether a flag is stale at `now`, and why.
pub fn staleness(activity: &FlagActivity, now: DateTime<Utc>) -> Option<StaleReason> {
    if let Some(archived_at) = activity.archived_at {
        // Any kind: an archived flag still asked for is a bug waiting in someone's code.
        return activity
            .last_evaluated_at
            .filter(|&at| at > archived_at && now - at <= Duration::days(STILL_EVALUATED_WITHIN_DAYS))
            .map(|last_evaluated_at| StaleReason::ArchivedButEvaluated { last_evaluated_at });
    }
    let limit = stale_after_days(activity.kind)?;
    let days = (now - activity.last_changed_at).num_days();
    if days < limit {
        return None;
    }
    Some(if activity.fully_rolled_out { StaleReason::FullyRolledOut { days } } else { StaleReason::Untouched { days } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
    }

    fn flag(kind: FlagKind, days_ago: i64) -> FlagActivity {
        FlagActivity {
            kind,
            last_changed_at: now() - Duration::days(days_ago),
            fully_rolled_out: false,
            archived_at: None,
            last_evaluated_at: None,
        }
    }

    #[test]
    fn a_release_flag_goes_stale_after_40_days_and_not_before() {
        assert_eq!(staleness(&flag(FlagKind::Release, 39), now()), None);
        assert_eq!(staleness(&flag(FlagKind::Release, 40), now()), Some(StaleReason::Untouched { days: 40 }));
        assert_eq!(staleness(&flag(FlagKind::Experiment, 41), now()), Some(StaleReason::Untouched { days: 41 }));
    }

    #[test]
    fn an_operational_flag_goes_stale_after_7_days() {
        assert_eq!(staleness(&flag(FlagKind::Operational, 6), now()), None);
        assert_eq!(staleness(&flag(FlagKind::Operational, 7), now()), Some(StaleReason::Untouched { days: 7 }));
    }

    #[test]
    fn kill_switches_and_permissions_never_go_stale() {
        for kind in [FlagKind::KillSwitch, FlagKind::Permission] {
            let mut old = flag(kind, 3650);
            old.fully_rolled_out = true;
            assert_eq!(staleness(&old, now()), None, "{kind}");
        }
    }

    #[test]
    fn a_flag_on_everywhere_is_reported_as_fully_rolled_out() {
        let mut done = flag(FlagKind::Release, 45);
        done.fully_rolled_out = true;
        assert_eq!(staleness(&done, now()), Some(StaleReason::FullyRolledOut { days: 45 }));
    }

    #[test]
    fn an_archived_flag_is_stale_only_while_it_is_still_evaluated() {
        let mut archived = flag(FlagKind::KillSwitch, 100);
        archived.archived_at = Some(now() - Duration::days(10));
        assert_eq!(staleness(&archived, now()), None, "never evaluated");
        archived.last_evaluated_at = Some(now() - Duration::days(11));
        assert_eq!(staleness(&archived, now()), None, "last evaluated before it was archived");
        let recent = now() - Duration::hours(3);
        archived.last_evaluated_at = Some(recent);
        assert_eq!(staleness(&archived, now()), Some(StaleReason::ArchivedButEvaluated { last_evaluated_at: recent }));
        archived.archived_at = Some(now() - Duration::days(30));
        archived.last_evaluated_at = Some(now() - Duration::days(8));
        assert_eq!(staleness(&archived, now()), None, "not asked for a week");
    }
}
