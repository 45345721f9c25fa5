//! Per-pod route health and in-flight accounting, keyed by `(provider, upstream model)`
//! (every alias that reaches the same upstream shares it).
//!
//! Passive health: failures inside a rolling window eject the route for a cooldown
//! (`base x multiplier`, the multiplier doubling on every re-ejection up to the
//! maximum); when the cooldown ends the route is half-open and lets one probe through
//! at a time; a successful probe makes it healthy again, a failed one re-ejects it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use uuid::Uuid;

/// Health thresholds (gateway flags).
#[derive(Debug, Clone, Copy)]
pub struct HealthConfig {
    /// Failures inside `window` that eject a route (0 disables ejection).
    pub failure_threshold: u32,
    /// The rolling window.
    pub window: Duration,
    /// First cooldown.
    pub base_cooldown: Duration,
    /// Longest cooldown.
    pub max_cooldown: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 10,
            window: Duration::from_secs(60),
            base_cooldown: Duration::from_secs(30),
            max_cooldown: Duration::from_secs(300),
        }
    }
}

/// Why an attempt failed, for the health record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Connect error, timeout, 5xx, 529, broken stream.
    Upstream,
    /// 429s the route's retry settings could not soak up.
    RateLimited,
}

/// The state a route is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Serving as usual.
    Healthy,
    /// Out of rotation until the instant.
    Ejected(Instant),
    /// Letting one probe through.
    HalfOpen,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Ejected(_) => "ejected",
            Self::HalfOpen => "half_open",
        }
    }
}

/// One state change, for `recent_transitions`.
#[derive(Debug, Clone)]
pub struct Transition {
    /// From state.
    pub from: &'static str,
    /// To state.
    pub to: &'static str,
    /// Why.
    pub reason: &'static str,
    /// The rolling window at the time, seconds.
    pub window_secs: u64,
    /// When.
    pub at: Instant,
}

#[derive(Debug)]
struct Inner {
    state: State,
    failures: VecDeque<Instant>,
    consecutive: u32,
    multiplier: u32,
    reason: Option<&'static str>,
    probe_in_flight: bool,
    transitions: VecDeque<Transition>,
    last_change: Instant,
}

/// Health and in-flight count of one `(provider, upstream model)`.
#[derive(Debug)]
pub struct RouteState {
    in_flight: AtomicU32,
    inner: Mutex<Inner>,
}

/// Whether a route may take a request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Yes.
    Open,
    /// Yes, as the half-open probe.
    Probe,
    /// No: ejected (remaining cooldown) or a probe is already out.
    Ejected(Duration),
    /// No: `max_in_flight` reached.
    Saturated,
}

/// A snapshot of one route's health, for the admin API.
#[derive(Debug, Clone)]
pub struct HealthView {
    /// `healthy`, `ejected`, `half_open`.
    pub state: &'static str,
    /// Consecutive failures.
    pub consecutive_failures: u32,
    /// Cooldown multiplier.
    pub multiplier: u32,
    /// Seconds until an ejected route is retried.
    pub eject_remaining_secs: u64,
    /// Requests in flight on this pod.
    pub in_flight: u32,
    /// `rolling_failures` or `rate_limited` while not healthy.
    pub cooldown_reason: Option<&'static str>,
    /// State history, oldest first.
    pub transitions: Vec<Transition>,
}

const MAX_TRANSITIONS: usize = 16;

impl RouteState {
    fn new() -> Self {
        Self {
            in_flight: AtomicU32::new(0),
            inner: Mutex::new(Inner {
                state: State::Healthy,
                failures: VecDeque::new(),
                consecutive: 0,
                multiplier: 1,
                reason: None,
                probe_in_flight: false,
                transitions: VecDeque::new(),
                last_change: Instant::now(),
            }),
        }
    }

    fn transition(inner: &mut Inner, to: State, reason: &'static str, cfg: &HealthConfig, now: Instant) {
        let from = inner.state.name();
        inner.state = to;
        inner.last_change = now;
        if inner.transitions.len() == MAX_TRANSITIONS {
            inner.transitions.pop_front();
        }
        inner.transitions.push_back(Transition {
            from,
            to: to.name(),
            reason,
            window_secs: cfg.window.as_secs(),
            at: now,
        });
    }

    /// Whether the route is usable right now; on `Open`/`Probe` the caller owns an
    /// in-flight slot and must hand it back through the returned guard.
    pub fn admit(self: &Arc<Self>, cap: Option<u32>, cfg: &HealthConfig) -> Result<Permit, Admission> {
        let now = Instant::now();
        let mut probe = false;
        if let Ok(mut inner) = self.inner.lock() {
            if let State::Ejected(until) = inner.state {
                if now < until {
                    return Err(Admission::Ejected(until - now));
                }
                Self::transition(&mut inner, State::HalfOpen, "cooldown_elapsed", cfg, now);
            }
            if inner.state == State::HalfOpen {
                if inner.probe_in_flight {
                    return Err(Admission::Ejected(Duration::from_secs(1)));
                }
                probe = true;
            }
            // Take the in-flight slot under the lock so a probe is never lost to a race.
            let mut cur = self.in_flight.load(Ordering::Acquire);
            loop {
                if cap.is_some_and(|c| cur >= c) {
                    return Err(Admission::Saturated);
                }
                match self.in_flight.compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => break,
                    Err(now_cur) => cur = now_cur,
                }
            }
            if probe {
                inner.probe_in_flight = true;
            }
        }
        Ok(Permit { route: self.clone(), probe, reported: false, cfg: *cfg })
    }

    fn record(&self, outcome: Option<FailureKind>, probe: bool, cfg: &HealthConfig) {
        let now = Instant::now();
        let Ok(mut inner) = self.inner.lock() else { return };
        if probe {
            inner.probe_in_flight = false;
        }
        match outcome {
            None => {
                inner.consecutive = 0;
                if inner.state == State::HalfOpen && probe {
                    Self::transition(&mut inner, State::Healthy, "probe_succeeded", cfg, now);
                    inner.failures.clear();
                    inner.reason = None;
                } else if inner.state == State::Healthy
                    && inner.multiplier > 1
                    && now.duration_since(inner.last_change) > cfg.max_cooldown
                {
                    inner.multiplier = 1; // a long clean stretch forgets old ejections
                }
            }
            Some(kind) => {
                inner.consecutive += 1;
                let reason = match kind {
                    FailureKind::Upstream => "rolling_failures",
                    FailureKind::RateLimited => "rate_limited",
                };
                inner.failures.push_back(now);
                while inner.failures.front().is_some_and(|t| now.duration_since(*t) > cfg.window) {
                    inner.failures.pop_front();
                }
                if cfg.failure_threshold == 0 {
                    return;
                }
                let eject = match inner.state {
                    State::HalfOpen if probe => {
                        inner.multiplier = inner.multiplier.saturating_mul(2);
                        true
                    }
                    State::Healthy => inner.failures.len() >= cfg.failure_threshold as usize,
                    _ => false,
                };
                if eject {
                    let cooldown = cfg.base_cooldown.saturating_mul(inner.multiplier).min(cfg.max_cooldown);
                    inner.reason = Some(reason);
                    Self::transition(&mut inner, State::Ejected(now + cooldown), reason, cfg, now);
                }
            }
        }
    }

    /// Forces the route healthy; returns whether it was ejected (or half-open).
    pub fn reset(&self, cfg: &HealthConfig) -> bool {
        let Ok(mut inner) = self.inner.lock() else { return false };
        let was = inner.state != State::Healthy;
        if was {
            Self::transition(&mut inner, State::Healthy, "manual_reset", cfg, Instant::now());
        }
        inner.failures.clear();
        inner.consecutive = 0;
        inner.multiplier = 1;
        inner.reason = None;
        inner.probe_in_flight = false;
        was
    }

    /// The current view.
    pub fn view(&self) -> HealthView {
        let now = Instant::now();
        let in_flight = self.in_flight.load(Ordering::Acquire);
        let Ok(inner) = self.inner.lock() else {
            return HealthView {
                state: "healthy",
                consecutive_failures: 0,
                multiplier: 1,
                eject_remaining_secs: 0,
                in_flight,
                cooldown_reason: None,
                transitions: Vec::new(),
            };
        };
        let (state, remaining) = match inner.state {
            State::Ejected(until) if until > now => ("ejected", (until - now).as_secs_f64().ceil() as u64),
            State::Ejected(_) => ("half_open", 0),
            s => (s.name(), 0),
        };
        HealthView {
            state,
            consecutive_failures: inner.consecutive,
            multiplier: inner.multiplier,
            eject_remaining_secs: remaining,
            in_flight,
            cooldown_reason: if state == "healthy" { None } else { inner.reason },
            transitions: inner.transitions.iter().cloned().collect(),
        }
    }
}

/// An in-flight slot on a route. Report the outcome with [`Permit::success`] or
/// [`Permit::failure`]; dropping it unreported (a cancelled request) frees the slot
/// and any probe without judging the route.
#[derive(Debug)]
pub struct Permit {
    route: Arc<RouteState>,
    probe: bool,
    reported: bool,
    cfg: HealthConfig,
}

impl Permit {
    /// The attempt succeeded (or the upstream answered a client error).
    pub fn success(&mut self) {
        if !self.reported {
            self.reported = true;
            self.route.record(None, self.probe, &self.cfg);
        }
    }

    /// The attempt failed.
    pub fn failure(&mut self, kind: FailureKind) {
        if !self.reported {
            self.reported = true;
            self.route.record(Some(kind), self.probe, &self.cfg);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.reported
            && self.probe
            && let Ok(mut inner) = self.route.inner.lock()
        {
            inner.probe_in_flight = false;
        }
        self.route.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Every route's state on this pod.
#[derive(Debug, Default)]
pub struct Registry {
    /// provider -> upstream model -> state (looked up by `&str`: no allocation).
    routes: RwLock<HashMap<Uuid, HashMap<String, Arc<RouteState>>>>,
    /// Thresholds.
    pub config: HealthConfig,
}

impl Registry {
    /// A registry with `config`.
    #[must_use]
    pub fn new(config: HealthConfig) -> Self {
        Self { routes: RwLock::default(), config }
    }

    /// The state of `(provider, model)`, created healthy on first use.
    pub fn route(&self, provider: Uuid, model: &str) -> Arc<RouteState> {
        if let Ok(map) = self.routes.read()
            && let Some(r) = map.get(&provider).and_then(|m| m.get(model))
        {
            return r.clone();
        }
        let Ok(mut map) = self.routes.write() else { return Arc::new(RouteState::new()) };
        map.entry(provider).or_default().entry(model.to_owned()).or_insert_with(|| Arc::new(RouteState::new())).clone()
    }

    /// The state of `(provider, model)` if it was ever used.
    pub fn existing(&self, provider: Uuid, model: &str) -> Option<Arc<RouteState>> {
        self.routes.read().ok()?.get(&provider)?.get(model).cloned()
    }

    /// Sum of requests in flight on every route.
    pub fn total_in_flight(&self) -> u64 {
        self.routes
            .read()
            .map(|m| m.values().flat_map(HashMap::values).map(|r| u64::from(r.in_flight.load(Ordering::Acquire))).sum())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> HealthConfig {
        HealthConfig {
            failure_threshold: 2,
            window: Duration::from_secs(60),
            base_cooldown: Duration::from_millis(40),
            max_cooldown: Duration::from_millis(100),
        }
    }

    #[test]
    fn failures_eject_then_half_open_probe_recovers() {
        let c = cfg();
        let r = Arc::new(RouteState::new());
        r.admit(None, &c).unwrap().failure(FailureKind::Upstream);
        assert_eq!(r.view().state, "healthy");
        r.admit(None, &c).unwrap().failure(FailureKind::Upstream);
        assert_eq!(r.view().state, "ejected");
        assert!(matches!(r.admit(None, &c), Err(Admission::Ejected(_))));
        std::thread::sleep(Duration::from_millis(50));
        let mut probe = r.admit(None, &c).unwrap();
        // Only one probe at a time.
        assert!(matches!(r.admit(None, &c), Err(Admission::Ejected(_))));
        probe.success();
        drop(probe);
        assert_eq!(r.view().state, "healthy");
        assert_eq!(r.view().in_flight, 0);
    }

    #[test]
    fn failed_probe_doubles_the_cooldown_up_to_the_max() {
        let c = cfg();
        let r = Arc::new(RouteState::new());
        for _ in 0..2 {
            r.admit(None, &c).unwrap().failure(FailureKind::Upstream);
        }
        std::thread::sleep(Duration::from_millis(50));
        r.admit(None, &c).unwrap().failure(FailureKind::Upstream);
        let v = r.view();
        assert_eq!((v.state, v.multiplier), ("ejected", 2));
        assert!(v.eject_remaining_secs <= 1);
        std::thread::sleep(Duration::from_millis(110));
        r.admit(None, &c).unwrap().failure(FailureKind::RateLimited);
        let v = r.view();
        assert_eq!((v.state, v.multiplier, v.cooldown_reason), ("ejected", 4, Some("rate_limited")));
        // capped at max_cooldown (100 ms), not 160 ms
        std::thread::sleep(Duration::from_millis(110));
        assert!(r.admit(None, &c).is_ok());
    }

    #[test]
    fn cap_saturates_and_dropped_permits_free_slots() {
        let c = cfg();
        let r = Arc::new(RouteState::new());
        let a = r.admit(Some(2), &c).unwrap();
        let _b = r.admit(Some(2), &c).unwrap();
        assert_eq!(r.admit(Some(2), &c).unwrap_err(), Admission::Saturated);
        drop(a);
        assert!(r.admit(Some(2), &c).is_ok());
    }

    #[test]
    fn cancelled_probe_frees_the_probe_without_judging() {
        let c = cfg();
        let r = Arc::new(RouteState::new());
        for _ in 0..2 {
            r.admit(None, &c).unwrap().failure(FailureKind::Upstream);
        }
        std::thread::sleep(Duration::from_millis(50));
        drop(r.admit(None, &c).unwrap());
        assert_eq!(r.view().state, "half_open");
        assert!(r.admit(None, &c).is_ok(), "a new probe may go out");
    }

    #[test]
    fn reset_reports_whether_it_was_ejected() {
        let c = cfg();
        let r = Arc::new(RouteState::new());
        assert!(!r.reset(&c));
        for _ in 0..2 {
            r.admit(None, &c).unwrap().failure(FailureKind::Upstream);
        }
        assert!(r.reset(&c));
        assert_eq!(r.view().state, "healthy");
    }
}
