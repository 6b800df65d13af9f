//! The account's URLs with their badges on and off, filtered and paged by key (the last URL shown), and
//! the panels that sum them up: the distribution and the on-against-off comparison.

use super::{thousands, urlencode};
use crate::components::priority_badges::{PageTypeBadge, TierBadge, UrlBadges};
use crate::domain::priority::{PageType, Tier};
use crate::model::priority::{Comparison, Distribution, UrlQuery, UrlRow};
use leptos::prelude::*;

/// The link to the page after `after`, keeping the filters.
fn next_href(account: &str, query: &UrlQuery, after: &str) -> String {
    let mut parts: Vec<String> = [("tier", &query.tier), ("page_type", &query.page_type), ("q", &query.q)]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", urlencode(v))))
        .collect();
    parts.push(format!("after={}", urlencode(after)));
    format!("/admin/priority-urls/{account}?{}#urls", parts.join("&"))
}

fn first_href(account: &str, query: &UrlQuery) -> String {
    let parts: Vec<String> = [("tier", &query.tier), ("page_type", &query.page_type), ("q", &query.q)]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", urlencode(v))))
        .collect();
    format!("/admin/priority-urls/{account}?{}#urls", parts.join("&"))
}

#[component]
pub fn UrlTable(
    account: String,
    query: UrlQuery,
    rows: Vec<UrlRow>,
    matching: i64,
    next_after: Option<String>,
) -> impl IntoView {
    let shown = rows.len();
    let selected_tier = query.tier.clone().unwrap_or_default();
    let selected_type = query.page_type.clone().unwrap_or_default();
    view! {
        <section aria-labelledby="urls-h" id="urls" class="urls">
            <h2 id="urls-h">"URLs and their badges"</h2>
            <form method="get" action=format!("/admin/priority-urls/{account}") class="filters" role="search" aria-label="Filter URLs">
                <div class="field">
                    <label for="filter-tier">"Priority"</label>
                    <select id="filter-tier" name="tier">
                        <option value="">"Any priority"</option>
                        {Tier::ALL.iter().map(|t| view! {
                            <option value=t.as_str() selected=selected_tier == t.as_str()>{t.label()}</option>
                        }).collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="filter-page-type">"Page type"</label>
                    <select id="filter-page-type" name="page_type">
                        <option value="">"Any page type"</option>
                        {PageType::ALL.iter().map(|t| view! {
                            <option value=t.as_str() selected=selected_type == t.as_str()>{t.label()}</option>
                        }).collect_view()}
                    </select>
                </div>
                <div class="field field-grow">
                    <label for="filter-url">"URL contains"</label>
                    <input id="filter-url" type="search" name="q" placeholder="e.g. /products/" value=query.q.clone().unwrap_or_default() />
                </div>
                <button type="submit" class="btn">"Apply"</button>
                <a class="btn btn-quiet" href=format!("/admin/priority-urls/{account}#urls")>"Clear"</a>
            </form>
            <p class="result-count" data-testid="url-count">
                {if matching == 0 { "No URLs match.".to_owned() } else {
                    format!("{} URLs match; showing {shown} in URL order.", thousands(matching))
                }}
                " The priority filter applies to the imported badges."
            </p>
            {(shown > 0).then(|| view! {
                <div class="table-wrap">
                    <table class="table urls-table" data-testid="url-table">
                        <thead><tr>
                            <th scope="col">"URL"</th>
                            <th scope="col">"Flag on: imported"</th>
                            <th scope="col">"Flag off: heuristic"</th>
                            <th scope="col">"Change"</th>
                        </tr></thead>
                        <tbody>
                            {rows.into_iter().map(|row| {
                                let change = if row.imported.tier == row.heuristic.tier {
                                    "same tier"
                                } else if row.imported.tier < row.heuristic.tier {
                                    "more urgent"
                                } else {
                                    "less urgent"
                                };
                                view! {
                                    <tr data-testid="url-row">
                                        <td class="mono small url-cell">{row.url.clone()}</td>
                                        <td data-testid="badges-on"><UrlBadges badges=row.imported /></td>
                                        <td data-testid="badges-off"><UrlBadges badges=row.heuristic /></td>
                                        <td class="small" data-testid="tier-change">{change}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            })}
            <nav class="pager" aria-label="URL pages">
                {query.after.is_some().then(|| view! { <a class="btn" href=first_href(&account, &query)>"↑ First page"</a> })}
                {next_after.map(|after| view! { <a class="btn" href=next_href(&account, &query, &after) rel="next">"Next page →"</a> })}
            </nav>
        </section>
    }
}

#[component]
pub fn DistributionPanel(distribution: Distribution) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="distribution-h" data-testid="distribution">
            <h2 id="distribution-h">"Distribution of the imported badges"</h2>
            <div class="distribution">
                <table class="table">
                    <thead><tr><th scope="col">"Priority"</th><th scope="col" class="num">"URLs"</th></tr></thead>
                    <tbody>
                        {distribution.by_tier.into_iter().map(|(tier, n)| view! {
                            <tr data-testid=format!("dist-tier-{}", tier.as_str())><td><TierBadge tier /></td><td class="num">{thousands(n)}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
                <table class="table">
                    <thead><tr><th scope="col">"Page type"</th><th scope="col" class="num">"URLs"</th></tr></thead>
                    <tbody>
                        {distribution.by_page_type.into_iter().map(|(page_type, n)| view! {
                            <tr data-testid=format!("dist-type-{}", page_type.as_str())><td><PageTypeBadge page_type /></td><td class="num">{thousands(n)}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
pub fn ComparisonPanel(comparison: Comparison) -> impl IntoView {
    let Comparison { compared, tier_changes, raised, lowered, page_type_changes } = comparison;
    let percent = if compared == 0 { 0.0 } else { tier_changes as f64 * 100.0 / compared as f64 };
    view! {
        <section class="card" aria-labelledby="compare-h" data-testid="comparison">
            <h2 id="compare-h">"Flag on against flag off"</h2>
            {if compared == 0 {
                view! { <p class="muted">"Nothing imported yet: with the flag on or off, every URL gets the heuristic badges."</p> }.into_any()
            } else {
                view! {
                    <p data-testid="comparison-summary">
                        {format!(
                            "Turning the flag on changes the tier of {} of {} URLs ({percent:.1}%): {} become more urgent, {} less urgent. {} change page type.",
                            thousands(tier_changes), thousands(compared), thousands(raised), thousands(lowered), thousands(page_type_changes)
                        )}
                    </p>
                    <p class="muted small">"Off, the dashboard classifies each URL from its path and shape (see the README's heuristic rules); on, it shows the imported metadata."</p>
                }.into_any()
            }}
        </section>
    }
}
