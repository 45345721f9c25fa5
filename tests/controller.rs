//! `switchyard controller` against a real kube-apiserver (v1.20, built from Debian's
//! source by `.ci/kube-apiserver.sh`) and real `switchyard gateway` processes.
//! Resources are created with kubectl; each test has its own namespace, gateway and
//! controller process(es).
//!
//! Needs `SWITCHYARD_KUBECONFIG`. Without it the tests are skipped locally and fail
//! when `SWITCHYARD_REQUIRE_KUBE=1` (`.ci/run` sets both).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use common::{Client, Gateway, token};
use serde_json::Value;
use uuid::Uuid;

struct Kube {
    kubeconfig: PathBuf,
}

fn kube() -> Option<Kube> {
    match std::env::var_os("SWITCHYARD_KUBECONFIG") {
        Some(p) => Some(Kube { kubeconfig: PathBuf::from(p) }),
        None => {
            assert!(
                std::env::var("SWITCHYARD_REQUIRE_KUBE").as_deref() != Ok("1"),
                "SWITCHYARD_REQUIRE_KUBE=1 but SWITCHYARD_KUBECONFIG is not set"
            );
            eprintln!("skipped: set SWITCHYARD_KUBECONFIG (see .ci/kube-apiserver.sh)");
            None
        }
    }
}

static CRDS: Once = Once::new();

impl Kube {
    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        let mut child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl");
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl(args, stdin);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A fresh namespace with the CRDs installed.
    fn namespace(&self) -> String {
        CRDS.call_once(|| {
            let crds = concat!(env!("CARGO_MANIFEST_DIR"), "/crds");
            // 1.20 has no CEL: kubectl's client-side validation rejects x-kubernetes-validations.
            self.ok(&["apply", "--validate=false", "-f", crds], None);
            for crd in ["providers", "modelroutes", "smartmodels"] {
                self.ok(
                    &["wait", "--for=condition=Established", "--timeout=60s", &format!("crd/{crd}.switchyard.dev")],
                    None,
                );
            }
        });
        let ns = format!("sy-{}", &Uuid::new_v4().simple().to_string()[..10]);
        self.ok(&["create", "namespace", &ns], None);
        ns
    }

    fn apply(&self, ns: &str, yaml: &str) {
        self.ok(&["apply", "-n", ns, "-f", "-"], Some(yaml));
    }

    fn get(&self, ns: &str, what: &str) -> Option<Value> {
        let out = self.kubectl(&["get", "-n", ns, what, "-o", "json"], None);
        out.status.success().then(|| serde_json::from_slice(&out.stdout).unwrap())
    }
}

/// A fresh namespace, a gateway, an org and an admin client for it.
fn setup(k: &Kube) -> (String, Gateway, Uuid, Client) {
    let ns = k.namespace();
    let g = Gateway::start();
    let org = Uuid::new_v4();
    let c = Client::new(&g, org, "admin");
    (ns, g, org, c)
}

/// A controller process. Killed on drop.
struct Controller {
    child: Child,
    metrics: String,
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Controller {
    fn start(k: &Kube, g: &Gateway, org: Uuid, ns: &str, identity: &str, resync_secs: u64) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
        cmd.args(["controller", "--gateway", &g.api(), "--namespace", ns, "--lease-namespace", ns])
            .args(["--identity", identity, "--metrics-listen", "127.0.0.1:0", "--debounce-ms", "100"])
            .args(["--resync-secs", &resync_secs.to_string(), "--lease-duration-secs", "3"])
            .env("SWITCHYARD_TOKEN", token(org, "admin"))
            .env("KUBECONFIG", &k.kubeconfig)
            .env("SWITCHYARD_LOG", "info,kube_client::client::tls=error")
            .stderr(Stdio::inherit());
        let (child, metrics) = common::spawn_announcing(cmd, "metrics on ");
        Self { child, metrics }
    }

    fn metric(&self, name: &str) -> u64 {
        let text = common::blocking_get(&format!("{}/metrics", self.metrics));
        text.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
    }

    fn ready(&self) -> bool {
        let url = format!("{}/readyz", self.metrics);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async { reqwest::get(&url).await.is_ok_and(|r| r.status() == 200) })
        })
        .join()
        .unwrap()
    }
}

fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `(status, reason, message, observedGeneration)` of the Ready condition.
fn ready_of(v: &Value) -> Option<(String, String, String, i64)> {
    let c = v["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == "Ready")?.clone();
    Some((
        c["status"].as_str()?.to_owned(),
        c["reason"].as_str()?.to_owned(),
        c["message"].as_str()?.to_owned(),
        v["status"]["observedGeneration"].as_i64()?,
    ))
}

fn wait_ready(k: &Kube, ns: &str, what: &str, status: &str, reason: &str) -> Value {
    wait_for(&format!("{what} Ready={status} ({reason})"), Duration::from_secs(30), || {
        let v = k.get(ns, what)?;
        let (s, r, _, g) = ready_of(&v)?;
        (s == status && r == reason && Some(g) == v["metadata"]["generation"].as_i64()).then_some(v)
    })
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// (provider names, enablements `p/m`, alias rows `alias->p/m@priority` (0-based, sorted as text), smart aliases)
fn gateway_state(c: &Client) -> (Vec<String>, Vec<String>, Vec<String>, Vec<String>) {
    let s = block_on(c.snapshot());
    let names: std::collections::HashMap<String, String> = s["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap().to_owned(), p["name"].as_str().unwrap().to_owned()))
        .collect();
    let mut providers: Vec<String> = names.values().cloned().collect();
    providers.sort();
    let mut enablements = Vec::new();
    let mut aliases = Vec::new();
    for r in s["routes"].as_array().unwrap() {
        let p = &names[r["provider_id"].as_str().unwrap()];
        let (alias, model) = (r["model_alias"].as_str().unwrap(), r["upstream_model"].as_str().unwrap());
        if alias == model {
            enablements.push(format!("{p}/{model}"));
        } else {
            aliases.push(format!("{alias}->{p}/{model}@{}", r["priority"]));
        }
    }
    enablements.sort();
    aliases.sort();
    let mut smart: Vec<String> =
        s["smart"].as_array().unwrap().iter().map(|m| m["model_alias"].as_str().unwrap().to_owned()).collect();
    smart.sort();
    (providers, enablements, aliases, smart)
}

const PROVIDER: &str = "apiVersion: switchyard.dev/v1alpha1
kind: Provider
metadata:
  name: openai
spec:
  modelProvider: openai
  apiKey: { secretKeyRef: { name: openai, key: api-key } }
  models: [gpt-4o, gpt-4o-mini]
";

const SECRET: &str = "apiVersion: v1
kind: Secret
metadata:
  name: openai
stringData:
  api-key: sk-first
";

const ROUTE: &str = "apiVersion: switchyard.dev/v1alpha1
kind: ModelRoute
metadata:
  name: chat
spec:
  targets:
    - { provider: openai, model: gpt-4o }
    - { provider: openai, model: gpt-4o-mini }
";

const SMART: &str = "apiVersion: switchyard.dev/v1alpha1
kind: SmartModel
metadata:
  name: smart
spec:
  determiner: openai/gpt-4o-mini
  slots:
    - { alias: openai/gpt-4o-mini, label: simple }
    - { alias: chat, label: complex }
  defaultSlotOnFailure: 1
";

#[test]
fn create_edit_delete_reach_the_gateway_with_status() {
    let Some(k) = kube() else { return };
    let (ns, g, org, c) = setup(&k);
    // A foreign object on the gateway: the controller must never touch it.
    block_on(c.provider("hand-made", &["m1"]));
    let ctl = Controller::start(&k, &g, org, &ns, "c1", 60);
    k.apply(&ns, SECRET);
    k.apply(&ns, &format!("{PROVIDER}---\n{ROUTE}---\n{SMART}"));
    let route = wait_ready(&k, &ns, "modelroute/chat", "True", "Applied");
    wait_ready(&k, &ns, "provider/openai", "True", "Applied");
    wait_ready(&k, &ns, "smartmodel/smart", "True", "Applied");
    assert_eq!(route["status"]["observedGeneration"], 1);
    assert_eq!(route["status"]["chain"][0]["model"], "gpt-4o");
    assert_eq!(route["status"]["chain"][1]["model"], "gpt-4o-mini");
    assert_eq!(route["status"]["gatewayIds"].as_array().unwrap().len(), 2);
    wait_for("finalizer", Duration::from_secs(10), || {
        let v = k.get(&ns, "modelroute/chat")?;
        v["metadata"]["finalizers"].as_array()?.iter().any(|f| f == "switchyard.dev/cleanup").then_some(())
    });
    let (providers, enablements, aliases, smart) = gateway_state(&c);
    assert_eq!(providers, ["hand-made", "openai"]);
    assert_eq!(enablements, ["hand-made/m1", "openai/gpt-4o", "openai/gpt-4o-mini"]);
    assert_eq!(aliases, ["chat->openai/gpt-4o-mini@1", "chat->openai/gpt-4o@0"]);
    assert_eq!(smart, ["smart"]);
    wait_for("readyz", Duration::from_secs(10), || ctl.ready().then_some(()));

    // Edit: swap the order -> one reorder on the gateway, observedGeneration 2.
    k.apply(
        &ns,
        &ROUTE.replace(
            "model: gpt-4o }\n    - { provider: openai, model: gpt-4o-mini }",
            "model: gpt-4o-mini }\n    - { provider: openai, model: gpt-4o }",
        ),
    );
    let route = wait_for("generation 2 applied", Duration::from_secs(30), || {
        let v = k.get(&ns, "modelroute/chat")?;
        (v["status"]["observedGeneration"] == 2 && v["status"]["chain"][0]["model"] == "gpt-4o-mini").then_some(v)
    });
    assert_eq!(ready_of(&route).unwrap().0, "True");
    let (_, _, aliases, _) = gateway_state(&c);
    assert_eq!(aliases, ["chat->openai/gpt-4o-mini@0", "chat->openai/gpt-4o@1"]);

    // Delete the smart model, then the route: exactly their rows go.
    k.ok(&["delete", "-n", &ns, "smartmodel/smart", "--wait=true", "--timeout=30s"], None);
    k.ok(&["delete", "-n", &ns, "modelroute/chat", "--wait=true", "--timeout=30s"], None);
    let (providers, enablements, aliases, smart) = gateway_state(&c);
    assert_eq!(providers, ["hand-made", "openai"]);
    assert_eq!(enablements, ["hand-made/m1", "openai/gpt-4o", "openai/gpt-4o-mini"]);
    assert!(aliases.is_empty(), "{aliases:?}");
    assert!(smart.is_empty());
    k.ok(&["delete", "-n", &ns, "provider/openai", "--wait=true", "--timeout=30s"], None);
    let (providers, enablements, _, _) = gateway_state(&c);
    assert_eq!(providers, ["hand-made"]);
    assert_eq!(enablements, ["hand-made/m1"]);
    assert!(ctl.metric("switchyard_controller_reconciles_total") > 0);
}

#[test]
fn drift_is_repaired_and_a_restart_writes_nothing() {
    let Some(k) = kube() else { return };
    let (ns, g, org, c) = setup(&k);
    let ctl = Controller::start(&k, &g, org, &ns, "c1", 2);
    k.apply(&ns, SECRET);
    k.apply(&ns, &format!("{PROVIDER}---\n{ROUTE}"));
    wait_ready(&k, &ns, "modelroute/chat", "True", "Applied");
    // Drift: delete an alias row directly on the gateway; the next resync restores it.
    let s = block_on(c.snapshot());
    let row = s["routes"].as_array().unwrap().iter().find(|r| r["model_alias"] == "chat").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(block_on(c.delete(&format!("/admin/model-mappings/{row}"))).status, 200);
    wait_for("drift repaired", Duration::from_secs(15), || (gateway_state(&c).2.len() == 2).then_some(()));
    drop(ctl);
    // Restart: the first passes find nothing to do.
    let writes = g.writes();
    let ctl = Controller::start(&k, &g, org, &ns, "c1", 2);
    wait_for("restarted controller ready", Duration::from_secs(20), || ctl.ready().then_some(()));
    std::thread::sleep(Duration::from_secs(3)); // at least one resync more
    assert!(ctl.metric("switchyard_controller_reconciles_total") >= 2);
    assert_eq!(g.writes(), writes, "a restart with nothing changed must not write");
}

#[test]
fn secret_rotation_reaches_the_gateway_and_a_missing_secret_is_reported() {
    let Some(k) = kube() else { return };
    let (ns, g, org, c) = setup(&k);
    let _ctl = Controller::start(&k, &g, org, &ns, "c1", 60);
    k.apply(&ns, &format!("{PROVIDER}---\n{ROUTE}"));
    let p = wait_ready(&k, &ns, "provider/openai", "False", "SecretNotFound");
    assert!(ready_of(&p).unwrap().2.contains("Secret `"), "{p}");
    wait_ready(&k, &ns, "modelroute/chat", "False", "WaitingForDependency");
    assert!(gateway_state(&c).0.is_empty(), "nothing applied without the key");
    // The Secret exists but lacks the key.
    k.apply(&ns, &SECRET.replace("api-key:", "other-key:"));
    let p = wait_for("SecretNotFound for the missing key", Duration::from_secs(30), || {
        let v = k.get(&ns, "provider/openai")?;
        ready_of(&v)?.2.contains("has no key `api-key`").then_some(v)
    });
    assert_eq!(ready_of(&p).unwrap().1, "SecretNotFound");
    assert!(gateway_state(&c).0.is_empty(), "nothing applied without the key");
    k.apply(&ns, SECRET);
    wait_ready(&k, &ns, "provider/openai", "True", "Applied");
    wait_ready(&k, &ns, "modelroute/chat", "True", "Applied");
    let hash = |c: &Client| {
        let s = block_on(c.snapshot());
        s["providers"][0]["settings"]["switchyard_key_sha256"].as_str().unwrap_or_default().to_owned()
    };
    let sha = |v: &str| switchyard::model::digest::sha256_hex(v.as_bytes());
    assert_eq!(hash(&c), sha("sk-first"));
    k.apply(&ns, &SECRET.replace("sk-first", "sk-second"));
    wait_for("rotated key on the gateway", Duration::from_secs(20), || (hash(&c) == sha("sk-second")).then_some(()));
    // The key never appears in status or events.
    let all = k.ok(&["get", "-n", &ns, "providers,modelroutes,events", "-o", "json"], None);
    assert!(!all.contains("sk-first") && !all.contains("sk-second"));
}

#[test]
fn bad_resources_are_rejected_alone_and_waiting_ones_become_ready() {
    let Some(k) = kube() else { return };
    let (ns, g, org, c) = setup(&k);
    let _ctl = Controller::start(&k, &g, org, &ns, "c1", 60);
    // A route to a provider that does not exist yet waits.
    k.apply(&ns, "apiVersion: switchyard.dev/v1alpha1\nkind: ModelRoute\nmetadata: { name: early }\nspec:\n  alias: early\n  targets: [{ provider: later, model: m1 }]\n");
    let v = wait_ready(&k, &ns, "modelroute/early", "False", "WaitingForDependency");
    assert!(ready_of(&v).unwrap().2.contains("unknown provider `later`"), "{v}");
    // A rule the 1.20 API server cannot check (CEL): '/' in an alias.
    k.apply(&ns, "apiVersion: switchyard.dev/v1alpha1\nkind: ModelRoute\nmetadata: { name: slashed }\nspec:\n  alias: a/b\n  targets: [{ provider: later, model: m1 }]\n");
    let v = wait_ready(&k, &ns, "modelroute/slashed", "False", "ValidationFailed");
    assert!(ready_of(&v).unwrap().2.contains("spec.alias"), "{v}");
    // The provider appears: the waiting route becomes Ready by itself.
    k.apply(&ns, "apiVersion: switchyard.dev/v1alpha1\nkind: Provider\nmetadata: { name: later }\nspec:\n  modelProvider: custom\n  baseUrl: http://127.0.0.1:9/v1\n  models: [m1]\n");
    wait_ready(&k, &ns, "modelroute/early", "True", "Applied");
    // Two routes claim one alias: the later one is rejected, the first keeps serving.
    std::thread::sleep(Duration::from_millis(1100)); // creationTimestamp has 1 s resolution
    k.apply(&ns, "apiVersion: switchyard.dev/v1alpha1\nkind: ModelRoute\nmetadata: { name: copycat }\nspec:\n  alias: early\n  targets: [{ provider: later, model: m1 }]\n");
    let v = wait_ready(&k, &ns, "modelroute/copycat", "False", "Conflict");
    assert!(ready_of(&v).unwrap().2.contains("declared more than once"), "{v}");
    assert_eq!(ready_of(&k.get(&ns, "modelroute/early").unwrap()).unwrap().0, "True");
    let (_, _, aliases, _) = gateway_state(&c);
    assert_eq!(aliases, ["early->later/m1@0"]);
    assert_eq!(ready_of(&k.get(&ns, "modelroute/slashed").unwrap()).unwrap().1, "ValidationFailed");
}

#[test]
fn gateway_outage_is_reported_and_a_delete_during_it_completes_after() {
    let Some(k) = kube() else { return };
    let ns = k.namespace();
    let dir = tempfile::tempdir().unwrap();
    let g = Gateway::start_in(dir.path());
    let org = Uuid::new_v4();
    let ctl = Controller::start(&k, &g, org, &ns, "c1", 60);
    k.apply(&ns, "apiVersion: switchyard.dev/v1alpha1\nkind: Provider\nmetadata: { name: p }\nspec:\n  modelProvider: custom\n  baseUrl: http://127.0.0.1:9/v1\n  models: [m1, m2]\n---\napiVersion: switchyard.dev/v1alpha1\nkind: ModelRoute\nmetadata: { name: r }\nspec:\n  targets: [{ provider: p, model: m1 }, { provider: p, model: m2 }]\n");
    wait_ready(&k, &ns, "modelroute/r", "True", "Applied");
    // The gateway goes down; the next pass (an edit triggers one) reports it.
    let base = g.base.clone();
    g.kill();
    k.apply(&ns, "apiVersion: switchyard.dev/v1alpha1\nkind: ModelRoute\nmetadata: { name: r2 }\nspec:\n  targets: [{ provider: p, model: m2 }]\n");
    wait_for("GatewayUnavailable", Duration::from_secs(30), || {
        let (s, r, _, _) = ready_of(&k.get(&ns, "modelroute/r")?)?;
        (s == "False" && r == "GatewayUnavailable").then_some(())
    });
    // Deleting while the gateway is down: the finalizer holds the resource.
    k.ok(&["delete", "-n", &ns, "modelroute/r", "--wait=false"], None);
    std::thread::sleep(Duration::from_secs(2));
    assert!(k.get(&ns, "modelroute/r").is_some(), "the finalizer must wait for the gateway");
    // The gateway comes back on the same port and database: everything converges.
    let port = base.rsplit(':').next().unwrap().to_owned();
    let g = start_gateway_on(dir.path(), &port);
    let c = Client::new(&g, org, "admin");
    wait_for("deleted after recovery", Duration::from_secs(60), || k.get(&ns, "modelroute/r").is_none().then_some(()));
    wait_ready(&k, &ns, "modelroute/r2", "True", "Applied");
    let (_, _, aliases, _) = gateway_state(&c);
    assert_eq!(aliases, ["r2->p/m2@0"]);
    assert!(ctl.metric("switchyard_controller_reconciles_total") > 0);
}

/// A gateway on a fixed port (to come back where the controller expects it).
fn start_gateway_on(dir: &std::path::Path, port: &str) -> Gateway {
    Gateway::start_in_listening(dir, &format!("127.0.0.1:{port}"), &[])
}

#[test]
fn two_replicas_each_reconcile_their_gateway_and_one_writes_status() {
    let Some(k) = kube() else { return };
    let ns = k.namespace();
    let (g1, g2) = (Gateway::start(), Gateway::start());
    let org = Uuid::new_v4();
    let c1 = Controller::start(&k, &g1, org, &ns, "replica-1", 60);
    let c2 = Controller::start(&k, &g2, org, &ns, "replica-2", 60);
    k.apply(&ns, "apiVersion: switchyard.dev/v1alpha1\nkind: Provider\nmetadata: { name: p }\nspec:\n  modelProvider: custom\n  baseUrl: http://127.0.0.1:9/v1\n  models: [m1]\n---\napiVersion: switchyard.dev/v1alpha1\nkind: ModelRoute\nmetadata: { name: r }\nspec:\n  targets: [{ provider: p, model: m1 }]\n");
    wait_ready(&k, &ns, "modelroute/r", "True", "Applied");
    for g in [&g1, &g2] {
        let c = Client::new(g, org, "admin");
        wait_for("both sidecars reconciled", Duration::from_secs(20), || {
            (gateway_state(&c).2 == ["r->p/m1@0"]).then_some(())
        });
    }
    let lease = k.get(&ns, "lease/switchyard-controller").unwrap();
    let holder = lease["spec"]["holderIdentity"].as_str().unwrap().to_owned();
    assert!(holder == "replica-1" || holder == "replica-2", "{lease}");
    // Only the holder wrote status and finalizers (each replica patches under its own
    // field manager name).
    let status_writers = || {
        let r = k.ok(&["get", "-n", &ns, "modelroute/r", "-o", "json", "--show-managed-fields"], None);
        let v: Value = serde_json::from_str(&r).unwrap();
        let mut m: Vec<String> = v["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["manager"].as_str().unwrap_or("").starts_with("switchyard-"))
            .map(|m| m["manager"].as_str().unwrap().to_owned())
            .collect();
        m.sort();
        m.dedup();
        m
    };
    assert_eq!(status_writers(), [format!("switchyard-{holder}")]);
    // The leader goes away: the other takes over and keeps status current.
    let (leader, follower) = if holder == "replica-1" { (c1, c2) } else { (c2, c1) };
    drop(leader);
    k.apply(&ns, "apiVersion: switchyard.dev/v1alpha1\nkind: ModelRoute\nmetadata: { name: r }\nspec:\n  targets: [{ provider: p, model: m1, maxInFlight: 5 }]\n");
    wait_for("new leader writes status", Duration::from_secs(30), || {
        let v = k.get(&ns, "modelroute/r")?;
        (v["status"]["observedGeneration"] == 2).then_some(())
    });
    let lease = k.get(&ns, "lease/switchyard-controller").unwrap();
    assert_ne!(lease["spec"]["holderIdentity"].as_str().unwrap(), holder);
    assert!(follower.metric("switchyard_controller_reconciles_total") > 0);
    assert_eq!(status_writers().len(), 2, "the new leader wrote under its own name");
}

#[test]
fn the_kubernetes_example_applies_to_live_routes_and_deletes_cleanly() {
    let Some(k) = kube() else { return };
    let (ns, g, org, c) = setup(&k);
    let _ctl = Controller::start(&k, &g, org, &ns, "c1", 60);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/kubernetes");
    k.ok(&["apply", "-n", &ns, "-f", dir], None);
    for what in [
        "provider/openai-k8s",
        "provider/mock-k8s",
        "modelroute/k8s-chat",
        "modelroute/k8s-fast",
        "smartmodel/k8s-smart",
    ] {
        wait_ready(&k, &ns, what, "True", "Applied");
    }
    let table = k.ok(&["get", "-n", &ns, "modelroutes"], None);
    assert!(table.contains("ALIAS") && table.contains("READY") && table.contains("k8s-chat"), "{table}");
    assert!(
        k.kubectl(&["wait", "-n", &ns, "--for=condition=Ready", "modelroute/k8s-chat", "--timeout=10s"], None)
            .status
            .success()
    );
    let (providers, _, aliases, smart) = gateway_state(&c);
    assert_eq!(providers, ["mock-k8s", "openai-k8s"]);
    assert_eq!(aliases.len(), 5, "{aliases:?}");
    assert_eq!(smart, ["k8s-smart"]);
    k.ok(&["delete", "-n", &ns, "-f", dir, "--wait=true", "--timeout=60s"], None);
    let (providers, enablements, aliases, smart) = gateway_state(&c);
    assert!(providers.is_empty() && enablements.is_empty() && aliases.is_empty() && smart.is_empty());
}
