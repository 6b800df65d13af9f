//! Property tests: the invariants of the state machine and the gates, over generated plans, action
//! sequences and sign-offs.

use super::test_support::*;
use super::*;
use crate::domain::{Percent, SignoffRole};
use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;
use std::collections::HashSet;

/// A valid plan of 1 to 6 stages: rising percentages ending at 100%, any roles, soaks up to two hours
/// except on the last stage.
fn plan() -> impl Strategy<Value = RolloutPlan> {
    let raw_stage = (0..=Percent::MAX_BASIS_POINTS, prop::sample::subsequence(SignoffRole::ALL, 0..=4), 0u32..=120);
    prop::collection::vec(raw_stage, 1..=6).prop_map(|raw| {
        let mut percents: Vec<u16> = raw.iter().map(|(bp, _, _)| *bp).collect();
        percents.sort_unstable();
        let last = raw.len() - 1;
        percents[last] = Percent::MAX_BASIS_POINTS;
        let stages = raw
            .iter()
            .zip(&percents)
            .enumerate()
            .map(|(i, ((_, roles, soak), &bp))| stage(&format!("s{i}"), bp, roles, if i == last { 0 } else { *soak }))
            .collect();
        RolloutPlan::new(stages).unwrap()
    })
}

/// A plan and one of its stages.
fn plan_and_stage() -> impl Strategy<Value = (RolloutPlan, u32)> {
    plan().prop_flat_map(|plan| {
        let len = plan.len();
        (Just(plan), 0..len)
    })
}

/// A plan of two stages or more and one of its stages after the first.
fn plan_and_later_stage() -> impl Strategy<Value = (RolloutPlan, u32)> {
    plan().prop_filter("two stages or more", |plan| plan.len() >= 2).prop_flat_map(|plan| {
        let len = plan.len();
        (Just(plan), 1..len)
    })
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => Just(Action::Start),
        6 => Just(Action::Advance),
        2 => Just(Action::Pause),
        2 => Just(Action::Resume),
        1 => Just(Action::RollbackTo(None)),
        3 => (0u32..8).prop_map(|k| Action::RollbackTo(Some(k))),
        2 => Just(Action::Complete),
    ]
}

/// A duration as [`format_duration_short`] writes it, back in seconds.
fn parse_short(text: &str) -> i64 {
    let mut total = 0;
    let mut number = 0;
    for c in text.chars() {
        match c.to_digit(10) {
            Some(d) => number = number * 10 + i64::from(d),
            None => {
                total += number
                    * [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)]
                        .iter()
                        .find(|(u, _)| u.starts_with(c))
                        .unwrap()
                        .1;
                number = 0;
            }
        }
    }
    total
}

/// The most roles that distinct users can fill, by trying every assignment.
fn most_roles_filled(approvers: &[Vec<i64>], used: &mut Vec<i64>) -> usize {
    let Some((first, rest)) = approvers.split_first() else { return 0 };
    let mut best = most_roles_filled(rest, used);
    for &user in first {
        if !used.contains(&user) {
            used.push(user);
            best = best.max(1 + most_roles_filled(rest, used));
            used.pop();
        }
    }
    best
}

/// A rollout about to enter `target`: planned for stage 0, else active at the stage before, entered at t0.
fn before(plan: RolloutPlan, target: u32) -> RolloutState {
    match target {
        0 => RolloutState::planned(plan),
        _ => RolloutState {
            status: RolloutStatus::Active,
            current_stage: Some(target - 1),
            stage_entered_at: Some(t0()),
            version: 3,
            stages: plan,
        },
    }
}

/// The time at which the soak before `target` has just passed, plus `extra` seconds.
fn soaked(state: &RolloutState, extra: i64) -> DateTime<Utc> {
    let soak = state.current_stage.and_then(|c| state.stages.stage(c)).map_or(TimeDelta::zero(), StagePlan::min_soak);
    t0() + soak + TimeDelta::seconds(extra)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_sequence_of_actions_leads_to_a_state_the_table_would_refuse(
        plan in plan(),
        steps in prop::collection::vec((action(), 0i64..200), 1..40),
    ) {
        let mut state = RolloutState::planned(plan);
        let mut now = t0();
        // The highest percentage entered through a gated transition: nothing may ever serve more.
        let mut gated_high = Percent::ZERO;
        for (action, minutes_later) in steps {
            now += minutes(minutes_later);
            let result = apply(&state, action, now);
            if !state.is_live() {
                prop_assert!(result.is_err(), "a finished rollout took {action:?}");
                continue;
            }
            let Ok(t) = result else { continue };
            let next = t.next_state(&state);
            prop_assert_eq!(next.check(), Ok(()), "{:?} from {:?}", action, state);
            if next.status == RolloutStatus::Completed {
                prop_assert_eq!(next.current_stage, Some(state.stages.last_position()));
            }
            prop_assert_eq!((t.from_percent, t.to_percent), (state.served_percent(), next.served_percent()));
            prop_assert_eq!((t.from_version, t.version), (state.version, state.version + 1));
            prop_assert_eq!(t.needs_gates(), matches!(t.kind, TransitionKind::Started | TransitionKind::Advanced));
            if t.needs_gates() {
                prop_assert_eq!(t.gated_stage, t.to_stage);
                prop_assert_eq!(t.stage_entered_at, Some(now));
                let entered = state.stages.stage(t.to_stage.unwrap()).unwrap().percent;
                prop_assert_eq!(t.to_percent, entered);
                gated_high = gated_high.max(entered);
            } else {
                prop_assert!(t.to_percent <= t.from_percent, "{:?} raised {} to {}", action, t.from_percent, t.to_percent);
            }
            prop_assert!(next.served_percent() <= gated_high, "serving {} past the gates' {}", next.served_percent(), gated_high);
            state = next;
        }
    }

    #[test]
    fn advance_goes_from_stage_i_to_i_plus_1_and_only_from_an_active_rollout(
        plan in plan(),
        steps in prop::collection::vec(action(), 0..20),
    ) {
        // Walk somewhere first, then try an advance.
        let mut state = RolloutState::planned(plan);
        for action in steps {
            if let Ok(t) = apply(&state, action, t0()) {
                state = t.next_state(&state);
            }
        }
        let result = apply(&state, Action::Advance, t0());
        match (state.status, state.current_stage) {
            (RolloutStatus::Active, Some(i)) if i < state.stages.last_position() => {
                let t = result.unwrap();
                prop_assert_eq!((t.from_stage, t.to_stage, t.to_status), (Some(i), Some(i + 1), RolloutStatus::Active));
            }
            _ => prop_assert!(result.is_err()),
        }
    }

    #[test]
    fn rollback_to_a_stage_goes_there_exactly_when_it_is_earlier(plan in plan(), current in 0u32..6, to in 0u32..8) {
        prop_assume!(current < plan.len());
        let state = RolloutState { current_stage: Some(current), ..at(RolloutStatus::Active, Some(0)) };
        let state = RolloutState { stages: plan, ..state };
        match apply(&state, Action::RollbackTo(Some(to)), t0()) {
            Ok(t) => {
                prop_assert!(to < current);
                prop_assert_eq!((t.to_stage, t.to_status), (Some(to), RolloutStatus::Active));
            }
            Err(_) => prop_assert!(to >= current),
        }
    }

    #[test]
    fn distinct_approvals_and_a_passed_soak_open_the_gate_and_removing_one_names_its_role(
        (plan, target) in plan_and_stage(),
        ids in prop::collection::hash_set(2i64..1000, 4),
        extra in 0i64..100_000,
    ) {
        let state = before(plan, target);
        let roles = state.stages.stage(target).unwrap().required_roles.clone();
        let requester = 1;
        let approvals: Vec<SignoffRecord> = roles
            .iter()
            .zip(&ids)
            .map(|(&role, &user)| signed(target, state.version, role, user, SignoffDecision::Approved))
            .collect();
        // Noise that must not count: the requester's own approvals, a non-holder's, another version's and
        // another stage's.
        let noise: Vec<SignoffRecord> = roles
            .iter()
            .flat_map(|&role| {
                [
                    signed(target, state.version, role, requester, SignoffDecision::Approved),
                    SignoffRecord { signer_holds_role: false, ..signed(target, state.version, role, 9999, SignoffDecision::Approved) },
                    signed(target, state.version - 1, role, 9998, SignoffDecision::Approved),
                    signed(target + 1, state.version, role, 9997, SignoffDecision::Approved),
                ]
            })
            .collect();
        let now = soaked(&state, extra);
        let gates = |signoffs: &[SignoffRecord]| {
            check_gates(GateInput { state: &state, target_stage: target, now, signoffs, requester: Some(requester), unfinished_prerequisites: &[], guardrail_blockers: &[] })
        };
        let all: Vec<SignoffRecord> = approvals.iter().chain(&noise).cloned().collect();
        let report = gates(&all);
        prop_assert!(report.is_clear(), "{}", report.message());

        for removed in 0..approvals.len() {
            let role = approvals[removed].role;
            let fewer: Vec<SignoffRecord> =
                approvals.iter().enumerate().filter(|(i, _)| *i != removed).map(|(_, s)| s.clone()).chain(noise.clone()).collect();
            let report = gates(&fewer);
            prop_assert_eq!(report.unsigned_roles(), vec![role]);
            prop_assert_eq!(report.message(), format!("missing sign-off: {role}"));
        }
    }

    #[test]
    fn a_soak_not_yet_over_is_reported_with_the_time_left(
        (plan, target) in plan_and_later_stage(),
        soak_minutes in 1u32..=24 * 60,
        early in any::<prop::sample::Index>(),
    ) {
        // Give the stage being left a soak, and look at it some time before the soak is over.
        let mut stages = plan.stages().to_vec();
        stages[target as usize - 1].min_soak_seconds = soak_minutes * 60;
        let state = before(RolloutPlan::new(stages).unwrap(), target);
        let soak = i64::from(soak_minutes) * 60;
        let early = 1 + early.index(soak as usize) as i64;
        let report = check_gates(GateInput {
            state: &state,
            target_stage: target,
            now: soaked(&state, -early),
            signoffs: &[],
            requester: None,
            unfinished_prerequisites: &[],
            guardrail_blockers: &[],
        });
        let soak_gates: Vec<Gate> =
            report.missing.iter().filter(|g| matches!(g, Gate::Soak { .. })).cloned().collect();
        let expected_gate = Gate::Soak { remaining_seconds: early, ends_at: t0() + TimeDelta::seconds(soak) };
        prop_assert_eq!(soak_gates, vec![expected_gate]);
        let expected = format!("soak ends in {}", format_duration_short(TimeDelta::seconds(early)));
        prop_assert!(report.message().contains(&expected), "{}", report.message());
    }

    #[test]
    fn roles_are_filled_by_as_many_distinct_users_as_can_fill_them(
        (plan, target) in plan_and_stage(),
        approvals in prop::collection::vec((prop::sample::select(SignoffRole::ALL), 1i64..=4), 0..10),
    ) {
        let state = before(plan, target);
        let roles = state.stages.stage(target).unwrap().required_roles.clone();
        let signoffs: Vec<SignoffRecord> = approvals
            .iter()
            .map(|&(role, user)| signed(target, state.version, role, user, SignoffDecision::Approved))
            .collect();
        let report = check_gates(GateInput {
            state: &state, target_stage: target, now: soaked(&state, 0), signoffs: &signoffs, requester: None,
            unfinished_prerequisites: &[],
            guardrail_blockers: &[],
        });
        let approvers: Vec<Vec<i64>> = roles
            .iter()
            .map(|r| approvals.iter().filter(|(role, _)| role == r).map(|&(_, u)| u).collect::<HashSet<_>>().into_iter().collect())
            .collect();
        let filled = roles.len() - report.unsigned_roles().len();
        prop_assert_eq!(filled, most_roles_filled(&approvers, &mut Vec::new()));
        let users: HashSet<i64> = approvals.iter().map(|&(_, u)| u).collect();
        prop_assert!(filled <= users.len(), "{} roles filled by {} users", filled, users.len());
    }

    #[test]
    fn a_lowered_percentage_is_refused_naming_its_stage(plan in plan(), lowered in 1usize..6) {
        prop_assume!(lowered < plan.stages().len() && plan.stages()[lowered - 1].percent > Percent::ZERO);
        let mut stages = plan.stages().to_vec();
        let previous = stages[lowered - 1].percent;
        stages[lowered].percent = Percent::from_basis_points(previous.basis_points() - 1).unwrap();
        let err = validate_stages(&stages).unwrap_err();
        prop_assert_eq!((err.position, err.field), (Some(lowered as u32), "percentage"));
        let expected = format!(
            "stage {lowered} (\"s{lowered}\"): percentage {} is below the previous stage's {previous}",
            stages[lowered].percent
        );
        prop_assert_eq!(err.message, expected);
    }

    #[test]
    fn a_short_duration_is_the_real_one_cut_down_to_its_smaller_unit(seconds in 0i64..100 * 86_400) {
        let text = format_duration_short(TimeDelta::seconds(seconds));
        let shown = parse_short(&text);
        let unit = if seconds >= 86_400 { 3600 } else if seconds >= 3600 { 60 } else { 1 };
        prop_assert!(shown <= seconds && seconds - shown < unit, "{seconds}s shown as {text}");
    }
}
