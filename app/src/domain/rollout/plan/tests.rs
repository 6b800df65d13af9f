//! The rules of a plan, one at a time, and how it reads from JSON.

use super::*;

fn pct(basis_points: u16) -> Percent {
    Percent::from_basis_points(basis_points).unwrap()
}

fn stages(percents: &[(&str, u16)]) -> Vec<StagePlan> {
    percents.iter().map(|&(name, bp)| StagePlan::new(name, pct(bp))).collect()
}

fn error(stages: &[StagePlan]) -> StageError {
    validate_stages(stages).unwrap_err()
}

#[test]
fn a_plan_ending_at_100_percent_with_rising_percentages_is_valid() {
    let plan = stages(&[("disabled", 0), ("internal", 100), ("same again", 100), ("full", 10_000)]);
    assert_eq!(validate_stages(&plan), Ok(()));
    assert_eq!(validate_stages(&stages(&[("everybody", 10_000)])), Ok(()));
}

#[test]
fn a_plan_needs_one_to_twenty_stages() {
    let none = error(&[]);
    assert_eq!((none.position, none.field), (None, "stages"));
    assert_eq!(none.message, "a rollout needs at least one stage");
    let mut many: Vec<StagePlan> = (0..21).map(|i| StagePlan::new(format!("s{i}"), pct(0))).collect();
    many[20].percent = Percent::HUNDRED;
    assert_eq!(error(&many).message, "a rollout has at most 20 stages; this one has 21");
    many.pop();
    many[19].percent = Percent::HUNDRED;
    assert_eq!(validate_stages(&many), Ok(()));
}

#[test]
fn a_decreasing_percentage_is_refused_naming_the_stage_and_both_figures() {
    let err = error(&stages(&[("one", 100), ("early", 5000), ("general", 4000), ("full", 10_000)]));
    assert_eq!((err.position, err.field), (Some(2), "percentage"));
    assert_eq!(err.message, "stage 2 (\"general\"): percentage 40% is below the previous stage's 50%");
}

#[test]
fn the_last_stage_must_be_100_percent() {
    let err = error(&stages(&[("canary", 1000), ("most", 9050)]));
    assert_eq!((err.position, err.field), (Some(1), "percentage"));
    assert_eq!(
        err.message,
        "stage 1 (\"most\"): the last stage must be 100%, not 90.5%, because completing a rollout serves everybody"
    );
}

#[test]
fn names_are_required_short_and_unique_ignoring_case_and_spaces() {
    let blank = error(&stages(&[("  ", 10_000)]));
    assert_eq!(
        (blank.position, blank.field, blank.message.as_str()),
        (Some(0), "name", "stage 0: the name is required")
    );
    let long = "x".repeat(101);
    let err = error(&stages(&[(&long, 10_000)]));
    assert!(err.message.ends_with("the name is 101 characters long; the limit is 100"), "{}", err.message);
    assert_eq!(validate_stages(&stages(&[(&"é".repeat(100), 10_000)])), Ok(()), "characters, not bytes");
    let err = error(&stages(&[("Canary", 1000), ("full", 5000), (" canary ", 10_000)]));
    assert_eq!((err.position, err.field), (Some(2), "name"));
    assert_eq!(err.message, "stage 2 (\"canary\"): the name is already used by stage 0");
}

#[test]
fn a_role_listed_twice_is_refused() {
    let mut plan = stages(&[("full", 10_000)]);
    plan[0].required_roles = vec![SignoffRole::Qa, SignoffRole::DevLead, SignoffRole::Qa];
    let err = error(&plan);
    assert_eq!((err.position, err.field), (Some(0), "required_roles"));
    assert_eq!(err.message, "stage 0 (\"full\"): the sign-off role qa is listed twice");
}

#[test]
fn soaks_are_capped_and_the_last_stage_has_none() {
    let mut plan = stages(&[("canary", 1000), ("full", 10_000)]);
    plan[0].min_soak_seconds = MAX_SOAK_SECONDS;
    assert_eq!(validate_stages(&plan), Ok(()));
    plan[0].min_soak_seconds = MAX_SOAK_SECONDS + 1;
    let err = error(&plan);
    assert_eq!((err.position, err.field), (Some(0), "min_soak"));
    assert_eq!(err.message, "stage 0 (\"canary\"): the soak is longer than the limit of 30d");
    plan[0].min_soak_seconds = 60;
    plan[1].min_soak_seconds = 60;
    let err = error(&plan);
    assert_eq!((err.position, err.field), (Some(1), "min_soak"));
    assert!(err.message.contains("the last stage has no next stage to wait for"), "{}", err.message);
}

#[test]
fn checklist_lines_must_be_present_and_short() {
    let mut plan = stages(&[("full", 10_000)]);
    plan[0].checklist = vec![ChecklistItem::verify("dashboards green"), ChecklistItem::backout("  ")];
    let err = error(&plan);
    assert_eq!((err.position, err.field), (Some(0), "checklist"));
    assert_eq!(err.message, "stage 0 (\"full\"): checklist item 2 is empty");
    plan[0].checklist = vec![ChecklistItem::verify("x".repeat(1001))];
    assert!(error(&plan).message.ends_with("checklist item 1 is 1001 characters long; the limit is 1000"));
    plan[0].checklist = vec![ChecklistItem::verify("ok"); 21];
    assert!(error(&plan).message.ends_with("the checklist has 21 items; the limit is 20"));
}

#[test]
fn a_plan_is_tidied_when_built() {
    let mut raw = stages(&[("  full  ", 10_000)]);
    raw[0].required_roles = vec![SignoffRole::Qa, SignoffRole::DevLead];
    raw[0].checklist = vec![ChecklistItem::backout("  rollgate rollback  ")];
    let plan = RolloutPlan::new(raw).unwrap();
    let stage = &plan.stages()[0];
    assert_eq!(stage.name, "full");
    assert_eq!(stage.required_roles, vec![SignoffRole::DevLead, SignoffRole::Qa]);
    assert_eq!(stage.checklist[0].text, "rollgate rollback");
    assert_eq!((plan.len(), plan.last_position()), (1, 0));
    assert_eq!(plan.label(0), "stage 0 (\"full\")");
    assert_eq!(plan.label(5), "stage 5");
}

#[test]
fn plans_read_from_json_are_validated_and_checklists_use_the_stored_shape() {
    let json = r#"[{"name": "canary", "percent": 10, "min_soak_seconds": 1800,
                    "checklist": [{"kind": "verify", "text": "error rate < 1%"}]},
                   {"name": "full", "percent": "100%", "required_roles": ["qa"]}]"#;
    let plan: RolloutPlan = serde_json::from_str(json).unwrap();
    assert_eq!(plan.stages()[0].percent, pct(1000));
    assert_eq!(plan.stages()[0].checklist, vec![ChecklistItem::verify("error rate < 1%")]);
    assert_eq!(plan.stages()[1].required_roles, vec![SignoffRole::Qa]);
    let checklist = serde_json::to_value(&plan.stages()[0].checklist).unwrap();
    assert_eq!(checklist, serde_json::json!([{"kind": "verify", "text": "error rate < 1%"}]));
    let falling = r#"[{"name": "a", "percent": 50}, {"name": "b", "percent": 40}]"#;
    let err = serde_json::from_str::<RolloutPlan>(falling).unwrap_err().to_string();
    assert!(err.contains("percentage 40% is below the previous stage's 50%"), "{err}");
}
