//! The condition rows shared by the rule form of a flag's page, the segment form and the rollout audience
//! forms: one row per constraint (a field, "is" or "is not", an operator, values and case), as plain form
//! fields, so they work without JavaScript. Rows post as parallel lists (`field[]`, `negate[]`,
//! `operator[]`, `values[]`, `case[]`): every control is a text box or a select, which always posts, so the
//! lists stay aligned. Segments to require post as `segment[]` checkboxes.

use crate::domain::targeting::{Condition, Constraint, ContextField, Operator};
use crate::domain::InvalidValue;
use leptos::prelude::*;

/// How many empty rows a form offers beyond the constraints it already has. More: save, then edit again.
pub const BLANK_ROWS: usize = 2;

/// The constraints of a form's rows; a row with no field is skipped. List operators (`IN`, `NOT_IN`, the
/// `STR_*` operators, `IN_CIDR`) take comma-separated values; the others take the whole text as one value,
/// so an expression such as `a{2,4}` keeps its comma.
pub fn constraints_from_rows(
    field: &[String],
    negate: &[String],
    operator: &[String],
    values: &[String],
    case: &[String],
) -> Result<Vec<Constraint>, InvalidValue> {
    let get = |list: &[String], i: usize| list.get(i).map(|s| s.trim().to_owned()).unwrap_or_default();
    let mut out = Vec::new();
    for i in 0..field.len() {
        let name = get(field, i);
        if name.is_empty() {
            continue;
        }
        let row = |e: InvalidValue| InvalidValue {
            field: "constraints",
            message: format!("condition {}: {}", i + 1, e.message),
        };
        let field = ContextField::parse(&name).map_err(row)?;
        let operator: Operator = get(operator, i).parse().map_err(row)?;
        let text = values.get(i).cloned().unwrap_or_default();
        let values: Vec<String> = if operator.takes_one_value() {
            vec![text.trim().to_owned()]
        } else {
            text.split(',').map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect()
        };
        out.push(Constraint {
            field,
            operator,
            values,
            inverted: get(negate, i) == "not",
            case_insensitive: get(case, i) == "ignore",
        });
    }
    Ok(out)
}

/// A constraint as people read it: `plan is one of enterprise, business`, `NOT email ends with
/// @example.com (any case)`.
pub fn describe(c: &Constraint) -> String {
    format!(
        "{}{} {} {}{}",
        if c.inverted { "not: " } else { "" },
        c.field,
        c.operator.label(),
        c.values.join(", "),
        if c.case_insensitive { " (any case)" } else { "" }
    )
}

/// A rollout's audience as people read it: `only units in segment beta and plan is one of enterprise`;
/// `everybody` without one.
pub fn describe_audience(audience: Option<&Condition>) -> String {
    let Some(audience) = audience.filter(|a| !a.is_empty()) else { return "everybody".to_owned() };
    let mut parts: Vec<String> = audience.segments.iter().map(|s| format!("in segment {s}")).collect();
    parts.extend(audience.constraints.iter().map(describe));
    let lead = if audience.segments.is_empty() { "only units where " } else { "only units " };
    format!("{lead}{}", parts.join(" and "))
}

/// The segment checkboxes of a form (`segment[]`), with `chosen` checked; a hint to create one when there
/// are none. `segments` are `(key, name)`.
#[component]
pub fn SegmentBoxes(segments: Vec<(String, String)>, chosen: Vec<String>) -> impl IntoView {
    if segments.is_empty() {
        return view! { <p class="hint">"No segments yet: "<a href="/admin/segments">"create one"</a>" to reuse conditions."</p> }
            .into_any();
    }
    segments
        .into_iter()
        .map(|(key, label)| {
            let checked = chosen.contains(&key);
            view! {
                <label class="check">
                    <input type="checkbox" name="segment[]" value=key.clone() checked=checked />
                    {format!(" {label} ({key})")}
                </label>
            }
        })
        .collect_view()
        .into_any()
}

/// The rows of a form: the constraints it has, then [`BLANK_ROWS`] empty ones. `id` makes the controls'
/// ids unique on the page; every control is labelled with its row number.
#[component]
pub fn ConditionRows(id: String, constraints: Vec<Constraint>) -> impl IntoView {
    let rows = constraints.into_iter().map(Some).chain(std::iter::repeat_n(None, BLANK_ROWS)).enumerate();
    let rows = rows
        .map(|(i, c): (usize, Option<Constraint>)| {
            let n = i + 1;
            let field = c.as_ref().map(|c| c.field.to_string()).unwrap_or_default();
            let negated = c.as_ref().is_some_and(|c| c.inverted);
            let op = c.as_ref().map_or(Operator::In, |c| c.operator);
            let values = c.as_ref().map(|c| c.values.join(", ")).unwrap_or_default();
            let ignore = c.as_ref().is_some_and(|c| c.case_insensitive);
            let options = Operator::ALL
                .iter()
                .map(|o| view! { <option value=o.as_str() selected=*o == op>{o.label()}</option> })
                .collect_view();
            view! {
                <div class="condition-row" data-testid=format!("{id}-row-{n}")>
                    <input name="field[]" type="text" value=field list="context-fields" autocomplete="off"
                        placeholder="plan" aria-label=format!("Field of condition {n}") />
                    <select name="negate[]" aria-label=format!("Is or is not, condition {n}")>
                        <option value="" selected=!negated>"is"</option>
                        <option value="not" selected=negated>"is not"</option>
                    </select>
                    <select name="operator[]" aria-label=format!("Operator of condition {n}")>{options}</select>
                    <input name="values[]" type="text" value=values autocomplete="off" placeholder="enterprise, business"
                        aria-label=format!("Values of condition {n}") />
                    <select name="case[]" aria-label=format!("Case of condition {n}")>
                        <option value="" selected=!ignore>"exact case"</option>
                        <option value="ignore" selected=ignore>"any case"</option>
                    </select>
                </div>
            }
        })
        .collect_view();
    view! {
        <div class="condition-rows">{rows}</div>
        <p class="hint">
            "Fields: customer_id, organization_id, current_time, or any attribute your application sends "
            "(plan, app_version, region...). Lists take comma-separated values; numbers, dates (RFC 3339), "
            "versions and expressions take one. Every condition must hold. Leave a field empty to drop its row."
        </p>
    }
}

/// The field names offered in every field box: the built-in ones. Any attribute name may be typed.
#[component]
pub fn ContextFieldList() -> impl IntoView {
    view! {
        <datalist id="context-fields">
            <option value="customer_id"></option>
            <option value="organization_id"></option>
            <option value="current_time"></option>
        </datalist>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn rows_become_constraints_with_lists_split_and_single_values_whole() {
        let constraints = constraints_from_rows(
            &rows(&["plan", "", "email"]),
            &rows(&["", "", "not"]),
            &rows(&["IN", "IN", "REGEX"]),
            &rows(&["enterprise, business", "", "^a{2,4}$"]),
            &rows(&["", "", "ignore"]),
        )
        .unwrap();
        assert_eq!(constraints.len(), 2, "the empty row is skipped");
        assert_eq!(constraints[0].values, ["enterprise", "business"]);
        assert_eq!(constraints[1].values, ["^a{2,4}$"]);
        assert!(constraints[1].inverted && constraints[1].case_insensitive);
    }

    #[test]
    fn an_audience_reads_as_segments_then_conditions() {
        let plan =
            constraints_from_rows(&rows(&["plan"]), &rows(&[""]), &rows(&["IN"]), &rows(&["enterprise"]), &rows(&[""]))
                .unwrap();
        let both = Condition { constraints: plan.clone(), segments: vec!["beta".into()] };
        assert_eq!(describe_audience(Some(&both)), "only units in segment beta and plan is one of enterprise");
        let only_plan = Condition { constraints: plan, segments: vec![] };
        assert_eq!(describe_audience(Some(&only_plan)), "only units where plan is one of enterprise");
        assert_eq!(describe_audience(Some(&Condition::default())), "everybody");
        assert_eq!(describe_audience(None), "everybody");
    }

    #[test]
    fn a_bad_row_is_named_by_its_number() {
        let err = constraints_from_rows(&rows(&["plan"]), &rows(&[""]), &rows(&["LIKE"]), &rows(&["x"]), &rows(&[""]))
            .unwrap_err();
        assert_eq!(err.field, "constraints");
        assert!(err.message.starts_with("condition 1: unknown operator"), "{}", err.message);
    }
}
