//! Priority-URL badges: the tier (colour and label, WCAG AA contrast, see style/main.css) and the page type.

use crate::domain::priority::{Classification, PageType, Tier};
use leptos::prelude::*;

/// The update-priority tier: a coloured pill whose label carries the meaning, so colour is never alone.
#[component]
pub fn TierBadge(tier: Tier) -> impl IntoView {
    view! { <span class=format!("badge tier tier-{}", tier.as_str()) data-tier=tier.as_str()>{tier.label()}</span> }
}

/// The page type: a neutral outlined pill.
#[component]
pub fn PageTypeBadge(page_type: PageType) -> impl IntoView {
    view! { <span class="badge page-type" data-page-type=page_type.as_str()>{page_type.label()}</span> }
}

/// Both badges of one URL.
#[component]
pub fn UrlBadges(badges: Classification) -> impl IntoView {
    view! {
        <span class="url-badges">
            <TierBadge tier=badges.tier />
            <PageTypeBadge page_type=badges.page_type />
        </span>
    }
}
