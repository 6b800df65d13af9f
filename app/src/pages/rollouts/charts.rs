//! The "Figures" section of a rollout's page (latency and error rate, treatment against control, with the
//! guardrails' limits and the stage changes), its range selector, and the sparklines of the flag list.
//!
//! The charts are SVG drawn on the server (`crate::server::charts`) and inserted as markup, so they show
//! without JavaScript; the range selector is plain links (`?range=6h`).

use crate::components::status::{ErrorBox, Loading};
use crate::error::AppError;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub use crate::model::charts::ChartRange;

/// The two charts of a rollout's page, as SVG markup drawn on the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutChartsView {
    pub latency_svg: String,
    pub error_rate_svg: String,
}

#[server(endpoint = "rollout_charts")]
pub async fn rollout_charts(id: i64, range: ChartRange) -> Result<RolloutChartsView, AppError> {
    use crate::server::{charts, to_app_error, AppState};
    crate::server::auth::require(crate::domain::Role::Viewer, "see this").await?;
    let state = expect_context::<AppState>();
    let svgs = charts::rollout_charts(&state.pool, id, range, chrono::Utc::now()).await.map_err(to_app_error)?;
    Ok(RolloutChartsView { latency_svg: svgs.latency, error_rate_svg: svgs.error_rate })
}

/// Sparklines (treatment error rate, last hour) of those rollouts that are active or paused, by id.
#[server(endpoint = "rollout_sparklines", input = server_fn::codec::Json)]
pub async fn rollout_sparklines(ids: Vec<i64>) -> Result<HashMap<i64, String>, AppError> {
    use crate::server::{charts, to_app_error, AppState};
    crate::server::auth::require(crate::domain::Role::Viewer, "see this").await?;
    let state = expect_context::<AppState>();
    charts::sparklines(&state.pool, &ids, chrono::Utc::now()).await.map_err(to_app_error)
}

/// The "Figures" card of a rollout's page.
#[component]
pub fn RolloutFigures(rollout_id: i64) -> impl IntoView {
    let query = use_query_map();
    let range = move || query.with(|q| q.get("range").and_then(|r| ChartRange::parse(&r)).unwrap_or_default());
    let charts = Resource::new(move || (rollout_id, range()), |(id, range)| rollout_charts(id, range));
    view! {
        <section class="card figures" aria-labelledby="figures-h" data-testid="rollout-figures">
            <div class="figures-head">
                <h2 id="figures-h">"Figures"</h2>
                <nav class="range-selector" aria-label="Time range of the charts">
                    {ChartRange::ALL.into_iter().map(|r| view! {
                        <a
                            href=format!("?range={}", r.as_str())
                            class="range-link"
                            aria-current=move || (range() == r).then_some("true")
                            data-testid=format!("range-{}", r.as_str())
                        >{r.label()}</a>
                    }).collect_view()}
                </nav>
            </div>
            <p class="muted small">
                "What applications report for this flag: treatment (flag on) drawn solid, control (flag off) dashed, with the guardrails' limits and the stage changes."
            </p>
            <Transition fallback=|| view! { <Loading what="the figures" /> }>
                {move || Suspend::new(async move {
                    match charts.await {
                        Ok(view) => view! {
                            <figure class="chart" data-testid="latency-figure" inner_html=view.latency_svg></figure>
                            <figure class="chart" data-testid="error-rate-figure" inner_html=view.error_rate_svg></figure>
                        }.into_any(),
                        Err(error) => view! { <ErrorBox error /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// A sparkline from [`rollout_sparklines`], linking to the rollout's figures.
#[component]
pub fn Sparkline(rollout_id: i64, svg: String) -> impl IntoView {
    view! {
        <a class="sparkline" href=format!("/admin/rollouts/{rollout_id}#figures-h") inner_html=svg
           data-testid=format!("sparkline-{rollout_id}")></a>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_round_trip_through_the_query_string() {
        for range in ChartRange::ALL {
            assert_eq!(ChartRange::parse(range.as_str()), Some(range));
            assert_eq!(serde_json::to_string(&range).ok(), Some(format!("\"{}\"", range.as_str())));
        }
        assert_eq!(ChartRange::parse("2h"), None);
        assert_eq!(ChartRange::default(), ChartRange::Hour);
    }
}
