//! Smart models: per request, pick one slot. The token estimate sets a floor (a
//! request above breakpoint `k` may only use slot `k+1` or higher); the determiner
//! model then chooses among the allowed slots from a bounded prefix of the request;
//! on error, timeout or an unusable answer `default_slot_on_failure` is used (never
//! below the floor).

use std::time::Duration;

use serde_json::{Value, json};

use super::Proxy;
use super::snapshot::OrgConfig;
use super::upstream::ChatBody;
pub use crate::api::Decision;
use crate::gateway::store::SmartRow;

/// Upper and lower bounds of a text's token count that need no tokenizer: a BPE token
/// covers at least one byte, and (for the tokenizers in use) at most about 16 bytes
/// on average over any realistic text.
#[must_use]
pub fn token_bounds(text: &str) -> (u64, u64) {
    let bytes = text.len() as u64;
    (bytes.div_ceil(16), bytes)
}

/// A closer estimate by pre-tokenizing the way GPT-style BPE does (runs of letters,
/// digits in groups of three, single punctuation marks, whitespace runs) and charging
/// long words one token per ~4 bytes. An approximation, not a tokenizer: within about
/// 15% of cl100k on English prose and code.
#[must_use]
pub fn pretokenized_estimate(text: &str) -> u64 {
    #[derive(PartialEq, Clone, Copy)]
    enum K {
        Alpha,
        Digit,
        Space,
        Other,
    }
    let kind = |c: char| {
        if c.is_alphabetic() && c.is_ascii() {
            K::Alpha
        } else if c.is_ascii_digit() {
            K::Digit
        } else if c.is_whitespace() {
            K::Space
        } else {
            K::Other
        }
    };
    let mut tokens = 0u64;
    let mut run = 0u64;
    let mut cur: Option<K> = None;
    let flush = |k: Option<K>, run: u64| -> u64 {
        match k {
            Some(K::Alpha) => 1 + run.saturating_sub(1) / 5,
            Some(K::Digit) => run.div_ceil(3),
            Some(K::Space) => u64::from(run > 1),
            _ => 0,
        }
    };
    for c in text.chars() {
        let k = kind(c);
        if k == K::Other {
            tokens += flush(cur, run);
            run = 0;
            cur = None;
            // Non-ASCII letters (CJK and the like) cost about a token each.
            tokens += 1;
            continue;
        }
        if Some(k) == cur {
            run += 1;
        } else {
            tokens += flush(cur, run);
            cur = Some(k);
            run = 1;
        }
    }
    tokens + flush(cur, run)
}

/// Number of breakpoints strictly below `tokens`, capped at the last slot.
fn floor_for(tokens: u64, breakpoints: &[u64], slots: usize) -> usize {
    breakpoints.iter().filter(|b| tokens > **b).count().min(slots.saturating_sub(1))
}

/// The estimate and the floor it implies: the byte bound alone when both bounds
/// land in the same slot, the pre-tokenized estimate only near a breakpoint.
#[must_use]
pub fn estimate(text: &str, breakpoints: &[u64], slots: usize, supplied: Option<u64>) -> (u64, &'static str, usize) {
    if let Some(t) = supplied {
        return (t, "supplied", floor_for(t, breakpoints, slots));
    }
    let (low, high) = token_bounds(text);
    let (f_low, f_high) = (floor_for(low, breakpoints, slots), floor_for(high, breakpoints, slots));
    if f_low == f_high {
        return (text.len().div_ceil(4) as u64, "byte_bound", f_low);
    }
    let t = pretokenized_estimate(text);
    (t, "pretokenized", floor_for(t, breakpoints, slots))
}

/// Reads a slot index from a determiner's answer: the first integer in it, or a
/// slot label named exactly (case-insensitive).
#[must_use]
pub fn parse_choice(answer: &str, labels: &[String]) -> Option<usize> {
    let trimmed = answer.trim().trim_matches(|c: char| c == '"' || c == '\'' || c == '.' || c == '`');
    if let Some(i) = labels.iter().position(|l| l.eq_ignore_ascii_case(trimmed)) {
        return Some(i);
    }
    let digits: String = trimmed.chars().skip_while(|c| !c.is_ascii_digit()).take_while(char::is_ascii_digit).collect();
    if digits.is_empty() || digits.len() > 6 {
        return None;
    }
    // "Slot 1" is fine, "I think 1 or 2" is not.
    let rest_digits = trimmed.chars().filter(char::is_ascii_digit).count();
    if rest_digits != digits.len() {
        return None;
    }
    digits.parse().ok()
}

fn prefix_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

impl Proxy {
    /// Picks a slot for `text` (the request's message text).
    pub async fn decide(&self, cfg: &OrgConfig, smart: &SmartRow, text: &str, supplied: Option<u64>) -> Decision {
        let n = smart.slots.len().max(1);
        let (tokens, method, floor) = estimate(text, &smart.context_breakpoints, n, supplied);
        let label = |i: usize| smart.slots.get(i).map(|s| s.1.clone()).unwrap_or_default();
        let mut d = Decision {
            slot_index: floor,
            slot_label: label(floor),
            reason: "breakpoint_floor".into(),
            floor_slot: floor,
            token_estimate: tokens,
            token_estimate_method: method.into(),
            determiner_output: None,
            determiner_error: None,
            determiner_route: None,
        };
        if floor + 1 >= n {
            return d;
        }
        let fallback = (smart.default_slot_on_failure as usize).clamp(floor, n - 1);
        match self.ask_determiner(cfg, smart, text, floor).await {
            Ok((answer, route)) => {
                d.determiner_route = Some(route);
                let labels: Vec<String> = smart.slots.iter().map(|s| s.1.clone()).collect();
                match parse_choice(&answer, &labels) {
                    Some(i) if i < n && i >= floor => {
                        d.slot_index = i;
                        d.reason = "determiner".into();
                    }
                    Some(i) if i < n => {
                        d.slot_index = floor;
                        d.reason = "determiner_clamped".into();
                    }
                    _ => {
                        d.slot_index = fallback;
                        d.reason = "determiner_failed".into();
                        d.determiner_error = Some(format!("answer names no slot between {floor} and {}", n - 1));
                    }
                }
                d.determiner_output = Some(answer);
            }
            Err(why) => {
                d.slot_index = fallback;
                d.reason = "determiner_failed".into();
                d.determiner_error = Some(why);
            }
        }
        d.slot_label = label(d.slot_index);
        d
    }

    /// One non-streaming call to the determiner alias through normal resolution and
    /// failover, bounded by the determiner timeout. Returns its text and route.
    async fn ask_determiner(
        &self,
        cfg: &OrgConfig,
        smart: &SmartRow,
        text: &str,
        floor: usize,
    ) -> Result<(String, String), String> {
        let candidates = cfg.resolve(&smart.determiner_model_alias);
        if candidates.is_empty() {
            return Err(format!("determiner `{}` has no enabled routes", smart.determiner_model_alias));
        }
        let mut listing = String::new();
        for (i, (_, label)) in smart.slots.iter().enumerate().skip(floor) {
            listing.push_str(&format!("{i}: {label}\n"));
        }
        let system = format!(
            "You route requests to the model best suited to answer them. Slots:\n{listing}\
             Reply with the number of one slot and nothing else."
        );
        let excerpt = prefix_chars(text, smart.determiner_input_max_chars as usize);
        let request = json!({
            "model": smart.determiner_model_alias,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": excerpt}],
            "max_tokens": 8,
            "temperature": 0,
        });
        let body = ChatBody::parse(request.to_string().as_bytes()).map_err(|e| e.message)?;
        let call = async {
            let served = self.dispatch(&candidates, &body).await.map_err(|u| u.error.message)?;
            let status = served.response.status();
            let bytes = axum::body::to_bytes(served.response.into_body(), 1 << 20)
                .await
                .map_err(|e| format!("determiner answer unreadable: {e}"))?;
            if !status.is_success() {
                return Err(format!("determiner answered HTTP {}", status.as_u16()));
            }
            let v: Value = serde_json::from_slice(&bytes).map_err(|_| "determiner answer is not JSON".to_owned())?;
            let content = v["choices"][0]["message"]["content"]
                .as_str()
                .ok_or_else(|| "determiner answer has no choices[0].message.content".to_owned())?;
            Ok((content.to_owned(), served.route))
        };
        match tokio::time::timeout(self.settings.determiner_timeout, call).await {
            Ok(r) => r,
            Err(_) => Err(format!("determiner timed out after {}ms", duration_ms(self.settings.determiner_timeout))),
        }
    }
}

fn duration_ms(d: Duration) -> u128 {
    d.as_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_are_read_leniently_but_not_guessed() {
        let labels = vec!["simple".to_owned(), "complex".to_owned()];
        assert_eq!(parse_choice("1", &labels), Some(1));
        assert_eq!(parse_choice(" Slot 0.\n", &labels), Some(0));
        assert_eq!(parse_choice("\"complex\"", &labels), Some(1));
        assert_eq!(parse_choice("banana", &labels), None);
        assert_eq!(parse_choice("1 or 0", &labels), None);
        assert_eq!(parse_choice("", &labels), None);
    }

    #[test]
    fn byte_bound_decides_far_from_breakpoints_and_refines_near_them() {
        let short = "hello there";
        assert_eq!(estimate(short, &[4000], 2, None).1, "byte_bound");
        assert_eq!(estimate(short, &[4000], 2, None).2, 0);
        let huge = "word ".repeat(100_000); // 500 KB: above 4000 tokens by any bound
        let (_, method, floor) = estimate(&huge, &[4000], 2, None);
        assert_eq!((method, floor), ("byte_bound", 1));
        let near = "word ".repeat(3500); // 17.5 KB: between the bounds of 4000
        let (t, method, floor) = estimate(&near, &[4000], 2, None);
        assert_eq!(method, "pretokenized");
        assert!((3000..=4000).contains(&t), "{t}");
        assert_eq!(floor, 0);
        assert_eq!(estimate("x", &[10, 20], 3, Some(15)), (15, "supplied", 1));
        assert_eq!(estimate("x", &[10, 20], 3, Some(500)).2, 2);
    }

    #[test]
    fn prefix_respects_char_boundaries() {
        assert_eq!(prefix_chars("héllo", 2), "hé");
        assert_eq!(prefix_chars("hi", 10), "hi");
    }
}
