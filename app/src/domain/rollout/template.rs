//! The three plans from our users' rollout documents, as ready-made stages.
//!
//! Sign-offs grow with exposure and stay off the stages where nobody new is exposed, so that the plans are
//! gated where our users' documents gate them and nowhere else:
//!
//! - **Five tiers** (0 / 1 / 10 / 50 / 100): no sign-off to reach 0% (nothing changes but the allow-list)
//!   or 1% (the team's own first look); the product owner before early adopters, the first customers to
//!   notice; the product owner and the ops on-call before half the traffic; all three roles before 100%.
//!   The documents give these tiers no soak, so none is set; each stage can be given one.
//! - **Canary** (10 / 50 / 100, soaks of 30 and 60 minutes): the ops on-call signs the start, since they
//!   watch the figures; after that the soaks and the guardrails decide, so the canary can
//!   advance by itself.
//! - **Two steps** (5 / 100): a 24-hour soak at 5%, then the dev lead, the ops on-call and the product owner
//!   before 100%: "do not proceed until all three are checked".
//!
//! Every stage's checklist ends with the backout command, which rolls the flag back to 0% through the admin
//! API (`rollgate rollback`), audited under the token's owner.

use super::plan::{ChecklistItem, StagePlan};
use crate::domain::{text_enum, EnvKey, FlagKey, Percent, SignoffRole};

text_enum!(
    /// A ready-made plan; stored in `rollouts.template` by its key.
    Template, "template", {
        FiveTier => "five_tier",
        Canary => "canary",
        TwoStep => "two_step",
    }
);

impl Template {
    /// The key stored and accepted by the API, e.g. `five_tier`.
    pub fn key(self) -> &'static str {
        self.as_str()
    }

    /// The name shown in the template picker.
    pub fn label(self) -> &'static str {
        match self {
            Template::FiveTier => "Five tiers",
            Template::Canary => "Canary",
            Template::TwoStep => "Two steps",
        }
    }

    /// One sentence on what the plan does, for the template picker.
    pub fn description(self) -> &'static str {
        match self {
            Template::FiveTier => {
                "0% (allow-list only), 1% internal, 10% early adopters, 50% general, 100% full; \
                 sign-offs grow with exposure, up to all three roles before 100%."
            }
            Template::Canary => {
                "10% for at least 30 minutes, 50% for at least 60 minutes, then 100%; \
                 the ops on-call signs the start."
            }
            Template::TwoStep => {
                "5% for at least 24 hours, then 100% once the dev lead, the ops on-call and the product owner \
                 have all signed off."
            }
        }
    }

    /// The template's stages for one flag in one environment, the backout commands filled in. They go
    /// through [`super::RolloutPlan::new`] like custom stages, and can be edited like them.
    pub fn stages(self, flag: &FlagKey, environment: &EnvKey) -> Vec<StagePlan> {
        let (flag, environment) = (flag.as_str(), environment.as_str());
        let backout = ChecklistItem::backout(format!(
            "rollgate rollback --partial {flag} --env {environment} --reason \"<what went wrong>\""
        ));
        let figures = ChecklistItem::verify(
            "Treatment against control on the rollout page: error rate below 1%, p99 below 500 ms, \
             error rate no more than 5 points over the baseline, p95 no more than 15% over it",
        );
        let logs = ChecklistItem::verify(format!("No new errors mentioning {flag} in the {environment} logs"));
        let verify = ChecklistItem::verify(format!("rollgate verify reports no FAIL for {environment}"));
        let stage =
            |name: &str, percent: Percent, roles: &[SignoffRole], soak_minutes: u32, checks: &[&ChecklistItem]| {
                StagePlan {
                    name: name.to_owned(),
                    percent,
                    required_roles: roles.to_vec(),
                    min_soak_seconds: soak_minutes * 60,
                    checklist: checks.iter().map(|&c| c.clone()).chain([backout.clone()]).collect(),
                }
            };
        let allow_list = ChecklistItem::verify(format!(
            "{flag} is on for an allow-listed customer and off for one outside the allow-list"
        ));
        let support = ChecklistItem::verify("Support knows which customers now see the change");
        use SignoffRole::{DevLead, OpsOncall, ProductOwner};
        match self {
            Template::FiveTier => vec![
                stage("disabled", Percent::ZERO, &[], 0, &[&allow_list, &verify]),
                stage("internal", percent(1), &[], 0, &[&figures, &logs]),
                stage("early adopters", percent(10), &[ProductOwner], 0, &[&figures, &logs, &support]),
                stage("general", percent(50), &[OpsOncall, ProductOwner], 0, &[&figures, &logs, &verify]),
                stage("full", Percent::HUNDRED, &[DevLead, OpsOncall, ProductOwner], 0, &[&figures, &verify]),
            ],
            Template::Canary => vec![
                stage("canary", percent(10), &[OpsOncall], 30, &[&figures, &logs]),
                stage("half", percent(50), &[], 60, &[&figures, &logs]),
                stage("full", Percent::HUNDRED, &[], 0, &[&figures, &verify]),
            ],
            Template::TwoStep => vec![
                stage("pilot", percent(5), &[], 24 * 60, &[&figures, &logs, &support]),
                stage("full", Percent::HUNDRED, &[DevLead, OpsOncall, ProductOwner], 0, &[&figures, &verify]),
            ],
        }
    }
}

/// A whole percentage. Every caller passes a constant from 0 to 100, so the fallback is never taken; the
/// tests pin every template's figures all the same.
fn percent(whole: u16) -> Percent {
    Percent::from_basis_points(whole.saturating_mul(100)).unwrap_or(Percent::ZERO)
}

#[cfg(test)]
mod tests {
    use super::super::RolloutPlan;
    use super::*;
    use crate::domain::rollout::ChecklistKind;

    fn plan(template: Template) -> RolloutPlan {
        let flag = FlagKey::parse("checkout.v2").unwrap();
        let env = EnvKey::parse("production").unwrap();
        RolloutPlan::new(template.stages(&flag, &env)).unwrap()
    }

    fn summary(plan: &RolloutPlan) -> Vec<(String, u16, Vec<SignoffRole>, u32)> {
        plan.stages()
            .iter()
            .map(|s| (s.name.clone(), s.percent.basis_points(), s.required_roles.clone(), s.min_soak_seconds))
            .collect()
    }

    #[test]
    fn five_tiers_go_0_1_10_50_100_with_sign_offs_growing_with_exposure() {
        use SignoffRole::*;
        assert_eq!(
            summary(&plan(Template::FiveTier)),
            vec![
                ("disabled".to_owned(), 0, vec![], 0),
                ("internal".to_owned(), 100, vec![], 0),
                ("early adopters".to_owned(), 1000, vec![ProductOwner], 0),
                ("general".to_owned(), 5000, vec![OpsOncall, ProductOwner], 0),
                ("full".to_owned(), 10_000, vec![DevLead, OpsOncall, ProductOwner], 0),
            ]
        );
    }

    #[test]
    fn the_canary_soaks_30_minutes_at_10_percent_and_60_at_50() {
        assert_eq!(
            summary(&plan(Template::Canary)),
            vec![
                ("canary".to_owned(), 1000, vec![SignoffRole::OpsOncall], 1800),
                ("half".to_owned(), 5000, vec![], 3600),
                ("full".to_owned(), 10_000, vec![], 0),
            ]
        );
    }

    #[test]
    fn two_steps_soak_a_day_at_5_percent_and_need_three_sign_offs_for_100() {
        use SignoffRole::*;
        assert_eq!(
            summary(&plan(Template::TwoStep)),
            vec![
                ("pilot".to_owned(), 500, vec![], 86_400),
                ("full".to_owned(), 10_000, vec![DevLead, OpsOncall, ProductOwner], 0),
            ]
        );
    }

    #[test]
    fn every_stage_of_every_template_ends_with_the_backout_command_for_its_flag() {
        for &template in Template::ALL {
            for stage in plan(template).stages() {
                let kinds: Vec<ChecklistKind> = stage.checklist.iter().map(|c| c.kind).collect();
                assert!(kinds.contains(&ChecklistKind::Verify), "{template} {}: no verification", stage.name);
                let last = stage.checklist.last().unwrap();
                assert_eq!(last.kind, ChecklistKind::Backout, "{template} {}", stage.name);
                assert!(
                    last.text.starts_with("rollgate rollback --partial checkout.v2 --env production --reason"),
                    "{}",
                    last.text
                );
            }
        }
    }

    #[test]
    fn templates_parse_from_their_keys_and_describe_themselves() {
        for &template in Template::ALL {
            assert_eq!(template.key().parse::<Template>(), Ok(template));
            assert!(!template.label().is_empty() && !template.description().is_empty());
            // `rollouts.template` accepts ^[a-z0-9_-]{1,50}$.
            assert!(template.key().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
        assert!("pilot".parse::<Template>().unwrap_err().message.contains("five_tier, canary, two_step"));
    }
}
