#!/usr/bin/env python3
"""Tests for the Helm chart in charts/switchyard (no helm CLI needed).

    python tests/chart/test_chart.py [--kubeconfig PATH]

Needs the packages pinned in tests/chart/requirements.txt (helm-python-sdk renders and
lints the chart with Helm's own engine; kubernetes-validate checks the rendered objects
against the Kubernetes OpenAPI schemas). What it checks:

* `helm lint --strict` passes for the default values and every value set below;
* values.schema.json accepts those value sets and rejects bad ones;
* the rendered objects (at Kubernetes 1.25 and 1.37) pass `kubernetes-validate --strict`,
  and so do the chart's CRDs and the built-in objects of examples/kubernetes/;
* properties of the rendered objects: containers, flags, probes, security context,
  volumes, least-privilege RBAC (exact rules, no wildcards), Service, PDB,
  ServiceMonitor, the JWT Secret;
* charts/switchyard/crds/ holds exactly the files of crds/ (generated from the Rust
  types), byte for byte;
* with a kubeconfig (`--kubeconfig`, or SWITCHYARD_KUBECONFIG): `kubectl apply
  --dry-run=server` of every rendered value set and of examples/kubernetes/ against that
  API server, after applying crds/ for real. Without one the part is skipped, unless
  SWITCHYARD_REQUIRE_KUBE=1, which makes it a failure.

Exits 1 on any failure; the last line is "chart: N passed, N failed".
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any, Callable

import yaml

try:
    import helm_python as helm
    from helm_python import _native
except ImportError:  # pragma: no cover - environment problem, reported plainly
    sys.exit("helm-python-sdk is missing: pip install -r tests/chart/requirements.txt")

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "charts" / "switchyard"
CRDS_DIR = ROOT / "crds"
EXAMPLES_DIR = ROOT / "examples" / "kubernetes"
RELEASE = "sy"
NAMESPACE = "switchyard-chart-test"
JWT_PATH = "/etc/switchyard/jwt/secret"
GROUP = "switchyard.dev"
KINDS = ("providers", "modelroutes", "smartmodels")
# Kinds that are custom resources, not built-in: kubernetes-validate has no schema for
# them (the Prometheus Operator's ServiceMonitor), and a bare test API server has no CRD
# for them, so they are left out of both kubernetes-validate and the server dry-run.
CRD_KINDS = {"ServiceMonitor"}
# The oldest and newest versions kubernetes-validate ships schemas for (1.25..1.37).
VALIDATE_VERSIONS = ("1.25.0", "1.37.0")

# -- value sets ------------------------------------------------------------------------

VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    # One namespace, three replicas, metrics, keyless runtime, an existing JWT Secret.
    "namespaced": {
        "watchNamespace": "switchyard-chart-team-a",
        "replicas": 3,
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        "gateway": {"runtimeAuth": "none"},
        "jwt": {"existingSecret": "my-jwt", "key": "hs256"},
    },
    # One replica: no PodDisruptionBudget, no default anti-affinity.
    "single": {"replicas": 1},
    # Bring-your-own ServiceAccount and RBAC, extra flags, another image, a name override.
    "custom": {
        "fullnameOverride": "llm-gw",
        "image": {"repository": "registry.example.com/switchyard", "tag": "0.2.0", "pullPolicy": "Always"},
        "imagePullSecrets": [{"name": "registry"}],
        "serviceAccount": {"create": False, "name": "existing-sa"},
        "rbac": {"create": False},
        "podDisruptionBudget": {"enabled": False},
        "gateway": {
            "runtimeKeys": {"existingSecret": "team-keys", "key": "keys.txt"},
            "extraArgs": ["--default-request-timeout-secs", "300"],
            "extraEnv": [{"name": "SWITCHYARD_SQLITE_SYNC", "value": "full"}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": 1, "memory": "1Gi"}},
        },
        "controller": {"resyncSecs": 30, "extraArgs": ["--debounce-ms", "500"]},
        "service": {"type": "LoadBalancer", "port": 80, "annotations": {"example.com/lb": "internal"}},
        "logLevel": "info,switchyard=debug",
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "llm", "operator": "Exists", "effect": "NoSchedule"}],
        "terminationGracePeriodSeconds": 120,
    },
}

BAD_VALUES: dict[str, dict[str, Any]] = {
    "replicas as a string": {"replicas": "two"},
    "negative replicas": {"replicas": -1},
    "unknown top-level key": {"replica": 2},
    "unknown nested key": {"gateway": {"runtimeAuthh": "none"}},
    "unknown runtimeAuth": {"gateway": {"runtimeAuth": "maybe"}},
    "bad pullPolicy": {"image": {"pullPolicy": "Sometimes"}},
    "watchNamespace not a DNS label": {"watchNamespace": "Team_A"},
    "unknown service type": {"service": {"type": "ExternalName"}},
    "port out of range": {"service": {"port": 70000}},
    "resources with an unknown key": {"controller": {"resources": {"request": {"cpu": "1"}}}},
    "serviceMonitor.enabled not a boolean": {"serviceMonitor": {"enabled": "yes"}},
}

# -- a tiny test runner ------------------------------------------------------------------


class Failure(Exception):
    """A failed expectation."""


def expect(cond: bool, message: str) -> None:
    if not cond:
        raise Failure(message)


def expect_eq(actual: Any, wanted: Any, what: str) -> None:
    if actual != wanted:
        raise Failure(f"{what}: got {actual!r}, want {wanted!r}")


class Runner:
    def __init__(self) -> None:
        self.passed = 0
        self.failed: list[str] = []
        self.skipped = 0

    def run(self, name: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Failure as e:
            self.failed.append(name)
            print(f"FAIL {name}: {e}", flush=True)
        except Exception:  # noqa: BLE001 - any error is a failed check, with its trace
            self.failed.append(name)
            print(f"FAIL {name}: unexpected error\n{traceback.format_exc()}", flush=True)
        else:
            self.passed += 1
            print(f"ok   {name}", flush=True)

    def skip(self, name: str, why: str) -> None:
        self.skipped += 1
        print(f"skip {name}: {why}", flush=True)


# -- rendering -------------------------------------------------------------------------


def load_chart() -> helm.Chart:
    return helm.Chart.load(str(CHART_DIR))


def render(chart: helm.Chart, values: dict[str, Any], kube_version: str | None = None) -> dict[str, str]:
    """Renders like `helm install --dry-run` (offline: `lookup` finds nothing).

    `Chart.render` in helm-python-sdk 0.2.2 has no kube_version argument, though the
    library's render options take one; it is passed through the same native call.
    """
    opts: dict[str, Any] = {"name": RELEASE, "namespace": NAMESPACE, "is_install": True}
    if kube_version:
        opts["kube_version"] = kube_version
    out = _native.call_string("helm_render", chart._raw(), json.dumps(values), json.dumps(opts))  # noqa: SLF001
    rendered: dict[str, str] = json.loads(out)
    return rendered


def objects_of(rendered: dict[str, str]) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt") or not path.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(text):
            if doc is None:
                continue
            expect(isinstance(doc, dict) and "kind" in doc, f"{path}: a document without a kind: {doc!r}")
            objs.append(doc)
    return objs


class Objects:
    """The rendered objects, looked up by kind and name."""

    def __init__(self, objs: list[dict[str, Any]]):
        self.all = objs

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.all if o["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [o for o in self.of(kind) if name is None or o["metadata"]["name"] == name]
        expect(len(found) == 1, f"expected one {kind}{' ' + name if name else ''}, found {len(found)}")
        return found[0]

    def names(self, kind: str) -> list[str]:
        return sorted(o["metadata"]["name"] for o in self.of(kind))


def merged(chart: helm.Chart, values: dict[str, Any]) -> dict[str, Any]:
    return chart.merge_values(copy.deepcopy(values))


# -- checks on one rendering -----------------------------------------------------------

SECURITY_CONTEXT = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
}


def fullname(v: dict[str, Any]) -> str:
    if v["fullnameOverride"]:
        return str(v["fullnameOverride"])
    return RELEASE if "switchyard" in RELEASE else f"{RELEASE}-switchyard"


def containers_of(deploy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    cs = deploy["spec"]["template"]["spec"]["containers"]
    return {c["name"]: c for c in cs}


def flag(args: list[str], name: str) -> str | None:
    """The value after `name` in `args` (None when absent); fails when repeated."""
    idx = [i for i, a in enumerate(args) if a == name]
    expect(len(idx) <= 1, f"{name} given {len(idx)} times in {args}")
    if not idx:
        return None
    expect(idx[0] + 1 < len(args), f"{name} has no value in {args}")
    return args[idx[0] + 1]


def check_deployment(objs: Objects, v: dict[str, Any], app_version: str) -> None:
    name = fullname(v)
    deploy = objs.one("Deployment", name)
    expect_eq(deploy["metadata"]["namespace"], NAMESPACE, "Deployment namespace")
    expect_eq(deploy["spec"]["replicas"], v["replicas"], "replicas")
    pod = deploy["spec"]["template"]["spec"]
    selector = deploy["spec"]["selector"]["matchLabels"]
    labels = deploy["spec"]["template"]["metadata"]["labels"]
    expect(selector.items() <= labels.items(), f"pod labels {labels} do not carry the selector {selector}")

    cs = containers_of(deploy)
    expect_eq(sorted(cs), ["controller", "gateway"], "container names")
    image = f"{v['image']['repository']}:{v['image']['tag'] or app_version}"
    for cname, c in cs.items():
        expect_eq(c["image"], image, f"{cname} image")
        expect_eq(c["imagePullPolicy"], v["image"]["pullPolicy"], f"{cname} imagePullPolicy")
        sc = c.get("securityContext") or {}
        for k, want in SECURITY_CONTEXT.items():
            expect_eq(sc.get(k), want, f"{cname} securityContext.{k}")
        expect_eq(sc.get("capabilities", {}).get("drop"), ["ALL"], f"{cname} capabilities.drop")
        expect_eq(sc.get("seccompProfile", {}).get("type"), "RuntimeDefault", f"{cname} seccompProfile")
        expect(not sc.get("privileged"), f"{cname} is privileged")
        res = c.get("resources") or {}
        expect("requests" in res and "memory" in res["requests"] and "cpu" in res["requests"],
               f"{cname} has no cpu/memory requests: {res}")
        want_res = v[cname]["resources"]
        expect_eq(res, want_res, f"{cname} resources")
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
        expect("/etc/switchyard/jwt" in mounts and mounts["/etc/switchyard/jwt"].get("readOnly") is True,
               f"{cname} does not mount the JWT secret read-only: {mounts}")
        env = {e["name"]: e for e in c.get("env", [])}
        expect_eq(env.get("SWITCHYARD_LOG", {}).get("value"), v["logLevel"], f"{cname} SWITCHYARD_LOG")
        for e in v[cname]["extraEnv"]:
            expect_eq(env.get(e["name"]), e, f"{cname} extra env {e['name']}")

    psc = pod.get("securityContext") or {}
    expect_eq(psc.get("runAsNonRoot"), True, "pod securityContext.runAsNonRoot")
    expect_eq(psc.get("runAsUser"), 65532, "pod securityContext.runAsUser")
    expect_eq(psc.get("seccompProfile", {}).get("type"), "RuntimeDefault", "pod seccompProfile")

    # gateway
    g = cs["gateway"]
    gargs = g["args"]
    expect_eq(gargs[0], "gateway", "gateway subcommand")
    expect_eq(flag(gargs, "--listen"), "0.0.0.0:8080", "gateway --listen")
    expect_eq(flag(gargs, "--db"), "/data/gateway.db", "gateway --db")
    expect_eq(flag(gargs, "--jwt-secret-file"), JWT_PATH, "gateway --jwt-secret-file")
    expect_eq(flag(gargs, "--runtime-auth"), v["gateway"]["runtimeAuth"], "gateway --runtime-auth")
    keys_secret = v["gateway"]["runtimeKeys"]["existingSecret"]
    expect_eq(
        flag(gargs, "--runtime-keys-file"),
        "/etc/switchyard/runtime-keys/keys" if keys_secret else None,
        "gateway --runtime-keys-file",
    )
    keys_volumes = [vol for vol in pod["volumes"] if vol["name"] == "runtime-keys"]
    if keys_secret:
        expect_eq(keys_volumes[0]["secret"]["secretName"], keys_secret, "runtime-keys volume Secret")
        expect_eq(keys_volumes[0]["secret"]["items"], [{"key": v["gateway"]["runtimeKeys"]["key"], "path": "keys"}], "runtime-keys items")
        expect(any(m["name"] == "runtime-keys" for m in g["volumeMounts"]), "gateway mounts runtime-keys")
    else:
        expect_eq(keys_volumes, [], "no runtime-keys volume without runtimeKeys.existingSecret")
    extra = v["gateway"]["extraArgs"]
    expect(gargs[len(gargs) - len(extra):] == extra if extra else True, f"gateway extraArgs missing: {gargs}")
    expect_eq([(p["name"], p["containerPort"]) for p in g["ports"]], [("http", 8080)], "gateway ports")
    expect_eq(g["livenessProbe"]["httpGet"], {"path": "/healthz", "port": "http"}, "gateway livenessProbe")
    expect_eq(g["readinessProbe"]["httpGet"], {"path": "/readyz", "port": "http"}, "gateway readinessProbe")
    gmounts = {m["mountPath"]: m["name"] for m in g["volumeMounts"]}
    expect_eq(gmounts.get("/data"), "data", "gateway /data mount")

    # controller
    c = cs["controller"]
    cargs = c["args"]
    expect_eq(cargs[0], "controller", "controller subcommand")
    expect_eq(flag(cargs, "--gateway"), "http://127.0.0.1:8080/api/llm-gateway", "controller --gateway")
    expect_eq(flag(cargs, "--jwt-secret-file"), JWT_PATH, "controller --jwt-secret-file")
    expect_eq(flag(cargs, "--metrics-listen"), "0.0.0.0:9091", "controller --metrics-listen")
    expect_eq(flag(cargs, "--namespace"), v["watchNamespace"] or None, "controller --namespace")
    expect_eq(flag(cargs, "--resync-secs"), str(v["controller"]["resyncSecs"]), "controller --resync-secs")
    expect_eq(flag(cargs, "--lease-name"), name, "controller --lease-name")
    extra = v["controller"]["extraArgs"]
    expect(cargs[len(cargs) - len(extra):] == extra if extra else True, f"controller extraArgs missing: {cargs}")
    env = {e["name"]: e for e in c["env"]}
    expect_eq(env.get("POD_NAME", {}).get("valueFrom"), {"fieldRef": {"fieldPath": "metadata.name"}}, "POD_NAME")
    expect_eq(env.get("POD_NAMESPACE", {}).get("valueFrom"), {"fieldRef": {"fieldPath": "metadata.namespace"}},
              "POD_NAMESPACE")
    expect_eq([(p["name"], p["containerPort"]) for p in c["ports"]], [("metrics", 9091)], "controller ports")
    expect_eq(c["livenessProbe"]["httpGet"], {"path": "/healthz", "port": "metrics"}, "controller livenessProbe")
    expect_eq(c["readinessProbe"]["httpGet"], {"path": "/readyz", "port": "metrics"}, "controller readinessProbe")

    # volumes
    vols = {vol["name"]: vol for vol in pod["volumes"]}
    expect("emptyDir" in vols.get("data", {}), f"/data is not an emptyDir: {vols.get('data')}")
    jwt_secret = v["jwt"]["existingSecret"] or f"{name}-jwt"
    expect_eq(vols["jwt"]["secret"]["secretName"], jwt_secret, "JWT secret volume")
    expect_eq(vols["jwt"]["secret"]["items"], [{"key": v["jwt"]["key"], "path": "secret"}], "JWT secret items")

    # service account
    sa = v["serviceAccount"]["name"] or name
    expect_eq(pod["serviceAccountName"], sa, "serviceAccountName")
    expect_eq(objs.names("ServiceAccount"), [sa] if v["serviceAccount"]["create"] else [], "ServiceAccounts")

    # scheduling
    aff = pod.get("affinity")
    if v["replicas"] > 1 and not v["affinity"]:
        expect(aff is not None and "podAntiAffinity" in aff, "no default pod anti-affinity with replicas > 1")
    elif v["replicas"] <= 1 and not v["affinity"]:
        expect(aff is None, f"unexpected affinity with one replica: {aff}")
    expect_eq(pod.get("nodeSelector"), v["nodeSelector"] or None, "nodeSelector")
    expect_eq(pod.get("tolerations"), v["tolerations"] or None, "tolerations")
    expect_eq(pod.get("imagePullSecrets"), v["imagePullSecrets"] or None, "imagePullSecrets")
    expect_eq(pod["terminationGracePeriodSeconds"], v["terminationGracePeriodSeconds"], "terminationGracePeriodSeconds")


def check_jwt_secret(objs: Objects, v: dict[str, Any]) -> None:
    name = fullname(v)
    deploy = objs.one("Deployment", name)
    annotations = deploy["spec"]["template"]["metadata"].get("annotations") or {}
    if v["jwt"]["existingSecret"]:
        expect_eq(objs.names("Secret"), [], "Secrets rendered with jwt.existingSecret")
        expect("checksum/jwt" not in annotations, "checksum/jwt set for an existing Secret")
        return
    secret = objs.one("Secret", f"{name}-jwt")
    expect_eq(secret["metadata"]["namespace"], NAMESPACE, "JWT Secret namespace")
    data = secret["data"][v["jwt"]["key"]]
    raw = base64.b64decode(data)
    expect(len(raw) == 48 and raw.decode().isalnum(), f"JWT secret is not 48 alphanumerics: {raw!r}")
    expect_eq(annotations.get("checksum/jwt"), hashlib.sha256(data.encode()).hexdigest(),
              "checksum/jwt (must hash the Secret's value)")


def check_service(objs: Objects, v: dict[str, Any]) -> None:
    name = fullname(v)
    svc = objs.one("Service", name)
    expect_eq(svc["spec"]["type"], v["service"]["type"], "Service type")
    expect_eq(svc["spec"]["ports"], [{"name": "http", "port": v["service"]["port"], "targetPort": "http",
                                      "protocol": "TCP"}], "Service ports")
    pod_labels = objs.one("Deployment", name)["spec"]["template"]["metadata"]["labels"]
    expect(svc["spec"]["selector"].items() <= pod_labels.items(), "Service selector does not match the pods")
    expect_eq(svc["metadata"].get("annotations"), v["service"]["annotations"] or None, "Service annotations")


def check_pdb(objs: Objects, v: dict[str, Any]) -> None:
    pdbs = objs.of("PodDisruptionBudget")
    if v["podDisruptionBudget"]["enabled"] and v["replicas"] > 1:
        expect_eq(len(pdbs), 1, "PodDisruptionBudgets")
        expect_eq(pdbs[0]["spec"], {"maxUnavailable": 1, "selector": objs.one("Deployment")["spec"]["selector"]},
                  "PDB spec")
    else:
        expect_eq(pdbs, [], "PodDisruptionBudgets")


def check_service_monitor(objs: Objects, v: dict[str, Any]) -> None:
    name = fullname(v)
    sms = objs.of("ServiceMonitor")
    if not v["serviceMonitor"]["enabled"]:
        expect_eq(sms, [], "ServiceMonitors")
        expect_eq(objs.names("Service"), [name], "Services")
        return
    sm = objs.one("ServiceMonitor", name)
    expect_eq(sm["apiVersion"], "monitoring.coreos.com/v1", "ServiceMonitor apiVersion")
    for k, val in v["serviceMonitor"]["labels"].items():
        expect_eq(sm["metadata"]["labels"].get(k), val, f"ServiceMonitor label {k}")
    eps = {e["port"]: e for e in sm["spec"]["endpoints"]}
    expect_eq(sorted(eps), ["http", "metrics"], "ServiceMonitor endpoint ports")
    for e in eps.values():
        expect_eq(e["path"], "/metrics", "ServiceMonitor path")
        expect_eq(e["interval"], v["serviceMonitor"]["interval"], "ServiceMonitor interval")
    msvc = objs.one("Service", f"{name}-metrics")
    sel = sm["spec"]["selector"]["matchLabels"]
    expect(sel.items() <= msvc["metadata"]["labels"].items(), "ServiceMonitor does not select the metrics Service")
    main = objs.one("Service", name)
    expect(not sel.items() <= main["metadata"]["labels"].items(), "ServiceMonitor also selects the runtime Service")
    ports = {p["name"]: (p["port"], p["targetPort"]) for p in msvc["spec"]["ports"]}
    expect_eq(ports, {"http": (8080, "http"), "metrics": (9091, "metrics")}, "metrics Service ports")
    expect_eq(sm["spec"]["namespaceSelector"], {"matchNames": [NAMESPACE]}, "ServiceMonitor namespaceSelector")


def rule_triples(rules: list[dict[str, Any]]) -> set[tuple[str, str, str, tuple[str, ...]]]:
    out = set()
    for r in rules:
        names = tuple(r.get("resourceNames") or ())
        for g in r.get("apiGroups", []):
            for res in r.get("resources", []):
                for verb in r.get("verbs", []):
                    out.add((g, res, verb, names))
    return out


def expected_main_rules() -> set[tuple[str, str, str, tuple[str, ...]]]:
    want = set()
    for k in KINDS:
        for verb in ("get", "list", "watch", "update", "patch"):
            want.add((GROUP, k, verb, ()))
        for sub in ("status", "finalizers"):
            for verb in ("update", "patch"):
                want.add((GROUP, f"{k}/{sub}", verb, ()))
    for verb in ("get", "list", "watch"):
        want.add(("", "secrets", verb, ()))
    for g in ("", "events.k8s.io"):
        for verb in ("create", "patch"):
            want.add((g, "events", verb, ()))
    return want


def check_rbac(objs: Objects, v: dict[str, Any]) -> None:
    name = fullname(v)
    roles = objs.of("Role") + objs.of("ClusterRole")
    bindings = objs.of("RoleBinding") + objs.of("ClusterRoleBinding")
    for r in roles:
        for rule in r.get("rules", []):
            for field in ("verbs", "resources", "apiGroups"):
                expect("*" not in rule.get(field, []), f"{r['kind']} {r['metadata']['name']}: wildcard in {field}")
            expect("nonResourceURLs" not in rule, f"{r['kind']} {r['metadata']['name']}: nonResourceURLs")
    if not v["rbac"]["create"]:
        expect_eq(roles + bindings, [], "RBAC objects with rbac.create=false")
        return
    sa = v["serviceAccount"]["name"] or name
    ns = v["watchNamespace"]
    if ns:
        expect_eq(objs.of("ClusterRole") + objs.of("ClusterRoleBinding"), [], "cluster-wide RBAC with watchNamespace")
        main = objs.one("Role", name)
        binding = objs.one("RoleBinding", name)
        expect_eq(main["metadata"]["namespace"], ns, "main Role namespace")
        expect_eq(binding["metadata"]["namespace"], ns, "main RoleBinding namespace")
        expect_eq(binding["roleRef"], {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                  "main RoleBinding roleRef")
    else:
        main = objs.one("ClusterRole", name)
        binding = objs.one("ClusterRoleBinding", name)
        expect_eq(binding["roleRef"], {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                  "ClusterRoleBinding roleRef")
    expect_eq(rule_triples(main["rules"]), expected_main_rules(), f"{main['kind']} rules")
    expect_eq(binding["subjects"], [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}],
              f"{binding['kind']} subjects")

    lease_role = objs.one("Role", f"{name}-leader-election")
    expect_eq(lease_role["metadata"]["namespace"], NAMESPACE, "leader-election Role namespace")
    expect_eq(rule_triples(lease_role["rules"]), {
        ("coordination.k8s.io", "leases", "create", ()),
        ("coordination.k8s.io", "leases", "get", (name,)),
        ("coordination.k8s.io", "leases", "update", (name,)),
    }, "leader-election Role rules")
    lease_binding = objs.one("RoleBinding", f"{name}-leader-election")
    expect_eq(lease_binding["metadata"]["namespace"], NAMESPACE, "leader-election RoleBinding namespace")
    expect_eq(lease_binding["roleRef"]["name"], f"{name}-leader-election", "leader-election RoleBinding roleRef")
    expect_eq(lease_binding["subjects"], [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}],
              "leader-election RoleBinding subjects")
    expect_eq(len(roles), 2, "Roles and ClusterRoles")
    expect_eq(len(bindings), 2, "RoleBindings and ClusterRoleBindings")


def check_namespaces_and_labels(objs: Objects, v: dict[str, Any]) -> None:
    for o in objs.all:
        kind, meta = o["kind"], o["metadata"]
        if kind in ("ClusterRole", "ClusterRoleBinding"):
            expect("namespace" not in meta, f"{kind} {meta['name']} has a namespace")
        elif kind in ("Role", "RoleBinding") and meta["name"] == fullname(v):
            expect_eq(meta.get("namespace"), v["watchNamespace"], f"{kind} {meta['name']} namespace")
        else:
            expect_eq(meta.get("namespace"), NAMESPACE, f"{kind} {meta['name']} namespace")
        labels = meta.get("labels") or {}
        expect_eq(labels.get("app.kubernetes.io/instance"), RELEASE, f"{kind} {meta['name']} instance label")
        expect_eq(labels.get("app.kubernetes.io/managed-by"), "Helm", f"{kind} {meta['name']} managed-by label")
        expect(len(meta["name"]) <= 63, f"{kind} name longer than 63: {meta['name']}")


def check_rendering(chart: helm.Chart, values: dict[str, Any]) -> None:
    v = merged(chart, values)
    objs = Objects(objects_of(render(chart, values)))
    app_version = chart.metadata["appVersion"]
    check_deployment(objs, v, app_version)
    check_jwt_secret(objs, v)
    check_service(objs, v)
    check_pdb(objs, v)
    check_service_monitor(objs, v)
    check_rbac(objs, v)
    check_namespaces_and_labels(objs, v)
    kinds = sorted({o["kind"] for o in objs.all})
    allowed = {"ServiceAccount", "Secret", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Deployment",
               "Service", "PodDisruptionBudget", "ServiceMonitor"}
    expect(set(kinds) <= allowed, f"unexpected kinds rendered: {set(kinds) - allowed}")


# -- other checks ----------------------------------------------------------------------


def check_lint(values: dict[str, Any]) -> None:
    report = helm.lint(str(CHART_DIR), copy.deepcopy(values), strict=True, namespace=NAMESPACE)
    problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    expect(not report.get("errors") and not problems,
           "helm lint --strict: " + json.dumps({"errors": report.get("errors"), "messages": problems}, indent=1))


def check_schema_accepts(chart: helm.Chart) -> None:
    expect(chart.schema is not None, "the chart has no values.schema.json")
    expect_eq(chart.schema.get("additionalProperties"), False, "schema top-level additionalProperties")
    chart.validate_schema(chart.values)
    for name, values in VALUE_SETS.items():
        try:
            chart.validate_schema(merged(chart, values))
        except helm.HelmValuesError as e:
            raise Failure(f"value set {name!r} rejected: {e}") from e


def check_schema_levels(chart: helm.Chart) -> None:
    """Every object the schema defines properties for is closed (additionalProperties: false)."""
    open_objects: list[str] = []

    def walk(node: dict[str, Any], path: str) -> None:
        if "properties" in node:
            if node.get("additionalProperties") is not False:
                open_objects.append(path or "/")
            for key, sub in node["properties"].items():
                walk(sub, f"{path}/{key}")

    walk(chart.schema or {}, "")
    expect(not open_objects, f"schema objects that accept unknown keys: {open_objects}")


def check_schema_rejects(chart: helm.Chart) -> None:
    accepted = []
    for name, values in BAD_VALUES.items():
        try:
            chart.validate_schema(merged(chart, values))
        except helm.HelmValuesError:
            continue
        accepted.append(name)
    expect(not accepted, f"values.schema.json accepted bad values: {accepted}")
    try:
        render(chart, {"replicas": "two"})
    except helm.HelmValuesError:
        pass
    else:
        raise Failure("rendering with replicas: 'two' succeeded (the schema is not enforced)")


def check_chart_metadata(chart: helm.Chart) -> None:
    md = chart.metadata
    expect_eq(md.get("apiVersion"), "v2", "Chart.yaml apiVersion")
    expect_eq(md.get("name"), "switchyard", "Chart.yaml name")
    expect_eq(str(md.get("appVersion")), "0.1.0", "Chart.yaml appVersion")
    cargo = (ROOT / "Cargo.toml").read_text()
    expect(f'version = "{md.get("appVersion")}"' in cargo.split("[dependencies]")[0],
           "Chart.yaml appVersion differs from the crate version in Cargo.toml")
    v = chart.values
    expect_eq(v["image"]["repository"], "ghcr.io/switchyard-dev/switchyard", "default image.repository")
    expect_eq(v["image"]["pullPolicy"], "IfNotPresent", "default image.pullPolicy")
    expect_eq(v["replicas"], 2, "default replicas")
    expect_eq(v["gateway"]["runtimeAuth"], "key", "default gateway.runtimeAuth")
    expect_eq(v["serviceMonitor"]["enabled"], False, "default serviceMonitor.enabled")
    templates = {t["name"] for t in chart.templates}
    expect("templates/NOTES.txt" in templates and "templates/_helpers.tpl" in templates,
           f"NOTES.txt or _helpers.tpl missing: {sorted(templates)}")


def check_crds_match() -> None:
    src = sorted(p.name for p in CRDS_DIR.glob("*.yaml"))
    dst = sorted(p.name for p in (CHART_DIR / "crds").iterdir())
    expect(len(src) == 3, f"crds/ should hold 3 CRDs, holds {src}")
    expect_eq(dst, src, "files in charts/switchyard/crds/ (must be copies of crds/)")
    differ = [n for n in src if (CRDS_DIR / n).read_bytes() != (CHART_DIR / "crds" / n).read_bytes()]
    expect(not differ, f"charts/switchyard/crds/ differs from crds/ in {differ}: "
                       "run `cp crds/*.yaml charts/switchyard/crds/`")
    loaded = sorted(Path(c["filename"]).name for c in load_chart().crds)
    expect_eq(loaded, src, "CRDs Helm loads from the chart")
    kinds = set()
    for n in src:
        doc = yaml.safe_load((CRDS_DIR / n).read_text())
        expect_eq(doc["kind"], "CustomResourceDefinition", f"{n} kind")
        expect_eq(doc["spec"]["group"], GROUP, f"{n} group")
        kinds.add(doc["spec"]["names"]["plural"])
    expect_eq(kinds, set(KINDS), "CRD plurals (the RBAC rules name these)")


def check_chart_notes(chart: helm.Chart) -> None:
    for name, values in VALUE_SETS.items():
        notes = render(chart, values).get("switchyard/templates/NOTES.txt", "")
        expect(fullname(merged(chart, values)) in notes, f"NOTES.txt ({name}) does not name the release objects")


def kubernetes_validate(files: list[Path], version: str) -> None:
    exe = Path(sys.executable).parent / "kubernetes-validate"
    cmd = [str(exe) if exe.exists() else "kubernetes-validate", "--strict", "--quiet", "-k", version, *map(str, files)]
    p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    out = (p.stdout + p.stderr).strip()
    expect(p.returncode == 0, f"kubernetes-validate --strict -k {version} failed (exit {p.returncode}):\n{out}")


def write_docs(docs: list[dict[str, Any]], directory: Path, prefix: str) -> list[Path]:
    paths = []
    for i, d in enumerate(docs):
        path = directory / f"{prefix}-{i:02d}-{d['kind']}-{d['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(d, sort_keys=False))
        paths.append(path)
    return paths


def example_objects() -> list[dict[str, Any]]:
    """Built-in objects of examples/kubernetes/ (its .json files; Lists unpacked)."""
    out = []
    for p in sorted(EXAMPLES_DIR.glob("*.json")):
        doc = json.loads(p.read_text())
        out.extend(doc["items"] if doc.get("kind") == "List" else [doc])
    return out


def check_kubernetes_validate(chart: helm.Chart, version: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        files: list[Path] = []
        for name, values in VALUE_SETS.items():
            docs = [o for o in objects_of(render(chart, values, kube_version=f"v{version}"))
                    if o["kind"] not in CRD_KINDS]
            files += write_docs(docs, Path(tmp), name)
        files += write_docs(example_objects(), Path(tmp), "example")
        files += sorted((CHART_DIR / "crds").glob("*.yaml"))
        kubernetes_validate(files, version)


def check_examples_shape() -> None:
    objs = example_objects()
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in objs)
    expect(("Secret", "openai-api-key") in kinds, f"examples/kubernetes has no Secret openai-api-key: {kinds}")
    secret_refs = []
    for p in sorted(EXAMPLES_DIR.glob("*.yaml")):
        for doc in yaml.safe_load_all(p.read_text()):
            if doc and doc["kind"] == "Provider":
                ref = (doc["spec"].get("apiKey") or {}).get("secretKeyRef")
                if ref:
                    secret_refs.append((ref["name"], ref["key"]))
    expect(secret_refs, "no Provider in examples/kubernetes uses apiKey.secretKeyRef")
    secret = next(o for o in objs if o["kind"] == "Secret")
    for name, key in secret_refs:
        expect(name == secret["metadata"]["name"] and key in secret.get("stringData", {}),
               f"secretKeyRef {name}/{key} does not match the example Secret")


# -- against an API server -------------------------------------------------------------


def kubectl(kubeconfig: str, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    exe = shutil.which("kubectl")
    expect(exe is not None, "kubectl is not on PATH")
    p = subprocess.run([exe, "--kubeconfig", kubeconfig, *args], input=stdin, capture_output=True, text=True,
                       check=False, timeout=180)
    if check:
        expect(p.returncode == 0, f"kubectl {' '.join(args)} failed (exit {p.returncode}):\n{p.stdout}{p.stderr}")
    return p


def server_version(kubeconfig: str) -> str:
    out = json.loads(kubectl(kubeconfig, "version", "-o", "json").stdout)
    return str(out["serverVersion"]["gitVersion"]).split("+")[0]


def setup_cluster(kubeconfig: str) -> None:
    # 1.20 has no CEL: kubectl's client-side validation rejects x-kubernetes-validations.
    kubectl(kubeconfig, "apply", "--validate=false", "-f", str(CRDS_DIR))
    kubectl(kubeconfig, "wait", "--for=condition=Established", "--timeout=60s", "-f", str(CRDS_DIR))
    namespaces = {NAMESPACE} | {str(v["watchNamespace"]) for v in VALUE_SETS.values() if v.get("watchNamespace")}
    docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in sorted(namespaces)]
    kubectl(kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(docs))


def check_server_dry_run(chart: helm.Chart, kubeconfig: str, version: str, name: str) -> None:
    docs = [o for o in objects_of(render(chart, VALUE_SETS[name], kube_version=version))
            if o["kind"] not in CRD_KINDS]
    kubectl(kubeconfig, "apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump_all(docs))


def check_examples_dry_run(kubeconfig: str) -> None:
    kubectl(kubeconfig, "apply", "--dry-run=server", "-n", NAMESPACE, "-f", str(EXAMPLES_DIR))


# -- main ------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kubeconfig", default=os.environ.get("SWITCHYARD_KUBECONFIG") or None,
                    help="run `kubectl apply --dry-run=server` against this API server "
                         "(default: $SWITCHYARD_KUBECONFIG)")
    args = ap.parse_args()

    r = Runner()
    chart = load_chart()
    r.run("Chart.yaml and default values", lambda: check_chart_metadata(chart))
    r.run("CRDs in the chart equal crds/", check_crds_match)
    for name, values in VALUE_SETS.items():
        r.run(f"helm lint --strict ({name})", lambda values=values: check_lint(values))
    r.run("values.schema.json accepts the defaults and every value set", lambda: check_schema_accepts(chart))
    r.run("values.schema.json closes every object it defines", lambda: check_schema_levels(chart))
    r.run("values.schema.json rejects bad values", lambda: check_schema_rejects(chart))
    for name, values in VALUE_SETS.items():
        r.run(f"rendered objects ({name})", lambda values=values: check_rendering(chart, values))
    r.run("NOTES.txt renders", lambda: check_chart_notes(chart))
    r.run("examples/kubernetes: Secret matches the Provider's secretKeyRef", check_examples_shape)
    # ServiceMonitor is a Prometheus Operator CRD kind: kubernetes-validate has no schema
    # for it, so it is left out (its shape is checked in "rendered objects" above).
    for version in VALIDATE_VERSIONS:
        r.run(f"kubernetes-validate --strict -k {version} (all value sets, CRDs, examples)",
              lambda version=version: check_kubernetes_validate(chart, version))

    if args.kubeconfig:
        kc = args.kubeconfig
        state: dict[str, str] = {}

        def setup() -> None:
            state["version"] = server_version(kc)
            setup_cluster(kc)

        r.run("API server: apply crds/ and create namespaces", setup)
        if "version" in state:
            print(f"     (server {state['version']})", flush=True)
            for name in VALUE_SETS:
                r.run(f"kubectl apply --dry-run=server ({name})",
                      lambda name=name: check_server_dry_run(chart, kc, state["version"], name))
            r.run("kubectl apply --dry-run=server -f examples/kubernetes/", lambda: check_examples_dry_run(kc))
    elif os.environ.get("SWITCHYARD_REQUIRE_KUBE") == "1":
        r.failed.append("API server dry-run")
        print("FAIL API server dry-run: SWITCHYARD_REQUIRE_KUBE=1 but neither --kubeconfig nor "
              "SWITCHYARD_KUBECONFIG is set", flush=True)
    else:
        r.skip("kubectl apply --dry-run=server", "no --kubeconfig (or SWITCHYARD_KUBECONFIG)")

    if r.failed:
        print("\nfailed: " + "; ".join(r.failed))
    print(f"chart: {r.passed} passed, {len(r.failed)} failed" + (f", {r.skipped} skipped" if r.skipped else ""))
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
