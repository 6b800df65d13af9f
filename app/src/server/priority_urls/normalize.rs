//! One spelling per URL, so that the same page imported twice is the same row.

/// The longest normalized URL stored (the table's check constraint).
pub const MAX_URL_LEN: usize = 2048;

/// Checks that `raw` is an absolute http(s) URL and returns its normalized form, or the reason it is not.
///
/// Normalization is WHATWG URL parsing (the `url` crate) plus two rules of ours:
/// - scheme and host are lowercased, an internationalized host becomes punycode, the default port is
///   dropped, `.` and `..` segments are resolved, and characters that need it are percent-encoded;
///   an empty path becomes `/`;
/// - the fragment (`#...`) is dropped and an empty query (`?` alone) too: neither names another page;
/// - the path and query keep their case and order (servers may tell them apart).
///
/// URLs carrying a user name or password are refused: credentials have no place in an import file.
pub fn normalize_url(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("the url is empty".into());
    }
    let mut url = url::Url::parse(trimmed).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => {
            "not an absolute URL: it must start with http:// or https://".to_owned()
        }
        other => format!("not a valid URL ({other})"),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("the scheme is {:?}; only http and https URLs are accepted", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL carries a user name or password; remove them".into());
    }
    url.set_fragment(None);
    if url.query() == Some("") {
        url.set_query(None);
    }
    let normalized = String::from(url);
    if normalized.len() > MAX_URL_LEN {
        return Err(format!(
            "the URL is {} characters long after normalization; the limit is {MAX_URL_LEN}",
            normalized.len()
        ));
    }
    Ok(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_and_host_are_lowercased_and_the_default_port_and_fragment_dropped() {
        assert_eq!(normalize_url(" HTTPS://Example.COM:443/A/b?x=1#top ").unwrap(), "https://example.com/A/b?x=1");
        assert_eq!(normalize_url("http://example.com:80").unwrap(), "http://example.com/");
        assert_eq!(normalize_url("http://example.com:8080/").unwrap(), "http://example.com:8080/");
    }

    #[test]
    fn dot_segments_resolve_spaces_are_encoded_and_an_empty_query_goes() {
        assert_eq!(normalize_url("https://example.com/a/./b/../c").unwrap(), "https://example.com/a/c");
        assert_eq!(normalize_url("https://example.com/red shoes?").unwrap(), "https://example.com/red%20shoes");
    }

    #[test]
    fn an_internationalized_host_becomes_punycode() {
        assert_eq!(normalize_url("https://bücher.example/").unwrap(), "https://xn--bcher-kva.example/");
    }

    #[test]
    fn relative_urls_other_schemes_and_credentials_are_refused_with_a_reason() {
        assert!(normalize_url("/products/1").unwrap_err().contains("must start with http"));
        assert!(normalize_url("example.com/x").unwrap_err().contains("must start with http"));
        assert!(normalize_url("ftp://example.com/x").unwrap_err().contains("\"ftp\""));
        assert!(normalize_url("mailto:a@example.com").unwrap_err().contains("\"mailto\""));
        assert!(normalize_url("https://user:pw@example.com/").unwrap_err().contains("user name or password"));
        assert!(normalize_url("http://").unwrap_err().contains("not a valid URL"));
        assert_eq!(normalize_url("  ").unwrap_err(), "the url is empty");
    }

    #[test]
    fn an_overlong_url_is_refused_with_its_length() {
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        let err = normalize_url(&long).unwrap_err();
        assert!(err.contains("2068 characters") && err.contains("2048"), "{err}");
    }
}
