//! Syntax rules for names: Kubernetes object names, aliases, model names, env vars.

use super::limits::MAX_NAME_LEN;

/// Checks a Kubernetes `metadata.name` (RFC 1123 DNS subdomain).
///
/// # Errors
/// A message saying what is wrong, ready to follow the field path.
pub fn check_k8s_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if name.len() > 253 {
        return Err(format!("is {} characters long, more than 253", name.len()));
    }
    let ok_chars = name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let ends_ok = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !ok_chars || !ends_ok(name.bytes().next()) || !ends_ok(name.bytes().last()) {
        return Err(format!("{name:?} is not a valid Kubernetes object name"));
    }
    Ok(())
}

/// What a Kubernetes name must look like, for "expected" texts.
pub const K8S_NAME_EXPECTED: &str =
    "lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters";

/// Checks an alias (custom route alias or smart-model alias): non-empty, no `/`,
/// no whitespace or control characters.
///
/// # Errors
/// A message saying what is wrong.
pub fn check_alias(alias: &str) -> Result<(), String> {
    check_token(alias)?;
    if alias.contains('/') {
        return Err(format!("{alias:?} contains '/', which is reserved for `<provider>/<model>` addressing"));
    }
    Ok(())
}

/// Checks an upstream model name or provider name: non-empty, printable, no whitespace.
/// Model names may contain `/` (for example OpenRouter's `meta-llama/llama-3-70b`).
///
/// # Errors
/// A message saying what is wrong.
pub fn check_token(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if s.len() > MAX_NAME_LEN {
        return Err(format!("is {} characters long, more than {MAX_NAME_LEN}", s.len()));
    }
    // Same set as the OpenAPI pattern `[^\s\x00-\x1f\x7f-\x9f]` (ECMAScript `\s`
    // also covers U+FEFF).
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control() || *c == '\u{feff}') {
        return Err(format!("{s:?} contains the character {c:?}; whitespace and control characters are not allowed"));
    }
    Ok(())
}

/// Checks an environment variable name (`[A-Za-z_][A-Za-z0-9_]*`).
///
/// # Errors
/// A message saying what is wrong.
pub fn check_env_name(s: &str) -> Result<(), String> {
    let mut bytes = s.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if first_ok && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(())
    } else {
        Err(format!("{s:?} is not a valid environment variable name"))
    }
}

/// Checks a Secret data key (`[-._a-zA-Z0-9]+`).
///
/// # Errors
/// A message saying what is wrong.
pub fn check_secret_key(s: &str) -> Result<(), String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)) {
        Ok(())
    } else {
        Err(format!("{s:?} is not a valid Secret key (letters, digits, '-', '_' and '.')"))
    }
}

/// Checks an HTTP(S) base URL: scheme, a host name or IPv4 address (letters,
/// digits, '-', '.'), an optional port, an optional path without whitespace.
/// (IPv6 literals are not accepted; give the upstream a host name.)
/// Mirrors the OpenAPI pattern `BASE_URL_PATTERN`.
///
/// # Errors
/// A message saying what is wrong.
pub fn check_base_url(s: &str) -> Result<(), String> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| format!("{s:?} is not an http:// or https:// URL"))?;
    let bad = || format!("{s:?} is not a valid URL (expected http(s)://host[:port][/path])");
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    let labels_ok = !host.is_empty()
        && host.split('.').all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if !labels_ok {
        return Err(bad());
    }
    if let Some(p) = port
        && (p.is_empty() || p.len() > 5 || !p.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(bad());
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\u{feff}') {
        return Err(bad());
    }
    Ok(())
}

/// The JSON Schema pattern equivalent of [`check_base_url`].
pub const BASE_URL_PATTERN: &str =
    r"^https?://[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:[0-9]{1,5})?(/[^\s\x00-\x1f\x7f-\x9f]*)?$";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_names_follow_rfc_1123() {
        assert!(check_k8s_name("openai-prod").is_ok());
        assert!(check_k8s_name("a.b-c1").is_ok());
        assert!(check_k8s_name("OpenAI").is_err());
        assert!(check_k8s_name("-lead").is_err());
        assert!(check_k8s_name("trail-").is_err());
        assert!(check_k8s_name("under_score").is_err());
        assert!(check_k8s_name(&"a".repeat(254)).is_err());
    }

    #[test]
    fn aliases_reject_slash_and_whitespace() {
        assert!(check_alias("team-coding-model").is_ok());
        assert!(check_alias("GPT 4").is_err());
        assert!(check_alias("openai/gpt-4o").unwrap_err().contains("'/'"));
        assert!(check_token("meta-llama/llama-3").is_ok());
    }

    #[test]
    fn env_names_and_urls() {
        assert!(check_env_name("OPENAI_API_KEY").is_ok());
        assert!(check_env_name("1BAD").is_err());
        assert!(check_base_url("https://api.openai.com/v1").is_ok());
        assert!(check_base_url("ftp://x").is_err());
        assert!(check_base_url("https://").is_err());
        assert!(check_base_url("http://[").is_err());
        assert!(check_base_url("http://127.0.0.1:8000/v1").is_ok());
        assert!(check_base_url("http://[::1]:8080/v1").is_err());
        assert!(check_base_url("http://a..b").is_err());
        assert!(check_base_url("http://host:99999999").is_err());
    }
}
