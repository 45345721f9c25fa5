#!/usr/bin/env python3
"""Phases of the controller benchmark (started by run.sh, which owns the processes).

Watches ModelRoutes through the Kubernetes API (a real watch, not a polling loop, so
the observer costs almost nothing on the shared 2-core machine), samples the RSS of
the controller and the gateway every 50 ms, and measures:

  1. N ModelRoutes created by one `kubectl create -f` -> all Ready=True with
     observedGeneration == generation;
  2. edit-to-serving: `kubectl patch --type merge` swapping the two targets of one
     route -> the gateway's runtime API serves the new first target (polled every
     10 ms), and -> the status shows the new observedGeneration;
  3. RSS of the controller (and, for information, the gateway).

Standard library only.
"""

import argparse
import http.client
import json
import math
import os
import re
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime, timezone

FINALIZER = "switchyard.dev/cleanup"
GROUP_PATH = "/apis/switchyard.dev/v1alpha1"


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def now():
    return time.monotonic()


# ---------------------------------------------------------------------------------
# Kubernetes API


class Kube:
    def __init__(self, api, token):
        self.api = api.rstrip("/")
        self.token = token
        self.ctx = ssl._create_unverified_context()  # the test apiserver's self-signed cert

    def open(self, path, timeout=30):
        req = urllib.request.Request(self.api + path, headers={"Authorization": f"Bearer {self.token}"})
        return urllib.request.urlopen(req, context=self.ctx, timeout=timeout)

    def get(self, path):
        with self.open(path) as r:
            return json.load(r)


def is_ready(obj):
    """Ready=True and status.observedGeneration == metadata.generation."""
    st = obj.get("status") or {}
    gen = obj["metadata"].get("generation")
    if st.get("observedGeneration") != gen:
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])


class Watcher(threading.Thread):
    """Follows one namespaced resource list; records, per (name, generation), the
    first time that generation was seen Ready (monotonic clock, at receipt)."""

    def __init__(self, kube, ns, plural):
        super().__init__(daemon=True)
        self.kube, self.ns, self.plural = kube, ns, plural
        self.cond = threading.Condition()
        self.objs = {}  # name -> (generation, ready, has_finalizer)
        self.added = {}  # name -> first seen
        self.ready_at = {}  # (name, generation) -> first seen Ready
        self.finalized_at = {}  # name -> first seen with our finalizer
        self.synced = threading.Event()
        self.error = None

    def _apply(self, obj, t):
        md = obj["metadata"]
        name, gen = md["name"], md.get("generation")
        ready = is_ready(obj)
        fin = FINALIZER in (md.get("finalizers") or [])
        with self.cond:
            self.objs[name] = (gen, ready, fin)
            self.added.setdefault(name, t)
            if ready:
                self.ready_at.setdefault((name, gen), t)
            if fin:
                self.finalized_at.setdefault(name, t)
            self.cond.notify_all()

    def run(self):
        base = f"{GROUP_PATH}/namespaces/{self.ns}/{self.plural}"
        rv = None
        while True:
            try:
                if rv is None:
                    lst = self.kube.get(base)
                    t = now()
                    for o in lst.get("items", []):
                        self._apply(o, t)
                    rv = lst["metadata"]["resourceVersion"]
                    self.synced.set()
                with self.kube.open(
                    f"{base}?watch=1&allowWatchBookmarks=true&timeoutSeconds=600&resourceVersion={rv}", timeout=700
                ) as r:
                    for line in r:
                        t = now()
                        ev = json.loads(line)
                        typ, obj = ev["type"], ev["object"]
                        if typ == "ERROR":
                            rv = None  # 410 Gone: relist
                            break
                        rv = obj["metadata"].get("resourceVersion", rv)
                        if typ in ("ADDED", "MODIFIED"):
                            self._apply(obj, t)
                        elif typ == "DELETED":
                            with self.cond:
                                self.objs.pop(obj["metadata"]["name"], None)
            except Exception as e:  # noqa: BLE001 - keep watching; report if it persists
                self.error = repr(e)
                time.sleep(0.2)

    def wait_for(self, pred, timeout):
        """Waits until pred() (called under the lock) is true; returns whether it is."""
        end = now() + timeout
        with self.cond:
            while not pred():
                left = end - now()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.5))
            return True


# ---------------------------------------------------------------------------------
# RSS sampling


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler(threading.Thread):
    def __init__(self, pids, every=0.05):
        super().__init__(daemon=True)
        self.pids, self.every = pids, every
        self.lock = threading.Lock()
        self.peak = {k: 0 for k in pids}
        self.last = {k: 0 for k in pids}

    def run(self):
        while True:
            vals = {k: rss_kb(p) for k, p in self.pids.items()}
            with self.lock:
                for k, v in vals.items():
                    self.last[k] = v
                    self.peak[k] = max(self.peak[k], v)
            time.sleep(self.every)

    def reset_peak(self):
        with self.lock:
            self.peak = {k: rss_kb(p) for k, p in self.pids.items()}

    def peaks(self):
        with self.lock:
            return dict(self.peak)


def mb(kb):
    return kb / 1024.0


# ---------------------------------------------------------------------------------
# Controller metrics and log


def metrics(addr):
    out = {}
    try:
        with urllib.request.urlopen(f"http://{addr}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return out
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        k, _, v = line.rpartition(" ")
        try:
            out[k] = float(v)
        except ValueError:
            pass
    return out


ANSI = re.compile(r"\x1b\[[0-9;]*m")
LOG_LINE = re.compile(r"^(\S+)\s+(\w+)\s+(\S+?):\s*(.*)$")


def parse_duration(s):
    m = re.match(r"^([0-9.]+)(ns|µs|us|ms|s)$", s)
    if not m:
        return None
    v, u = float(m.group(1)), m.group(2)
    return v * {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}[u]


def controller_log(path, start_wall, end_wall):
    """(reconciled passes [(t_rel_to_start, writes, took_s)], warnings [str]) between two wall times."""
    passes, warns = [], []
    try:
        with open(path, errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return passes, warns
    for raw in lines:
        line = ANSI.sub("", raw.rstrip("\n"))
        m = LOG_LINE.match(line)
        if not m:
            continue
        try:
            ts = datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp()
        except ValueError:
            continue
        if ts < start_wall or ts > end_wall:
            continue
        level, msg = m.group(2), m.group(4)
        if "reconciled" in msg:
            w = re.search(r"writes=(\d+)", msg)
            t = re.search(r"took=(\S+)", msg)
            passes.append((ts - start_wall, int(w.group(1)) if w else -1, parse_duration(t.group(1)) if t else None))
        elif level in ("WARN", "ERROR") and "Server cert bypassed" not in msg:
            # (kube logs "Server cert bypassed" per connection: the test apiserver's
            # kubeconfig has insecure-skip-tls-verify; not a problem of the controller.)
            warns.append(f"+{ts - start_wall:.2f}s {level} {msg}")
    return passes, warns


# ---------------------------------------------------------------------------------
# Runtime API of the gateway


class Runtime:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.conn = None

    def route(self, alias):
        body = json.dumps({"model": alias, "messages": [{"role": "user", "content": "hi"}]})
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                self.conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
                r = self.conn.getresponse()
                r.read()
                return r.status, r.getheader("x-switchyard-route")
            except (OSError, http.client.HTTPException):
                self.conn = None
                if attempt:
                    raise
        return None, None


# ---------------------------------------------------------------------------------


def pct(sorted_vals, q):
    """Nearest-rank percentile."""
    if not sorted_vals:
        return float("nan")
    k = max(1, math.ceil(q * len(sorted_vals)))
    return sorted_vals[k - 1]


def route_yaml(i):
    return (
        "---\napiVersion: switchyard.dev/v1alpha1\nkind: ModelRoute\n"
        f"metadata:\n  name: route-{i:04d}\n"
        "spec:\n  targets:\n  - provider: mock\n    model: m1\n  - provider: mock\n    model: m2\n"
    )


def targets_patch(first, second):
    return json.dumps(
        {"spec": {"targets": [{"provider": "mock", "model": first}, {"provider": "mock", "model": second}]}}
    )


def edit_sequence(n_routes, n_edits):
    """Edits (route index, new first model). m = ceil(n/2) routes spread over the set;
    L0->m2, then for each j: Lj->m2, L(j-1)->m1, and finally L(m-1)->m1: every edit is a
    real swap, no two consecutive edits touch the same route, the new first target
    alternates (almost always) and every route ends as it began."""
    m = max(1, math.ceil(n_edits / 2))
    step = max(1, n_routes // m)
    routes = [1 + j * step for j in range(m)]
    seq = [(routes[0], "m2")]
    for j in range(1, m):
        seq += [(routes[j], "m2"), (routes[j - 1], "m1")]
    seq.append((routes[-1], "m1"))
    return seq[:n_edits]


class Report:
    def __init__(self):
        self.rows = []
        self.missed = 0

    def target(self, label, value, unit, limit, fmt="{:.2f}"):
        ok = value is not None and value < limit
        self.missed += 0 if ok else 1
        v = "n/a" if value is None else fmt.format(value)
        self.rows.append(f"  {label:<58} {v:>8} {unit:<3} target < {fmt.format(limit)} {unit:<3} {'PASS' if ok else 'MISS'}")

    def info(self, label, value, unit="", fmt="{:.2f}"):
        v = value if isinstance(value, str) else ("n/a" if value is None else fmt.format(value))
        self.rows.append(f"  {label:<58} {v:>8} {unit}")

    def text(self, s=""):
        self.rows.append(s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--ns", required=True)
    ap.add_argument("--kubectl", default="kubectl")
    ap.add_argument("--gateway", required=True, help="gateway ADDR (host:port)")
    ap.add_argument("--metrics", required=True, help="controller metrics ADDR")
    ap.add_argument("--controller-pid", type=int, required=True)
    ap.add_argument("--gateway-pid", type=int, required=True)
    ap.add_argument("--controller-log", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--routes", type=int, default=1000)
    ap.add_argument("--edits", type=int, default=50)
    ap.add_argument("--gap", type=float, default=1.0, help="quiet seconds between edits")
    ap.add_argument("--timeout", type=float, default=180.0)
    a = ap.parse_args()

    kube = Kube(a.api, a.token)
    kubectl = [a.kubectl, "-n", a.ns]
    rt = Runtime(a.gateway)
    rep = Report()
    sampler = RssSampler({"controller": a.controller_pid, "gateway": a.gateway_pid})
    sampler.start()
    watcher = Watcher(kube, a.ns, "modelroutes")
    watcher.start()
    if not watcher.synced.wait(30):
        sys.exit(f"cannot watch modelroutes: {watcher.error}")

    # --- 3a: idle RSS (provider applied, controller ready, nothing happening)
    time.sleep(2)
    idle = {"controller": rss_kb(a.controller_pid), "gateway": rss_kb(a.gateway_pid)}
    log(f"idle RSS: controller {mb(idle['controller']):.1f} MB, gateway {mb(idle['gateway']):.1f} MB")

    # --- 1: N routes at once
    manifest = os.path.join(a.work, "routes.yaml")
    with open(manifest, "w") as f:
        for i in range(1, a.routes + 1):
            f.write(route_yaml(i))
    names = [f"route-{i:04d}" for i in range(1, a.routes + 1)]
    m0 = metrics(a.metrics)
    sampler.reset_peak()
    log(f"phase 1: kubectl create -f ({a.routes} ModelRoutes in one file)")
    wall0, t0 = time.time(), now()
    p = subprocess.run([*kubectl, "create", "-f", manifest], capture_output=True, text=True)
    t_kubectl = now()
    if p.returncode != 0:
        sys.exit(f"kubectl create failed: {p.stderr[-2000:]}")
    log(f"  kubectl create returned after {t_kubectl - t0:.2f} s")

    def all_ready():
        return all(watcher.objs.get(n, (None, False, False))[1] for n in names)

    ok1 = watcher.wait_for(all_ready, a.timeout)
    t_all = now()
    with watcher.cond:
        ready_times = sorted(
            watcher.ready_at[(n, watcher.objs[n][0])] - t0
            for n in names
            if n in watcher.objs and (n, watcher.objs[n][0]) in watcher.ready_at
        )
        added_last = max((watcher.added[n] for n in names if n in watcher.added), default=t0) - t0
    n_ready = len(ready_times)
    if ok1:
        log(f"  all {a.routes} Ready after {t_all - t0:.2f} s")
    else:
        log(f"  timeout: {n_ready}/{a.routes} Ready after {a.timeout:.0f} s")
    # The pass goes on after the statuses (events, then finalizers): settle before
    # taking the peak, so the whole burst is inside the window.
    ok_fin = watcher.wait_for(lambda: all(watcher.objs.get(n, (0, 0, False))[2] for n in names), a.timeout)
    with watcher.cond:
        fin_last = max((watcher.finalized_at[n] for n in names if n in watcher.finalized_at), default=None)
    settle_deadline = now() + 60
    prev = None
    while now() < settle_deadline:  # until the controller's pass count stops moving for 2 s
        cur = metrics(a.metrics).get("switchyard_controller_reconciles_total")
        if cur is not None and cur == prev:
            break
        prev = cur
        time.sleep(2)
    wall1 = time.time()
    peak1 = sampler.peaks()
    m1 = metrics(a.metrics)
    after1 = {"controller": rss_kb(a.controller_pid), "gateway": rss_kb(a.gateway_pid)}
    passes1, warns1 = controller_log(a.controller_log, wall0, wall1)

    # Spot-check the data plane: a few aliases serve their first target.
    spot = [names[0], names[len(names) // 2], names[-1]]
    spot_res = {n: rt.route(n) for n in spot}
    spot_ok = all(s == 200 and h == "mock/m1" for s, h in spot_res.values())

    # --- 2: edit-to-serving
    seq = edit_sequence(a.routes, a.edits)
    log(f"phase 2: {len(seq)} edits (kubectl patch --type merge), {a.gap:.1f} s apart")
    time.sleep(a.gap)
    m2s = metrics(a.metrics)
    wall2 = time.time()
    serve, status_lat, gens, polls, failures = [], [], [], [], []
    for k, (idx, first) in enumerate(seq):
        name = f"route-{idx:04d}"
        second = "m1" if first == "m2" else "m2"
        s, before = rt.route(name)
        if before != f"mock/{second}":
            failures.append(f"{name}: before edit {k + 1} serves {before} (status {s}), expected mock/{second}")
        p = subprocess.run(
            [*kubectl, "patch", "modelroute", name, "--type", "merge", "-p", targets_patch(first, second),
             "-o", "jsonpath={.metadata.generation}"],
            capture_output=True, text=True,
        )
        t_ret = now()
        if p.returncode != 0:
            sys.exit(f"kubectl patch failed: {p.stderr[-2000:]}")
        gen = int(p.stdout.strip())
        want = f"mock/{first}"
        n_polls, t_serve = 0, None
        while now() - t_ret < 30:
            n_polls += 1
            s, h = rt.route(name)
            if h == want:
                t_serve = now()
                break
            time.sleep(0.01)
        got_status = watcher.wait_for(lambda: (name, gen) in watcher.ready_at, 30)
        with watcher.cond:
            t_status = watcher.ready_at.get((name, gen))
        if t_serve is None:
            failures.append(f"{name}: edit {k + 1} (generation {gen}) not served as {want} within 30 s")
        else:
            serve.append(t_serve - t_ret)
        if got_status and t_status is not None:
            status_lat.append(max(0.0, t_status - t_ret))
        else:
            failures.append(f"{name}: status did not reach observedGeneration {gen} within 30 s")
        gens.append(gen)
        polls.append(n_polls)
        log(
            f"  edit {k + 1:>2}/{len(seq)} {name} -> [{first}, {second}] gen {gen}: serving after "
            f"{'-' if t_serve is None else f'{(t_serve - t_ret) * 1000:.0f} ms'}, status after "
            f"{'-' if t_status is None else f'{(t_status - t_ret) * 1000:.0f} ms'} ({n_polls} polls)"
        )
        time.sleep(a.gap)
    wall3 = time.time()
    m2e = metrics(a.metrics)
    passes2, warns2 = controller_log(a.controller_log, wall2, wall3)

    # --- 3c: RSS after the edits
    time.sleep(2)
    after2 = {"controller": rss_kb(a.controller_pid), "gateway": rss_kb(a.gateway_pid)}
    peak_all = sampler.peaks()  # since the start of phase 1

    # ------------------------------------------------------------------------------
    serve.sort()
    status_lat.sort()

    def mdiff(m_end, m_start, key):
        if key in m_end and key in m_start:
            return m_end[key] - m_start[key]
        return None

    rep.text(f"== switchyard controller benchmark: {a.routes} ModelRoutes, {len(seq)} edits ==")
    rep.text("(1) create at once: one `kubectl create -f` of a multi-document file; time from kubectl's start")
    rep.target(f"all {a.routes} Ready=True, observedGeneration==generation", (t_all - t0) if ok1 else None, "s", 30.0)
    rep.info("  of which kubectl create itself (sequential POSTs)", t_kubectl - t0, "s")
    rep.info("  Ready count when measured", f"{n_ready}/{a.routes}")
    if ready_times:
        rep.info("  first route Ready", ready_times[0], "s")
        rep.info("  50% Ready", pct(ready_times, 0.5), "s")
        rep.info("  90% Ready", pct(ready_times, 0.9), "s")
    rep.info("  last ADDED event seen by the watch", added_last, "s")
    rep.info(f"  all {a.routes} carry the finalizer (pass fully done)", (fin_last - t0) if ok_fin and fin_last else None, "s")
    np1 = mdiff(m1, m0, "switchyard_controller_reconciles_total")
    rep.info("  controller passes / gateway writes",
             f"{'?' if np1 is None else int(np1)} / "
             f"{'?' if mdiff(m1, m0, 'switchyard_controller_gateway_writes_total') is None else int(mdiff(m1, m0, 'switchyard_controller_gateway_writes_total'))}")
    rep.info("  data plane spot check (first/middle/last alias -> mock/m1)",
             "ok" if spot_ok else "FAILED " + json.dumps(spot_res))
    rep.text("")
    rep.text(f"(2) edit-to-serving: {len(seq)} swaps, timed from `kubectl patch` returning; gateway polled every 10 ms")
    rep.target("serving the new first target, p50", pct(serve, 0.5) * 1000 if serve else None, "ms", 1000.0, "{:.0f}")
    rep.info("serving the new first target, p95", pct(serve, 0.95) * 1000 if serve else None, "ms", "{:.0f}")
    rep.info("serving the new first target, min / max",
             f"{serve[0] * 1000:.0f}/{serve[-1] * 1000:.0f}" if serve else "n/a", "ms")
    rep.info("status observedGeneration (Ready=True), p50", pct(status_lat, 0.5) * 1000 if status_lat else None, "ms", "{:.0f}")
    rep.info("status observedGeneration (Ready=True), p95", pct(status_lat, 0.95) * 1000 if status_lat else None, "ms", "{:.0f}")
    rep.info("edits served / statuses observed", f"{len(serve)}/{len(seq)} / {len(status_lat)}/{len(seq)}")
    np2 = mdiff(m2e, m2s, "switchyard_controller_reconciles_total")
    ds2 = mdiff(m2e, m2s, "switchyard_controller_reconcile_duration_seconds_sum")
    rep.info("  controller passes during the edits / mean pass time",
             f"{'?' if np2 is None else int(np2)} / "
             f"{'?' if not np2 or ds2 is None else f'{ds2 / np2 * 1000:.0f} ms'}")
    rep.text("")
    rep.text("(3) RSS (VmRSS)")
    rep.target("controller, idle after start-up (1 Provider)", mb(idle["controller"]), "MB", 100.0, "{:.1f}")
    rep.target(f"controller, peak during (1) ({a.routes} routes)", mb(peak1["controller"]), "MB", 100.0, "{:.1f}")
    rep.target("controller, after (2)", mb(after2["controller"]), "MB", 100.0, "{:.1f}")
    rep.info("controller, after (1) settled", mb(after1["controller"]), "MB", "{:.1f}")
    rep.info("controller, peak over (1)+(2)", mb(peak_all["controller"]), "MB", "{:.1f}")
    rep.info("gateway (info): idle / peak (1) / after (2)",
             f"{mb(idle['gateway']):.1f} / {mb(peak1['gateway']):.1f} / {mb(after2['gateway']):.1f}", "MB")
    rep.text("")
    rep.text("controller log, phase (1) (`reconciled` lines, time from kubectl's start):")
    for t, w, took in passes1:
        rep.text(f"  +{t:6.2f}s reconciled writes={w} took={'?' if took is None else f'{took:.3f}s'}")
    if not passes1:
        rep.text("  (none)")
    tooks2 = sorted(t for _, _, t in passes2 if t is not None)
    if tooks2:
        rep.text(f"controller log, phase (2): {len(passes2)} passes with writes; took p50 {pct(tooks2, 0.5) * 1000:.0f} ms, "
                 f"max {tooks2[-1] * 1000:.0f} ms; writes per pass {sorted({w for _, w, _ in passes2})}")
    for w in (warns1 + warns2)[:20]:
        rep.text(f"  {w}")
    if failures:
        rep.text("")
        rep.text("problems:")
        for f in failures[:20]:
            rep.text(f"  {f}")
        rep.missed += 1
    rep.text("")
    rep.text(f"targets missed: {rep.missed}")
    print("\n".join(rep.rows), flush=True)
    with open(os.path.join(a.work, "edits.json"), "w") as f:
        json.dump({"serve_s": serve, "status_s": status_lat, "generations": gens, "polls": polls,
                   "ready_times_s": ready_times}, f)
    return 1 if rep.missed else 0


if __name__ == "__main__":
    sys.exit(main())
