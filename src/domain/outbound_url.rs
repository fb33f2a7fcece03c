//! The shape every address Cowry will call must have — a provider account's `baseUrl`, a merchant's
//! webhook endpoint: http(s) with a host, no user name or password (secrets go where they are sealed),
//! and https when real money is involved. Whether the address may be reached (private networks) is the
//! outbound guard's question, asked when it is called.

/// `Err` says, in words for the merchant, what is wrong with `url` (`live`: https is required).
pub fn check(url: &str, live: bool) -> Result<reqwest::Url, &'static str> {
    let parsed = reqwest::Url::parse(url).map_err(|_| "must be an http:// or https:// URL")?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host_str().is_none()
        // What the documented pattern's `\s` means (ECMAScript: Unicode white space and U+FEFF, which
        // URL parsing would silently drop from a host).
        || url.contains(|c: char| c.is_whitespace() || c == '\u{feff}')
    {
        return Err("must be an http:// or https:// URL");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry a user name or password");
    }
    if live && parsed.scheme() != "https" {
        return Err("must be an https:// URL in live mode");
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn outbound_addresses_are_http_with_a_host_no_userinfo_and_https_when_live() {
        assert!(check("https://api.paystack.co", true).is_ok());
        assert!(check("http://example.com/hooks", false).is_ok());
        assert!(check("http://example.com/hooks", true).is_err());
        assert!(check("ftp://example.com", false).is_err());
        assert!(check("https://user:pw@example.com", false).is_err());
        assert!(check("https://example.com/a b", false).is_err());
        assert!(check("https://exa\u{feff}mple.com", false).is_err());
        assert!(check("not a url", false).is_err());
    }
}
