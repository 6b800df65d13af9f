//! Priority URLs: the update-priority tiers and page types an account imports for its URLs, and the
//! heuristic classification the dashboard falls back to while `priority_urls_enabled` is off for it.

use super::text_enum;

/// The flag that switches an account from heuristic badges to its imported metadata.
pub const FLAG_KEY: &str = "priority_urls_enabled";

text_enum!(
    /// How soon a URL's data should be refreshed, most urgent first: critical > high > medium > low.
    Tier, "update_priority", {
        Critical => "critical",
        High => "high",
        Medium => "medium",
        Low => "low",
    }
);

text_enum!(
    /// What kind of page a URL is.
    PageType, "page_type", {
        Home => "home",
        Category => "category",
        Product => "product",
        Article => "article",
        Landing => "landing",
        Search => "search",
        Other => "other",
    }
);

impl Tier {
    /// The badge's words.
    pub fn label(self) -> &'static str {
        match self {
            Tier::Critical => "Critical",
            Tier::High => "High",
            Tier::Medium => "Medium",
            Tier::Low => "Low",
        }
    }

    /// Parses a tier as written in an import file: case and surrounding spaces do not matter.
    pub fn parse_loose(raw: &str) -> Result<Self, super::InvalidValue> {
        raw.trim().to_ascii_lowercase().parse()
    }
}

impl PageType {
    /// The badge's words.
    pub fn label(self) -> &'static str {
        match self {
            PageType::Home => "Home",
            PageType::Category => "Category",
            PageType::Product => "Product",
            PageType::Article => "Article",
            PageType::Landing => "Landing page",
            PageType::Search => "Search",
            PageType::Other => "Other",
        }
    }

    /// Parses a page type as written in an import file: case and surrounding spaces do not matter.
    pub fn parse_loose(raw: &str) -> Result<Self, super::InvalidValue> {
        raw.trim().to_ascii_lowercase().parse()
    }
}

/// A URL's badges: its tier and page type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Classification {
    pub tier: Tier,
    pub page_type: PageType,
}

const SEARCH_SEGMENTS: &[&str] = &["search", "find", "results"];
const SEARCH_PARAMS: &[&str] = &["q", "query", "s", "search", "keyword", "keywords", "k"];
const HOME_SEGMENTS: &[&str] = &["index.html", "index.htm", "index.php", "home"];
const PRODUCT_SEGMENTS: &[&str] = &["product", "products", "p", "item", "items", "dp", "sku"];
const ARTICLE_SEGMENTS: &[&str] =
    &["blog", "news", "article", "articles", "post", "posts", "guide", "guides", "story", "stories", "magazine"];
const CATEGORY_SEGMENTS: &[&str] =
    &["category", "categories", "c", "collection", "collections", "shop", "department", "departments", "catalog"];
const LANDING_SEGMENTS: &[&str] = &["lp", "landing", "promo", "promotions", "campaign", "campaigns", "offers", "deals"];

/// Classifies a URL from its path and shape alone, the way the dashboard does while the flag is off.
///
/// The URL is expected normalized (as the importer stores it), but anything with or without a scheme
/// works. Path segments are compared case-insensitively. The page type is the first rule that matches:
/// 1. **search**: a segment `search`, `find` or `results`, or a query parameter `q`, `query`, `s`,
///    `search`, `keyword(s)` or `k`;
/// 2. **home**: no path at all, or a single segment that is `index.html`/`.htm`/`.php`, `home` or a
///    language code (`en`, `de-ch`);
/// 3. **product**: a segment `product(s)`, `p`, `item(s)`, `dp` or `sku`;
/// 4. **article**: a segment `blog`, `news`, `article(s)`, `post(s)`, `guide(s)`, `story`/`stories` or
///    `magazine`, or a date in the path (`/2024/05/`);
/// 5. **category**: a segment `category`/`categories`, `c`, `collection(s)`, `shop`, `department(s)` or
///    `catalog`;
/// 6. **landing**: a segment `lp`, `landing`, `promo(tions)`, `campaign(s)`, `offers` or `deals`;
/// 7. otherwise **other**.
///
/// The tier follows from the page type and the depth (the number of path segments):
/// home is critical; search is low; any other URL with a query string is low (a parameterised variant);
/// category and landing pages are high up to depth 2 and medium below; products are medium; articles
/// are medium up to depth 2 and low below; other pages are medium at depth 1 and low deeper.
pub fn classify(url: &str) -> Classification {
    let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let without_fragment = without_scheme.split('#').next().unwrap_or("");
    let (before_query, query) = match without_fragment.split_once('?') {
        Some((before, query)) => (before, Some(query).filter(|q| !q.is_empty())),
        None => (without_fragment, None),
    };
    let path = before_query.find('/').map_or("", |slash| &before_query[slash..]);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let depth = segments.len();
    let has = |list: &[&str]| segments.iter().any(|s| list.iter().any(|l| l.eq_ignore_ascii_case(s)));
    let search_param = query.is_some_and(|q| {
        q.split('&').any(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            SEARCH_PARAMS.iter().any(|p| p.eq_ignore_ascii_case(name))
        })
    });

    let page_type = if has(SEARCH_SEGMENTS) || search_param {
        PageType::Search
    } else if depth == 0 || (depth == 1 && (has(HOME_SEGMENTS) || is_language(segments[0]))) {
        PageType::Home
    } else if has(PRODUCT_SEGMENTS) {
        PageType::Product
    } else if has(ARTICLE_SEGMENTS) || has_date(&segments) {
        PageType::Article
    } else if has(CATEGORY_SEGMENTS) {
        PageType::Category
    } else if has(LANDING_SEGMENTS) {
        PageType::Landing
    } else {
        PageType::Other
    };

    let tier = match page_type {
        PageType::Home => Tier::Critical,
        PageType::Search => Tier::Low,
        _ if query.is_some() => Tier::Low,
        PageType::Category | PageType::Landing if depth <= 2 => Tier::High,
        PageType::Category | PageType::Landing => Tier::Medium,
        PageType::Product => Tier::Medium,
        PageType::Article if depth <= 2 => Tier::Medium,
        PageType::Article => Tier::Low,
        PageType::Other if depth <= 1 => Tier::Medium,
        PageType::Other => Tier::Low,
    };
    Classification { tier, page_type }
}

/// `en`, `fr`, `de-CH`, `pt_br`: a language home such as `/en/`.
fn is_language(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    let letters = |b: &[u8]| b.iter().all(u8::is_ascii_alphabetic);
    match bytes.len() {
        2 => letters(bytes),
        5 => letters(&bytes[..2]) && matches!(bytes[2], b'-' | b'_') && letters(&bytes[3..]),
        _ => false,
    }
}

/// A year segment (1990-2099) followed by a month segment (1-12), as in `/2024/05/title`.
fn has_date(segments: &[&str]) -> bool {
    segments.windows(2).any(|pair| {
        let year = pair[0].len() == 4 && pair[0].parse::<u16>().is_ok_and(|y| (1990..=2099).contains(&y));
        let month = pair[1].len() <= 2 && pair[1].parse::<u8>().is_ok_and(|m| (1..=12).contains(&m));
        year && month
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, tier: Tier, page_type: PageType) {
        assert_eq!(classify(url), Classification { tier, page_type }, "{url}");
    }

    #[test]
    fn the_home_page_and_language_homes_are_critical() {
        check("https://example.com/", Tier::Critical, PageType::Home);
        check("https://example.com", Tier::Critical, PageType::Home);
        check("https://example.com/index.html", Tier::Critical, PageType::Home);
        check("https://example.com/de-ch/", Tier::Critical, PageType::Home);
        check("https://example.com/en", Tier::Critical, PageType::Home);
    }

    #[test]
    fn search_pages_are_low_by_segment_or_by_query_parameter() {
        check("https://example.com/search?q=shoes", Tier::Low, PageType::Search);
        check("https://example.com/catalog?Q=shoes", Tier::Low, PageType::Search);
        check("https://example.com/Find/shoes", Tier::Low, PageType::Search);
    }

    #[test]
    fn products_are_medium_whatever_their_depth() {
        check("https://shop.example/products/red-shoe", Tier::Medium, PageType::Product);
        check("https://shop.example/women/shoes/p/12345", Tier::Medium, PageType::Product);
    }

    #[test]
    fn categories_and_landing_pages_are_high_near_the_top_and_medium_deeper() {
        check("https://shop.example/category/shoes", Tier::High, PageType::Category);
        check("https://shop.example/collections/summer/sandals/flat", Tier::Medium, PageType::Category);
        check("https://shop.example/lp/black-friday", Tier::High, PageType::Landing);
        check("https://shop.example/campaigns/2020-spring/eu/de", Tier::Medium, PageType::Landing);
    }

    #[test]
    fn articles_are_found_by_segment_or_by_a_date_in_the_path() {
        check("https://example.com/blog/hello", Tier::Medium, PageType::Article);
        check("https://example.com/2024/05/our-news", Tier::Low, PageType::Article);
        check("https://example.com/news/2023/11/launch", Tier::Low, PageType::Article);
    }

    #[test]
    fn a_product_under_a_category_is_a_product_and_a_search_wins_over_everything() {
        check("https://shop.example/shop/products/blue", Tier::Medium, PageType::Product);
        check("https://shop.example/blog/search", Tier::Low, PageType::Search);
    }

    #[test]
    fn a_query_string_makes_other_pages_low() {
        check("https://shop.example/category/shoes?sort=price", Tier::Low, PageType::Category);
        check("https://example.com/about?ref=nav", Tier::Low, PageType::Other);
    }

    #[test]
    fn other_pages_are_medium_at_the_top_level_and_low_deeper() {
        check("https://example.com/about", Tier::Medium, PageType::Other);
        check("https://example.com/company/team/berlin", Tier::Low, PageType::Other);
        // A number that is not a date is just a segment.
        check("https://example.com/3000/13", Tier::Low, PageType::Other);
    }

    #[test]
    fn the_fragment_is_ignored() {
        check("https://example.com/#top", Tier::Critical, PageType::Home);
    }

    #[test]
    fn tiers_and_page_types_parse_loosely_and_name_the_allowed_values_when_wrong() {
        assert_eq!(Tier::parse_loose(" High "), Ok(Tier::High));
        assert_eq!(PageType::parse_loose("PRODUCT"), Ok(PageType::Product));
        let err = Tier::parse_loose("urgent").unwrap_err();
        assert_eq!(err.message, r#"unknown update_priority "urgent": expected one of critical, high, medium, low"#);
        let err = PageType::parse_loose("faq").unwrap_err();
        assert!(err.message.contains("home, category, product, article, landing, search, other"), "{}", err.message);
    }
}
