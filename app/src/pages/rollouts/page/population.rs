//! Who the rollout reaches among the known customers, now and at the next stage.

use crate::model::PopulationView;
use leptos::prelude::*;

/// How many known customers and organizations are in and out, and whom the next stage would add.
#[component]
pub(super) fn Population(population: PopulationView) -> impl IntoView {
    let PopulationView {
        customers_known,
        customers_in,
        organizations_known,
        organizations_in,
        customers_in_audience,
        next_percent,
        next_adds,
        next_adds_preview,
    } = population;
    let more = next_adds.saturating_sub(next_adds_preview.len() as u64);
    view! {
        <section class="card" aria-labelledby="population-h" data-testid="population">
            <h2 id="population-h">"Who is in"</h2>
            <dl class="details">
                {customers_in_audience.map(|n| view! {
                    <dt>"In the audience"</dt>
                    <dd data-testid="population-audience">{format!("{n} of {customers_known} known customers")}</dd>
                })}
                <dt>"Customers"</dt>
                <dd>{format!("{customers_in} in, {} out, of {customers_known} known", customers_known.saturating_sub(customers_in))}</dd>
                <dt>"Organizations"</dt>
                <dd>{format!("{organizations_in} with a customer in, {} without, of {organizations_known} known", organizations_known.saturating_sub(organizations_in))}</dd>
                <dt>"Next stage"</dt>
                <dd>
                    {match next_percent {
                        None => "no next stage".to_owned(),
                        Some(percent) => format!("{percent} would add {next_adds} customer{}", if next_adds == 1 { "" } else { "s" }),
                    }}
                    {(!next_adds_preview.is_empty()).then(|| view! {
                        <ul class="preview-list" aria-label="Customers the next stage would add">
                            {next_adds_preview.into_iter().map(|c| view! { <li class="mono">{c}</li> }).collect_view()}
                            {(more > 0).then(|| view! { <li class="muted">{format!("and {more} more")}</li> })}
                        </ul>
                    })}
                </dd>
            </dl>
        </section>
    }
    .into_any()
}
