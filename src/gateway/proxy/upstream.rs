//! What goes to an upstream: the request body with only `model` rewritten (every
//! other member is passed through byte for byte), and the URL and auth header of each
//! supported API family.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::error::ProxyError;
use crate::gateway::store::ProviderRow;

/// A chat-completions request body, kept as its top-level members.
#[derive(Debug)]
pub struct ChatBody {
    entries: Vec<(String, Box<RawValue>)>,
    /// The requested model name.
    pub model: String,
    /// `stream: true`.
    pub stream: bool,
}

struct Entries(Vec<(String, Box<RawValue>)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((k, v)) = map.next_entry::<String, Box<RawValue>>()? {
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl ChatBody {
    /// Parses a request body.
    ///
    /// # Errors
    /// 400 for malformed JSON, a body that is not an object, or a missing or
    /// non-string `model`.
    pub fn parse(bytes: &[u8]) -> Result<Self, ProxyError> {
        let Entries(entries) = serde_json::from_slice(bytes).map_err(|e| {
            ProxyError::invalid("invalid_json", format!("request body is not a valid JSON object: {e}"))
        })?;
        let raw_model = entries
            .iter()
            .find(|(k, _)| k == "model")
            .map(|(_, v)| v)
            .ok_or_else(|| ProxyError::invalid("missing_model", "request body lacks `model` (a string)"))?;
        let model: String = serde_json::from_str(raw_model.get()).map_err(|_| {
            ProxyError::invalid("invalid_model", format!("`model` must be a string (got {})", raw_model.get()))
        })?;
        if model.is_empty() {
            return Err(ProxyError::invalid("invalid_model", "`model` must not be empty"));
        }
        let stream = entries.iter().any(|(k, v)| k == "stream" && v.get() == "true");
        Ok(Self { entries, model, stream })
    }

    /// The body with `model` set to `model` (every other member unchanged).
    #[must_use]
    pub fn with_model(&self, model: &str) -> Vec<u8> {
        let len: usize = self.entries.iter().map(|(k, v)| k.len() + v.get().len() + 4).sum();
        let mut out = Vec::with_capacity(len + model.len() + 2);
        out.push(b'{');
        for (i, (k, v)) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // Keys and the model are re-encoded as JSON strings; values are raw.
            let _ = serde_json::to_writer(&mut out, k);
            out.push(b':');
            if k == "model" {
                let _ = serde_json::to_writer(&mut out, model);
            } else {
                out.extend_from_slice(v.get().as_bytes());
            }
        }
        out.push(b'}');
        out
    }

    /// The raw JSON of a member.
    #[must_use]
    pub fn member(&self, name: &str) -> Option<&RawValue> {
        self.entries.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_ref())
    }

    /// The text of every message (string contents and `text` parts), in order, one
    /// message per line: what the determiner and the token estimate look at.
    #[must_use]
    pub fn messages_text(&self) -> String {
        let Some(raw) = self.member("messages") else { return String::new() };
        let Ok(messages) = serde_json::from_str::<Vec<serde_json::Value>>(raw.get()) else { return String::new() };
        let mut out = String::new();
        for m in &messages {
            let mut push = |s: &str| {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(s);
            };
            match &m["content"] {
                serde_json::Value::String(s) => push(s),
                serde_json::Value::Array(parts) => {
                    for p in parts {
                        if let Some(t) = p["text"].as_str() {
                            push(t);
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }
}

/// How to reach one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Full chat-completions URL.
    pub url: String,
    /// Auth header name and value, if the provider has a key.
    pub auth: Option<(&'static str, String)>,
}

/// Azure OpenAI `api-version` when the provider's settings name none.
pub const AZURE_DEFAULT_API_VERSION: &str = "2024-10-21";

/// Default base URL of each OpenAI-compatible family (`custom` has none).
#[must_use]
pub fn default_base_url(model_provider: &str) -> Option<&'static str> {
    Some(match model_provider {
        "openai" => "https://api.openai.com/v1",
        "groq" => "https://api.groq.com/openai/v1",
        "together" => "https://api.together.xyz/v1",
        "mistral" => "https://api.mistral.ai/v1",
        "fireworks" => "https://api.fireworks.ai/inference/v1",
        "deepseek" => "https://api.deepseek.com/v1",
        "xai" => "https://api.x.ai/v1",
        "openrouter" => "https://openrouter.ai/api/v1",
        "perplexity" => "https://api.perplexity.ai",
        _ => return None,
    })
}

/// Why a provider cannot be called (the dispatcher answers 501 when no candidate
/// can).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

/// The chat-completions endpoint of `provider` for `upstream_model`.
///
/// # Errors
/// A family this data plane does not speak yet, or a provider without the base URL
/// its family needs.
pub fn endpoint(provider: &ProviderRow, upstream_model: &str) -> Result<Endpoint, Unsupported> {
    let key = provider.api_key.as_ref().map(|k| k.0.clone()).filter(|_| provider.auth_type != "none");
    let family = provider.model_provider.as_str();
    if family == "azure_openai" {
        let base = provider.base_url.as_deref().ok_or_else(|| {
            Unsupported(format!(
                "provider `{}` (azure_openai) has no base_url (https://<resource>.openai.azure.com)",
                provider.name
            ))
        })?;
        let version =
            provider.settings.get("api_version").and_then(|v| v.as_str()).unwrap_or(AZURE_DEFAULT_API_VERSION);
        let url = format!(
            "{}/openai/deployments/{}/chat/completions?api-version={}",
            base.trim_end_matches('/'),
            percent_encode_segment(upstream_model),
            percent_encode_segment(version)
        );
        return Ok(Endpoint { url, auth: key.map(|k| ("api-key", k)) });
    }
    let base = match (provider.base_url.as_deref(), default_base_url(family)) {
        (Some(b), _) => b,
        (None, Some(d)) => d,
        (None, None) if family == "custom" => {
            return Err(Unsupported(format!("provider `{}` (custom) has no base_url", provider.name)));
        }
        (None, None) => {
            return Err(Unsupported(format!(
                "provider `{}` is of family `{family}`, which this gateway's data plane does not serve yet \
                 (OpenAI-compatible families and azure_openai only)",
                provider.name
            )));
        }
    };
    if default_base_url(family).is_none() && family != "custom" {
        return Err(Unsupported(format!(
            "provider `{}` is of family `{family}`, which this gateway's data plane does not serve yet \
             (OpenAI-compatible families and azure_openai only)",
            provider.name
        )));
    }
    Ok(Endpoint {
        url: format!("{}/chat/completions", base.trim_end_matches('/')),
        auth: key.map(|k| ("authorization", format!("Bearer {k}"))),
    })
}

fn percent_encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::store::Secret;

    fn provider(family: &str, base: Option<&str>) -> ProviderRow {
        ProviderRow {
            id: uuid::Uuid::nil(),
            org_id: uuid::Uuid::nil(),
            name: "p".into(),
            model_provider: family.into(),
            auth_type: "api_key".into(),
            base_url: base.map(str::to_owned),
            enabled: true,
            settings: serde_json::Map::new(),
            catalog_id: None,
            connection_id: None,
            request_timeout_secs: None,
            stream_idle_timeout_secs: None,
            api_key: Some(Secret("sk-1".into())),
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn only_model_is_rewritten_and_everything_else_is_byte_identical() {
        let raw =
            br#"{"model" : "fast","temperature":0.70,"messages":[{"role":"user","content":"hi \u00e9"}],"n":1e2}"#;
        let b = ChatBody::parse(raw).unwrap();
        assert_eq!(b.model, "fast");
        assert!(!b.stream);
        let out = String::from_utf8(b.with_model("gpt-4o")).unwrap();
        assert_eq!(
            out,
            r#"{"model":"gpt-4o","temperature":0.70,"messages":[{"role":"user","content":"hi \u00e9"}],"n":1e2}"#
        );
        assert_eq!(b.messages_text(), "hi é");
    }

    #[test]
    fn bad_bodies_are_400_with_a_code() {
        for (raw, code) in [
            (&b"{"[..], "invalid_json"),
            (b"[1]", "invalid_json"),
            (b"{\"messages\":[]}", "missing_model"),
            (b"{\"model\":5}", "invalid_model"),
            (b"{\"model\":\"\"}", "invalid_model"),
        ] {
            let e = ChatBody::parse(raw).unwrap_err();
            assert_eq!((e.status.as_u16(), e.code), (400, code), "{}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn family_urls_and_auth_headers() {
        let e = endpoint(&provider("openai", None), "gpt-4o").unwrap();
        assert_eq!(e.url, "https://api.openai.com/v1/chat/completions");
        assert_eq!(e.auth, Some(("authorization", "Bearer sk-1".into())));
        let e = endpoint(&provider("custom", Some("http://127.0.0.1:9/v1/")), "m").unwrap();
        assert_eq!(e.url, "http://127.0.0.1:9/v1/chat/completions");
        let e = endpoint(&provider("azure_openai", Some("https://r.openai.azure.com")), "my deploy").unwrap();
        assert_eq!(
            e.url,
            "https://r.openai.azure.com/openai/deployments/my%20deploy/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(e.auth, Some(("api-key", "sk-1".into())));
        let err = endpoint(&provider("anthropic", Some("https://api.anthropic.com/v1")), "claude").unwrap_err();
        assert!(err.0.contains("family `anthropic`"), "{}", err.0);
        assert!(endpoint(&provider("custom", None), "m").is_err());
        let mut none = provider("groq", None);
        none.auth_type = "none".into();
        assert_eq!(endpoint(&none, "m").unwrap().auth, None);
    }
}
