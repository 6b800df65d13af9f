//! Editing a rollout's stages. Any valid plan may replace a planned rollout's; a running rollout's edit must
//! not change what is served, since only a transition may do that (with its gates and its event).

use super::plan::{stage_label, RolloutPlan, StageError};
use super::transition::{finished_words, RolloutState};

/// Checks that `new` may replace the stages of the rollout in `state`: the rollout is live, and if it has
/// started, the new plan still has its current stage, at the same percentage. Everything else may change
/// (names, later stages, sign-off roles, soaks, checklists); the edit bumps the version, which voids the
/// sign-offs given so far.
pub fn validate_edit(state: &RolloutState, new: &RolloutPlan) -> Result<(), StageError> {
    if !state.is_live() {
        return Err(StageError {
            position: None,
            field: "stages",
            message: format!("the rollout is {}; a finished rollout cannot be edited", finished_words(state.status)),
        });
    }
    let Some(current) = state.current_stage else { return Ok(()) };
    let served = state.served_percent();
    let label = state.stages.label(current);
    match new.stage(current) {
        None => Err(StageError {
            position: Some(current),
            field: "stages",
            message: format!("{label} is being served, so the edit cannot remove it; roll back first"),
        }),
        Some(stage) if stage.percent != served => Err(StageError {
            position: Some(current),
            field: "percentage",
            message: format!(
                "{}: the stage is being served, so its percentage cannot change from {served} to {}; \
                 advance or roll back instead",
                stage_label(current, &stage.name),
                stage.percent
            ),
        }),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::domain::rollout::RolloutStatus;

    fn with(edit: impl FnOnce(&mut Vec<crate::domain::rollout::StagePlan>)) -> RolloutPlan {
        let mut stages = five_stages().stages().to_vec();
        edit(&mut stages);
        RolloutPlan::new(stages).unwrap()
    }

    #[test]
    fn a_planned_rollout_takes_any_valid_plan() {
        let fewer = RolloutPlan::new(vec![stage("all at once", 10_000, &[], 0)]).unwrap();
        assert_eq!(validate_edit(&at(RolloutStatus::Planned, None), &fewer), Ok(()));
    }

    #[test]
    fn a_running_rollout_may_change_everything_but_what_it_serves() {
        let edited = with(|s| {
            s[2].name = "first customers".to_owned();
            s[3].percent = pct(2500);
            s[3].required_roles.clear();
            s[1].percent = pct(500);
        });
        assert_eq!(validate_edit(&at(RolloutStatus::Paused, Some(2)), &edited), Ok(()));
    }

    #[test]
    fn the_served_percentage_cannot_change_by_an_edit() {
        let edited = with(|s| s[2].percent = pct(2000));
        let err = validate_edit(&at(RolloutStatus::Active, Some(2)), &edited).unwrap_err();
        assert_eq!((err.position, err.field), (Some(2), "percentage"));
        assert_eq!(
            err.message,
            "stage 2 (\"early adopters\"): the stage is being served, so its percentage cannot change from 10% \
             to 20%; advance or roll back instead"
        );
    }

    #[test]
    fn the_current_stage_cannot_be_removed() {
        let shorter = RolloutPlan::new(vec![stage("a", 0, &[], 0), stage("b", 10_000, &[], 0)]).unwrap();
        let err = validate_edit(&at(RolloutStatus::Active, Some(3)), &shorter).unwrap_err();
        assert_eq!((err.position, err.field), (Some(3), "stages"));
        assert_eq!(err.message, "stage 3 (\"general\") is being served, so the edit cannot remove it; roll back first");
    }

    #[test]
    fn a_finished_rollout_cannot_be_edited() {
        let err = validate_edit(&at(RolloutStatus::RolledBack, None), &five_stages()).unwrap_err();
        assert_eq!(err.message, "the rollout is rolled back; a finished rollout cannot be edited");
    }
}
