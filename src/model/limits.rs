//! Numeric ranges shared by the validator, the CRD schema and the gateway's admin API.
//!
//! One definition per range: the YAML validator, the generated schemas (through
//! `schemars(range(...))` attributes that name these constants) and the gateway's
//! request checks all read the same numbers.

/// An inclusive integer range with the wire name of the field it bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// Smallest accepted value.
    pub min: i64,
    /// Largest accepted value.
    pub max: i64,
}

impl Range {
    /// Whether `v` lies inside the range.
    #[must_use]
    pub fn contains(&self, v: i64) -> bool {
        (self.min..=self.max).contains(&v)
    }

    /// `v` as `u32` when inside the range, otherwise a message such as
    /// `must be between 0 and 10 (got 11)`.
    ///
    /// # Errors
    /// When `v` is outside the range.
    pub fn check(&self, v: i64) -> Result<u32, String> {
        if self.contains(v) { u32::try_from(v).map_err(|_| self.describe(v)) } else { Err(self.describe(v)) }
    }

    fn describe(&self, v: i64) -> String {
        format!("must be between {} and {} (got {v})", self.min, self.max)
    }

    /// `between A and B`, for "expected" texts.
    #[must_use]
    pub fn expected(&self) -> String {
        format!("an integer between {} and {}", self.min, self.max)
    }
}

pub const RETRY_ON_429_COUNT_MIN: i64 = 0;
pub const RETRY_ON_429_COUNT_MAX: i64 = 10;
pub const RETRY_ON_429_MAX_WAIT_MIN: i64 = 0;
pub const RETRY_ON_429_MAX_WAIT_MAX: i64 = 180;
pub const REQUEST_TIMEOUT_MIN: i64 = 1;
pub const REQUEST_TIMEOUT_MAX: i64 = 3600;
pub const STREAM_IDLE_TIMEOUT_MIN: i64 = 1;
pub const STREAM_IDLE_TIMEOUT_MAX: i64 = 1800;
pub const MAX_IN_FLIGHT_MIN: i64 = 1;
pub const MAX_IN_FLIGHT_MAX: i64 = 10000;
pub const DETERMINER_INPUT_MAX_CHARS_MIN: i64 = 1;
pub const DETERMINER_INPUT_MAX_CHARS_MAX: i64 = 100_000;
pub const CONTEXT_BREAKPOINT_MIN: i64 = 1;
pub const CONTEXT_BREAKPOINT_MAX: i64 = 100_000_000;
pub const PRIORITY_MIN: i64 = 0;
pub const PRIORITY_MAX: i64 = 1_000_000;

/// `retryOn429.count` / `retry_on_429_count`.
pub const RETRY_ON_429_COUNT: Range = Range { min: RETRY_ON_429_COUNT_MIN, max: RETRY_ON_429_COUNT_MAX };
/// `retryOn429.maxWaitSecs` / `retry_on_429_max_wait_secs` (0 = built-in wait).
pub const RETRY_ON_429_MAX_WAIT_SECS: Range = Range { min: RETRY_ON_429_MAX_WAIT_MIN, max: RETRY_ON_429_MAX_WAIT_MAX };
/// `requestTimeoutSecs` / `request_timeout_secs`.
pub const REQUEST_TIMEOUT_SECS: Range = Range { min: REQUEST_TIMEOUT_MIN, max: REQUEST_TIMEOUT_MAX };
/// `streamIdleTimeoutSecs` / `stream_idle_timeout_secs`.
pub const STREAM_IDLE_TIMEOUT_SECS: Range = Range { min: STREAM_IDLE_TIMEOUT_MIN, max: STREAM_IDLE_TIMEOUT_MAX };
/// `maxInFlight` / `max_in_flight` (per gateway pod).
pub const MAX_IN_FLIGHT: Range = Range { min: MAX_IN_FLIGHT_MIN, max: MAX_IN_FLIGHT_MAX };
/// `determinerInputMaxChars` / `determiner_input_max_chars`.
pub const DETERMINER_INPUT_MAX_CHARS: Range =
    Range { min: DETERMINER_INPUT_MAX_CHARS_MIN, max: DETERMINER_INPUT_MAX_CHARS_MAX };
/// One entry of `contextBreakpoints` (a token count).
pub const CONTEXT_BREAKPOINT: Range = Range { min: CONTEXT_BREAKPOINT_MIN, max: CONTEXT_BREAKPOINT_MAX };
/// Route `priority` on the wire.
pub const PRIORITY: Range = Range { min: PRIORITY_MIN, max: PRIORITY_MAX };

/// `determiner_input_max_chars` the gateway stores when none is given (the plan
/// normalises a missing value to it, so both sides must agree: one definition).
pub const DEFAULT_DETERMINER_INPUT_MAX_CHARS: u32 = 2000;

/// The auth type the gateway stores for an API family when none is given (shared with
/// the plan's normalisation for the same reason).
#[must_use]
pub fn default_auth_type(model_provider: &str) -> &'static str {
    match model_provider {
        "bedrock" => "aws_role",
        "vertex" => "google_adc",
        _ => "api_key",
    }
}

/// Longest alias or model name accepted.
pub const MAX_NAME_LEN: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_are_accepted_and_one_past_each_edge_is_rejected() {
        assert_eq!(RETRY_ON_429_COUNT.check(0), Ok(0));
        assert_eq!(RETRY_ON_429_COUNT.check(10), Ok(10));
        assert_eq!(RETRY_ON_429_COUNT.check(11), Err("must be between 0 and 10 (got 11)".to_owned()));
        assert!(RETRY_ON_429_COUNT.check(-1).is_err());
        assert!(MAX_IN_FLIGHT.check(0).is_err());
        assert_eq!(MAX_IN_FLIGHT.check(10000), Ok(10000));
    }
}
