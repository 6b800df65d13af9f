//! The "Targeting" card of a flag's page: per environment, the prerequisites and the rules in order, and
//! for editors plain forms to add, edit (in a disclosure), move and delete rules and to add and remove
//! prerequisites. The forms post to server functions, so they work without JavaScript (the page comes back
//! by a redirect) and in place with it.

use super::targeting_actions::{AddPrerequisite, DeleteRule, MoveRule, RemovePrerequisite, SaveRule};
use crate::components::status::{ErrorBox, Loading};
use crate::domain::targeting::{Prerequisite, Serve, TargetingRule};
use crate::domain::ValueType;
use crate::model::targeting::{EnvironmentTargeting, FlagTargeting};
use crate::pages::targeting_form::{describe, ConditionRows, ContextFieldList, SegmentBoxes};
use leptos::prelude::*;

/// The card's actions, handed to every form in it.
#[derive(Clone, Copy)]
struct Actions {
    save: ServerAction<SaveRule>,
    moved: ServerAction<MoveRule>,
    delete: ServerAction<DeleteRule>,
    add_prerequisite: ServerAction<AddPrerequisite>,
    remove_prerequisite: ServerAction<RemovePrerequisite>,
}

#[component]
pub fn FlagTargetingCard(flag: String) -> impl IntoView {
    let actions = Actions {
        save: ServerAction::new(),
        moved: ServerAction::new(),
        delete: ServerAction::new(),
        add_prerequisite: ServerAction::new(),
        remove_prerequisite: ServerAction::new(),
    };
    let data = Resource::new(
        move || {
            (
                flag.clone(),
                actions.save.version().get(),
                actions.moved.version().get(),
                actions.delete.version().get(),
                actions.add_prerequisite.version().get(),
                actions.remove_prerequisite.version().get(),
            )
        },
        |(flag, ..)| super::targeting_actions::load_flag_targeting(flag),
    );
    // The latest outcome of any of the card's forms, in view at the top of the card and read out.
    let outcome = move || {
        let results = [
            actions.save.value().get(),
            actions.moved.value().get(),
            actions.delete.value().get(),
            actions.add_prerequisite.value().get(),
            actions.remove_prerequisite.value().get(),
        ];
        results.into_iter().flatten().last()
    };
    view! {
        <section class="card" aria-labelledby="targeting-h" data-testid="targeting">
            <h2 id="targeting-h">"Targeting"</h2>
            <p class="muted small">
                "Per environment: prerequisites first (flags that must be on for this one to be served), then "
                "overrides, the rollout's allow-list, these rules in order (the first that holds answers), the "
                "rollout, and the default. Reusable lists of conditions are "<a href="/admin/segments">"segments"</a>"."
            </p>
            <div aria-live="polite">
                {move || outcome().map(|result| match result {
                    Ok(message) => view! { <p class="state state-info" role="status" data-testid="targeting-outcome">{message}</p> }.into_any(),
                    Err(error) => view! { <div data-testid="targeting-outcome-error"><ErrorBox error /></div> }.into_any(),
                })}
            </div>
            <ContextFieldList />
            <Transition fallback=|| view! { <Loading what="the targeting" /> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(data) => view! { <TargetingBody data actions /> }.into_any(),
                        Err(error) => view! { <ErrorBox error /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn TargetingBody(data: FlagTargeting, actions: Actions) -> impl IntoView {
    let FlagTargeting { flag, value_type, variants, archived, can_edit, segments, other_flags, environments } = data;
    let shape = Shape { flag, value_type, variants, segments, other_flags, can_edit };
    view! {
        {archived.then(|| view! { <p class="muted small">"The flag is archived: its targeting can no longer change."</p> })}
        {environments.into_iter().map(|env| view! { <EnvironmentTargetingView env shape=shape.clone() actions /> }).collect_view()}
    }
}

/// What every form of the card needs to know about the flag.
#[derive(Clone)]
struct Shape {
    flag: String,
    value_type: ValueType,
    variants: Vec<String>,
    segments: Vec<(String, String)>,
    other_flags: Vec<(String, Vec<String>)>,
    can_edit: bool,
}

/// The hidden fields every form of one environment posts.
fn located(shape: &Shape, env: &str, version: i32) -> impl IntoView {
    view! {
        <input type="hidden" name="flag" value=shape.flag.clone() />
        <input type="hidden" name="environment" value=env.to_owned() />
        <input type="hidden" name="expected_version" value=version.to_string() />
    }
}

#[component]
fn EnvironmentTargetingView(env: EnvironmentTargeting, shape: Shape, actions: Actions) -> impl IntoView {
    let EnvironmentTargeting { environment, environment_name, rules, prerequisites, version, default_value } = env;
    let heading_id = format!("targeting-{environment}-h");
    let count = rules.len();
    let prerequisite_list = if prerequisites.is_empty() {
        view! { <p class="muted small">"No prerequisites."</p> }.into_any()
    } else {
        let items = prerequisites
            .into_iter()
            .map(|p| view! { <PrerequisiteItem p environment=environment.clone() version shape=shape.clone() actions /> })
            .collect_view();
        view! { <ul class="prerequisites" data-testid=format!("prerequisites-{environment}")>{items}</ul> }.into_any()
    };
    let rule_list = if rules.is_empty() {
        view! { <p class="muted small">"No rules: every unit goes on to the rollout and the default."</p> }.into_any()
    } else {
        let items = rules
            .into_iter()
            .enumerate()
            .map(|(i, rule)| {
                view! { <RuleItem rule position=i + 1 count environment=environment.clone() version shape=shape.clone() actions /> }
            })
            .collect_view();
        view! { <ol class="rules" data-testid=format!("rules-{environment}")>{items}</ol> }.into_any()
    };
    let editing = shape.can_edit.then(|| {
        let add_prerequisite =
            view! { <AddPrerequisiteForm environment=environment.clone() version shape=shape.clone() actions /> };
        let add_rule = view! {
            <details class="rule-editor">
                <summary>"Add a rule"</summary>
                <RuleForm environment=environment.clone() version shape=shape.clone() actions rule=None position=None />
            </details>
        };
        (add_prerequisite, add_rule)
    });
    let (add_prerequisite, add_rule) = match editing {
        Some((p, r)) => (Some(p), Some(r)),
        None => (None, None),
    };
    let labelled_by = heading_id.clone();
    view! {
        <section class="targeting-env" aria-labelledby=labelled_by data-testid=format!("targeting-{environment}")>
            <h3 id=heading_id class="subheading">{environment_name}</h3>
            <h4 class="minor-heading">"Prerequisites"</h4>
            {prerequisite_list}
            {add_prerequisite}
            <h4 class="minor-heading">"Rules"</h4>
            {rule_list}
            <p class="muted small">"Units no rule takes: the rollout, else the default, "<code>{default_value.to_string()}</code>"."</p>
            {add_rule}
        </section>
    }
}

#[component]
fn PrerequisiteItem(
    p: Prerequisite,
    environment: String,
    version: i32,
    shape: Shape,
    actions: Actions,
) -> impl IntoView {
    let text = p.describe();
    let key = p.flag.clone();
    let remove = shape.can_edit.then(|| {
        let label = format!("Remove the prerequisite {key} in {environment}");
        let hidden = located(&shape, &environment, version);
        let requires = key.clone();
        view! {
            <ActionForm action=actions.remove_prerequisite attr:class="inline-form">
                {hidden}
                <input type="hidden" name="requires" value=requires />
                <button type="submit" class="btn btn-small btn-danger" aria-label=label>"Remove"</button>
            </ActionForm>
        }
    });
    view! { <li data-testid=format!("prerequisite-{key}")><span>"Requires "<strong>{text}</strong></span>" "{remove}</li> }
}

#[component]
fn AddPrerequisiteForm(environment: String, version: i32, shape: Shape, actions: Actions) -> impl IntoView {
    let id = format!("prereq-{environment}");
    let flag_options = shape
        .other_flags
        .iter()
        .map(|(key, _)| view! { <option value=key.clone()>{key.clone()}</option> })
        .collect_view();
    // Every variant of every flag is offered; the server refuses one the chosen flag does not have.
    let mut variant_keys: Vec<&String> = shape.other_flags.iter().flat_map(|(_, v)| v).collect();
    variant_keys.sort();
    variant_keys.dedup();
    let variant_options = variant_keys
        .into_iter()
        .map(|v| view! { <option value=format!("variant:{v}")>{format!("on variant {v}")}</option> })
        .collect_view();
    let label = format!("Add a prerequisite in {environment}");
    (!shape.other_flags.is_empty()).then(|| {
        view! {
            <ActionForm action=actions.add_prerequisite attr:class="inline-form prerequisite-form" attr:aria-label=label>
                {located(&shape, &environment, version)}
                <label for=format!("{id}-flag")>"Requires"</label>
                <select id=format!("{id}-flag") name="requires">{flag_options}</select>
                <select name="state" aria-label="to be">
                    <option value="on">"on"</option>
                    <option value="off">"off"</option>
                    {variant_options}
                </select>
                <button type="submit" class="btn btn-small">"Add prerequisite"</button>
            </ActionForm>
        }
    })
}

/// One rule as read, with its buttons and, in a disclosure, its edit form.
#[component]
fn RuleItem(
    rule: TargetingRule,
    position: usize,
    count: usize,
    environment: String,
    version: i32,
    shape: Shape,
    actions: Actions,
) -> impl IntoView {
    let mut when: Vec<String> = rule.constraints.iter().map(describe).collect();
    when.extend(rule.segments.iter().map(|s| format!("in segment {s}")));
    let when = if when.is_empty() { "everyone".to_owned() } else { format!("when {}", when.join(" and ")) };
    let share = rule.percent.map(|p| format!(", {p} of them"));
    let serve = rule.serve.describe();
    let buttons = shape.can_edit.then(|| {
        let name = rule.name.clone();
        let confirm = format!("return confirm('Delete the rule {} in {environment}?')", name.replace('\'', ""));
        let delete_label = format!("Delete the rule {name}");
        let up = move_form(&shape, &environment, version, position, &name, "up", "↑", position == 1, actions);
        let down = move_form(&shape, &environment, version, position, &name, "down", "↓", position == count, actions);
        let hidden = located(&shape, &environment, version);
        let form = view! {
            <RuleForm environment=environment.clone() version shape=shape.clone() actions rule=Some(rule.clone()) position=Some(position) />
        };
        view! {
            <div class="rule-actions">
                {up}
                {down}
                <ActionForm action=actions.delete attr:class="inline-form" attr:onsubmit=confirm>
                    {hidden}
                    <input type="hidden" name="position" value=position.to_string() />
                    <button type="submit" class="btn btn-small btn-danger" aria-label=delete_label>"Delete"</button>
                </ActionForm>
            </div>
            <details class="rule-editor">
                <summary>{format!("Edit {name}")}</summary>
                {form}
            </details>
        }
    });
    view! {
        <li class="rule" data-testid=format!("rule-{}", rule.name)>
            <div class="rule-summary">
                <strong class="rule-name">{rule.name.clone()}</strong>
                <span>": "{when}{share}", serve "<strong>{serve}</strong></span>
            </div>
            {buttons}
        </li>
    }
}

/// A button that moves the rule at `position` one place `direction`.
#[allow(clippy::too_many_arguments)]
fn move_form(
    shape: &Shape,
    environment: &str,
    version: i32,
    position: usize,
    name: &str,
    direction: &'static str,
    symbol: &'static str,
    disabled: bool,
    actions: Actions,
) -> impl IntoView {
    let label = format!("Move the rule {name} {direction}");
    let hidden = located(shape, environment, version);
    view! {
        <ActionForm action=actions.moved attr:class="inline-form">
            {hidden}
            <input type="hidden" name="position" value=position.to_string() />
            <input type="hidden" name="direction" value=direction />
            <button type="submit" class="btn btn-small" aria-label=label disabled=disabled>{symbol}</button>
        </ActionForm>
    }
}

/// Adds a rule (no `rule`) or edits the one at `position`.
#[component]
fn RuleForm(
    environment: String,
    version: i32,
    shape: Shape,
    actions: Actions,
    rule: Option<TargetingRule>,
    position: Option<usize>,
) -> impl IntoView {
    let id = format!("rule-{environment}-{}", position.map_or_else(|| "new".to_owned(), |p| p.to_string()));
    let (name, constraints, chosen, serve, percent, stickiness) = match &rule {
        Some(r) => (
            r.name.clone(),
            r.constraints.clone(),
            r.segments.clone(),
            r.serve.clone(),
            r.percent.map(|p| p.to_string().trim_end_matches('%').to_owned()).unwrap_or_default(),
            r.stickiness.to_string(),
        ),
        None => (String::new(), Vec::new(), Vec::new(), Serve::On, String::new(), "customer_id".to_owned()),
    };
    let serve_value = match &serve {
        Serve::Value { value } => match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        },
        _ => String::new(),
    };
    let mut serve_options = vec![
        ("on".to_owned(), "on (the flag's on value)".to_owned(), serve == Serve::On),
        ("off".to_owned(), "off (the flag's off value)".to_owned(), serve == Serve::Off),
    ];
    for v in &shape.variants {
        let selected = matches!(&serve, Serve::Variant { key } if key == v);
        serve_options.push((format!("variant:{v}"), format!("variant {v}"), selected));
    }
    if shape.value_type != ValueType::Boolean {
        serve_options.push(("value".to_owned(), "this value:".to_owned(), matches!(serve, Serve::Value { .. })));
    }
    let serve_options = serve_options
        .into_iter()
        .map(|(value, label, selected)| view! { <option value=value selected=selected>{label}</option> })
        .collect_view();
    let position_field = position.map(|p| view! { <input type="hidden" name="position" value=p.to_string() /> });
    let button = if position.is_some() { "Save rule" } else { "Add rule" };
    let label = match &rule {
        Some(r) => format!("Edit the rule {} in {environment}", r.name),
        None => format!("Add a rule in {environment}"),
    };
    // The page refetches into the same elements after a save, which would keep what was typed for the next.
    let form = crate::components::forms::clear_after_success(actions.save);
    view! {
        <ActionForm action=actions.save node_ref=form attr:class="form-grid rule-form" attr:aria-label=label>
            {located(&shape, &environment, version)}
            {position_field}
            <div class="field">
                <label for=format!("{id}-name")>"Name"</label>
                <input id=format!("{id}-name") name="name" type="text" required maxlength="100" value=name placeholder="enterprise customers" />
            </div>
            <fieldset class="field field-wide">
                <legend>"When (every condition holds)"</legend>
                <ConditionRows id=id.clone() constraints />
            </fieldset>
            <fieldset class="field field-wide">
                <legend>"And in every segment checked"</legend>
                <SegmentBoxes segments=shape.segments.clone() chosen />
            </fieldset>
            <div class="field">
                <label for=format!("{id}-serve")>"Serve"</label>
                <select id=format!("{id}-serve") name="serve">{serve_options}</select>
                {(shape.value_type != ValueType::Boolean).then(|| view! {
                    <input name="serve_value" type="text" value=serve_value.clone() aria-label="The value served" placeholder="a value of the flag's type" />
                })}
            </div>
            <div class="field">
                <label for=format!("{id}-percent")>"Share of matching units (%)"</label>
                <input id=format!("{id}-percent") name="percent" type="text" inputmode="decimal" value=percent placeholder="all" />
                <p class="hint">"Empty: all of them. Units outside the share go on to the next rule."</p>
            </div>
            <div class="field">
                <label for=format!("{id}-stickiness")>"Bucket by"</label>
                <input id=format!("{id}-stickiness") name="stickiness" type="text" value=stickiness placeholder="customer_id" />
            </div>
            <div class="field field-wide">
                <label for=format!("{id}-reason")>"Reason"</label>
                <input id=format!("{id}-reason") name="reason" type="text" maxlength="2000" placeholder="why, for the audit trail" />
            </div>
            <div class="form-actions">
                <button type="submit" class="btn btn-primary" disabled=move || actions.save.pending().get()>{button}</button>
            </div>
        </ActionForm>
    }
}
