//! One test per rule of [`evaluate`], in the order the rules apply, then the types around it.

use super::*;
use crate::domain::bucketing::bucket;
use crate::domain::variant::Variant;
use serde_json::json;

pub(super) fn flag(key: &str) -> FlagConfig {
    FlagConfig::boolean(FlagKey::parse(key).unwrap(), 7)
}

pub(super) fn customer(id: &str) -> EvalContext {
    EvalContext { customer_id: Some(id.to_owned()), ..EvalContext::default() }
}

pub(super) fn member(customer_id: &str, organization_id: &str) -> EvalContext {
    EvalContext {
        customer_id: Some(customer_id.to_owned()),
        organization_id: Some(organization_id.to_owned()),
        ..EvalContext::default()
    }
}

pub(super) fn rollout(status: RolloutStatus, basis_points: u16) -> RolloutConfig {
    RolloutConfig {
        status,
        percent: Percent::from_basis_points(basis_points).unwrap(),
        stickiness: Stickiness::CustomerId,
        allow_customers: HashSet::new(),
        allow_organizations: HashSet::new(),
        audience: None,
    }
}

fn on_env(rollout: Option<RolloutConfig>) -> EnvConfig {
    EnvConfig { rollout, ..EnvConfig::new(true, json!(false)) }
}

fn eval<'a>(flag: &'a FlagConfig, env: &'a EnvConfig, ctx: &EvalContext) -> (Value, Option<String>, Reason) {
    let answer = evaluate(Some((flag, env)), ctx, &NoFlags).unwrap();
    (answer.value.clone(), answer.variant.map(str::to_owned), answer.reason)
}

/// A customer id whose bucket for `flag_key` satisfies `wanted`.
fn id_where(flag_key: &str, wanted: impl Fn(u16) -> bool) -> String {
    (0..).map(|i| format!("cust-{i}")).find(|id| wanted(bucket(flag_key, id))).unwrap()
}

#[test]
fn an_unknown_flag_is_not_found() {
    assert_eq!(evaluate(None, &customer("c"), &NoFlags), Err(EvalError::FlagNotFound));
    assert_eq!(EvalError::FlagNotFound.code(), "FLAG_NOT_FOUND");
}

#[test]
fn an_archived_flag_is_not_found_whatever_its_state() {
    let flag = FlagConfig { archived: true, ..flag("old") };
    let mut env = on_env(Some(rollout(RolloutStatus::Completed, 10_000)));
    env.customer_overrides.insert("c".to_owned(), json!(true));
    assert_eq!(evaluate(Some((&flag, &env)), &customer("c"), &NoFlags), Err(EvalError::FlagNotFound));
}

#[test]
fn a_disabled_environment_serves_the_off_value_before_any_override_or_rollout() {
    let flag = flag("killed");
    let mut allow = rollout(RolloutStatus::Active, 10_000);
    allow.allow_customers.insert("c".to_owned());
    let mut env = EnvConfig { enabled: false, ..on_env(Some(allow)) };
    env.customer_overrides.insert("c".to_owned(), json!(true));
    env.organization_overrides.insert("o".to_owned(), json!(true));
    assert_eq!(eval(&flag, &env, &member("c", "o")), (json!(false), None, Reason::Disabled));
}

#[test]
fn a_customer_override_wins_over_the_organization_override() {
    let flag = flag("f");
    let mut env = on_env(None);
    env.customer_overrides.insert("c".to_owned(), json!("for the customer"));
    env.organization_overrides.insert("o".to_owned(), json!("for the organization"));
    assert_eq!(eval(&flag, &env, &member("c", "o")), (json!("for the customer"), None, Reason::TargetingMatch));
    assert_eq!(eval(&flag, &env, &member("other", "o")), (json!("for the organization"), None, Reason::TargetingMatch));
}

#[test]
fn an_override_wins_over_the_allow_list_and_the_rollout() {
    let flag = flag("f");
    let mut allow = rollout(RolloutStatus::Active, 10_000);
    allow.allow_customers.insert("c".to_owned());
    let mut env = on_env(Some(allow));
    env.customer_overrides.insert("c".to_owned(), json!(false));
    env.organization_overrides.insert("o".to_owned(), json!(false));
    assert_eq!(eval(&flag, &env, &customer("c")), (json!(false), None, Reason::TargetingMatch));
    assert_eq!(eval(&flag, &env, &member("x", "o")), (json!(false), None, Reason::TargetingMatch));
}

#[test]
fn the_allow_list_lets_a_customer_or_organization_in_even_at_zero_percent() {
    let flag = flag("f");
    let mut allow = rollout(RolloutStatus::Active, 0);
    allow.allow_customers.insert("vip".to_owned());
    allow.allow_organizations.insert("internal".to_owned());
    let env = on_env(Some(allow));
    assert_eq!(eval(&flag, &env, &customer("vip")), (json!(true), None, Reason::TargetingMatch));
    assert_eq!(eval(&flag, &env, &member("anyone", "internal")), (json!(true), None, Reason::TargetingMatch));
    assert_eq!(eval(&flag, &env, &member("anyone", "elsewhere")), (json!(false), None, Reason::Split));
}

#[test]
fn the_allow_list_holds_while_paused_and_not_once_planned_or_rolled_back() {
    let flag = flag("f");
    for (status, expected) in [
        (RolloutStatus::Paused, (json!(true), None, Reason::TargetingMatch)),
        (RolloutStatus::Planned, (json!(false), None, Reason::Static)),
        (RolloutStatus::RolledBack, (json!(false), None, Reason::Split)),
    ] {
        let mut allow = rollout(status, 0);
        allow.allow_customers.insert("vip".to_owned());
        assert_eq!(eval(&flag, &on_env(Some(allow)), &customer("vip")), expected, "{status}");
    }
}

#[test]
fn an_active_rollout_lets_in_exactly_the_customers_whose_bucket_is_below_the_percentage() {
    let flag = flag("checkout");
    let env = on_env(Some(rollout(RolloutStatus::Active, 1234)));
    let just_in = id_where("checkout", |b| b == 1233 || (1200..1233).contains(&b));
    let just_out = id_where("checkout", |b| (1234..1300).contains(&b));
    assert_eq!(eval(&flag, &env, &customer(&just_in)), (json!(true), None, Reason::Split));
    assert_eq!(eval(&flag, &env, &customer(&just_out)), (json!(false), None, Reason::Split));
}

#[test]
fn a_paused_rollout_keeps_serving_its_current_percentage() {
    let flag = flag("f");
    let inside = id_where("f", |b| b < 5000);
    let outside = id_where("f", |b| b >= 5000);
    let env = on_env(Some(rollout(RolloutStatus::Paused, 5000)));
    assert_eq!(eval(&flag, &env, &customer(&inside)).0, json!(true));
    assert_eq!(eval(&flag, &env, &customer(&outside)).0, json!(false));
}

#[test]
fn a_completed_rollout_serves_everybody_and_a_rolled_back_one_nobody_whatever_the_stage_percentage() {
    let flag = flag("f");
    let completed = on_env(Some(rollout(RolloutStatus::Completed, 100)));
    let rolled_back = on_env(Some(rollout(RolloutStatus::RolledBack, 9_000)));
    for i in 0..200 {
        let ctx = customer(&format!("c{i}"));
        assert_eq!(eval(&flag, &completed, &ctx), (json!(true), None, Reason::Split));
        assert_eq!(eval(&flag, &rolled_back, &ctx), (json!(false), None, Reason::Split));
    }
}

#[test]
fn without_a_stickiness_value_a_unit_is_out_below_100_percent_and_in_at_100() {
    let flag = flag("f");
    let anonymous = EvalContext::default();
    let empty_id = customer("");
    for ctx in [&anonymous, &empty_id] {
        let at_99_99 = on_env(Some(rollout(RolloutStatus::Active, 9_999)));
        assert_eq!(eval(&flag, &at_99_99, ctx), (json!(false), None, Reason::Split));
        let at_100 = on_env(Some(rollout(RolloutStatus::Active, 10_000)));
        assert_eq!(eval(&flag, &at_100, ctx), (json!(true), None, Reason::Split));
    }
}

#[test]
fn organization_stickiness_puts_a_whole_organization_in_or_out_together() {
    let flag = flag("org-flag");
    let mut by_org = rollout(RolloutStatus::Active, 5000);
    by_org.stickiness = Stickiness::OrganizationId;
    let env = on_env(Some(by_org));
    let org_in = id_where("org-flag", |b| b < 5000);
    let org_out = id_where("org-flag", |b| b >= 5000);
    for i in 0..50 {
        assert_eq!(eval(&flag, &env, &member(&format!("c{i}"), &org_in)).0, json!(true));
        assert_eq!(eval(&flag, &env, &member(&format!("c{i}"), &org_out)).0, json!(false));
    }
}

#[test]
fn attribute_stickiness_buckets_by_the_named_attribute() {
    let flag = flag("f");
    let mut by_region = rollout(RolloutStatus::Active, 5000);
    by_region.stickiness = Stickiness::Attribute("region".to_owned());
    let env = on_env(Some(by_region));
    let region_in = id_where("f", |b| b < 5000);
    let ctx = |region: Option<&str>| EvalContext {
        customer_id: Some(id_where("f", |b| b >= 5000)),
        attributes: region.map(|r| ("region".to_owned(), r.to_owned())).into_iter().collect(),
        ..EvalContext::default()
    };
    assert_eq!(eval(&flag, &env, &ctx(Some(&region_in))).0, json!(true));
    assert_eq!(eval(&flag, &env, &ctx(None)).0, json!(false), "no attribute: out, whatever the customer id");
}

#[test]
fn with_no_override_and_no_rollout_the_default_is_static() {
    let flag = flag("f");
    assert_eq!(eval(&flag, &on_env(None), &customer("c")), (json!(false), None, Reason::Static));
    let planned = on_env(Some(rollout(RolloutStatus::Planned, 0)));
    assert_eq!(eval(&flag, &planned, &customer("c")).2, Reason::Static, "a plan serves nothing yet");
}

#[test]
fn with_overrides_for_others_the_default_is_a_fallback() {
    let flag = flag("f");
    let mut env = on_env(None);
    env.organization_overrides.insert("o".to_owned(), json!(true));
    assert_eq!(eval(&flag, &env, &member("c", "other")), (json!(false), None, Reason::Default));
}

#[test]
fn customers_in_a_variant_rollout_get_a_variant_and_those_out_get_the_off_value() {
    let variants = Variants::parse(vec![
        Variant { key: "control".to_owned(), value: json!("A"), weight: 50 },
        Variant { key: "treatment".to_owned(), value: json!("B"), weight: 50 },
    ])
    .unwrap();
    let flag = FlagConfig {
        value_type: ValueType::String,
        on: OnValue::Variants(variants.clone()),
        off_value: json!("A"),
        ..flag("exp")
    };
    let env = on_env(Some(rollout(RolloutStatus::Active, 5000)));
    let inside = id_where("exp", |b| b < 5000);
    let picked = variants.pick("exp", Some(&inside));
    assert_eq!(eval(&flag, &env, &customer(&inside)), (picked.value.clone(), Some(picked.key.clone()), Reason::Split));
    let outside = id_where("exp", |b| b >= 5000);
    assert_eq!(eval(&flag, &env, &customer(&outside)), (json!("A"), None, Reason::Split));
}

#[test]
fn every_answer_carries_the_flag_version() {
    let flag = FlagConfig { version: 42, ..flag("f") };
    let env = on_env(None);
    let answer = evaluate(Some((&flag, &env)), &customer("c"), &NoFlags).unwrap();
    assert_eq!(answer.version, 42);
}

#[test]
fn answers_serialize_with_openfeature_reason_names() {
    let reasons = Reason::ALL;
    let json: Vec<String> = reasons.iter().map(|r| serde_json::to_string(r).unwrap()).collect();
    assert_eq!(
        json,
        ["\"STATIC\"", "\"DEFAULT\"", "\"TARGETING_MATCH\"", "\"SPLIT\"", "\"DISABLED\"", "\"PREREQUISITE_FAILED\""]
    );
    assert!(reasons.iter().all(|r| format!("\"{r}\"") == serde_json::to_string(r).unwrap()));
    let value = json!(true);
    let answer = Evaluation {
        value: &value,
        variant: Some("on"),
        reason: Reason::Split,
        version: 3,
        decided_by: DecidedBy::Rollout,
    };
    assert_eq!(
        serde_json::to_value(answer).unwrap(),
        json!({"value": true, "variant": "on", "reason": "SPLIT", "version": 3, "decided_by": {"kind": "rollout"}})
    );
}

#[test]
fn a_context_deserializes_with_every_field_optional() {
    let ctx: EvalContext = serde_json::from_str(r#"{"customer_id": "c1"}"#).unwrap();
    assert_eq!(ctx, customer("c1"));
    let ctx: EvalContext = serde_json::from_str(r#"{"organization_id": "o", "attributes": {"plan": "pro"}}"#).unwrap();
    assert_eq!(ctx.attributes.get("plan").map(String::as_str), Some("pro"));
    assert_eq!(serde_json::from_str::<EvalContext>("{}").unwrap(), EvalContext::default());
}

#[test]
fn stickiness_round_trips_through_its_stored_spelling_and_refuses_unknown_ones() {
    for raw in ["customer_id", "organization_id", "attribute:tenant_region", "attribute:a.b-c"] {
        assert_eq!(Stickiness::parse(raw).map(|s| s.to_string()), Ok(raw.to_owned()));
    }
    assert_eq!(Stickiness::default(), Stickiness::CustomerId);
    assert!(Stickiness::parse("user_id").unwrap_err().message.contains("expected customer_id"));
    assert!(Stickiness::parse("attribute:").unwrap_err().message.contains("not an attribute name"));
    assert!(Stickiness::parse("attribute:has space").is_err());
    assert!(serde_json::from_str::<Stickiness>("\"attribute:plan\"").is_ok());
}

#[test]
fn rollout_statuses_parse_from_their_stored_spelling() {
    for status in RolloutStatus::ALL {
        assert_eq!(status.as_str().parse::<RolloutStatus>(), Ok(*status));
    }
    assert!("rolledback".parse::<RolloutStatus>().is_err());
}
