#!/usr/bin/env bash
# Whole-process benchmark of `switchyard controller` against a real kube-apiserver +
# etcd (.ci/kube-apiserver.sh), a real gateway and the mock upstream: 1,000 ModelRoutes
# created at once -> all Ready, edit-to-serving latency, controller RSS. Prints every
# figure with its target and PASS/MISS. See README.md in this directory.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

ROUTES=1000
EDITS=50
GAP=1.0
DEBOUNCE_MS=""
STRICT=0
KEEP=0
BIN="${SWITCHYARD_BIN:-$ROOT/target/release/switchyard}"
KUBECTL="${KUBECTL:-/usr/bin/kubectl}"
NS="sybench"
# Own ports, so another apiserver/etcd (e.g. the tests' on 16443/23790) is not disturbed.
export ETCD_PORT="${ETCD_PORT:-23890}" APISERVER_PORT="${APISERVER_PORT:-16543}"

usage() {
  cat <<EOF
usage: $0 [options]
  --routes N        ModelRoutes created at once in phase 1 (default $ROUTES)
  --edits N         edits timed in phase 2 (default $EDITS)
  --gap SECS        quiet time between two edits (default $GAP)
  --debounce-ms N   pass --debounce-ms to the controller (default: the controller's, 200)
  --bin PATH        switchyard binary (default target/release/switchyard)
  --strict          exit 1 when any target is missed
  --keep            keep the work directory (logs, manifests, raw edit timings)
environment: ETCD_PORT (default 23890; also uses ETCD_PORT+1), APISERVER_PORT (16543), KUBECTL
EOF
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --routes) ROUTES="$2"; shift 2 ;;
    --edits) EDITS="$2"; shift 2 ;;
    --gap) GAP="$2"; shift 2 ;;
    --debounce-ms) DEBOUNCE_MS="$2"; shift 2 ;;
    --bin) BIN="$2"; shift 2 ;;
    --strict) STRICT=1; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done
for n in "$ROUTES" "$EDITS"; do
  [[ "$n" =~ ^[0-9]+$ && "$n" -gt 0 ]] || { echo "--routes and --edits must be positive integers" >&2; exit 2; }
done
[[ $EDITS -le $ROUTES ]] || { echo "--edits must not exceed --routes" >&2; exit 2; }

# log, start, stop_group, wait_line
source "$HERE/../lib.sh"

if [[ ! -x "$BIN" ]]; then
  log "no $BIN: building it once (cargo build --release --locked)"
  (cd "$ROOT" && cargo build --release --locked)
fi
command -v "$KUBECTL" >/dev/null || { echo "kubectl not found ($KUBECTL)" >&2; exit 1; }

# The ports must be free: an etcd already on ETCD_PORT would silently become ours.
for port in "$ETCD_PORT" "$((ETCD_PORT + 1))" "$APISERVER_PORT"; do
  if ! python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1])))' "$port" 2>/dev/null; then
    echo "port $port is in use; choose others with ETCD_PORT=... APISERVER_PORT=..." >&2
    exit 1
  fi
done

WORK="$(mktemp -d /tmp/sy-ctl-bench.XXXXXX)"
KDIR="$WORK/kube"
PGIDS=()
KUBE_PIDS=()

cleanup() {
  local rc=$?
  set +e
  # Our own services, each in its own process group (see start()).
  for pg in "${PGIDS[@]}"; do kill -TERM -- "-$pg" 2>/dev/null; done
  for pg in "${PGIDS[@]}"; do
    for _ in $(seq 50); do kill -0 -- "-$pg" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pg" 2>/dev/null
  done
  # etcd + kube-apiserver: the pids .ci/kube-apiserver.sh recorded (etcd first, then
  # the apiserver). The apiserver goes first, while etcd is still there for its shutdown.
  if [[ -f "$KDIR/pids" ]]; then
    mapfile -t KUBE_PIDS < "$KDIR/pids"
    for ((i = ${#KUBE_PIDS[@]} - 1; i >= 0; i--)); do
      p="${KUBE_PIDS[$i]}"
      kill -TERM "$p" 2>/dev/null
      for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$p" 2>/dev/null
    done
    "$ROOT/.ci/kube-apiserver.sh" stop "$KDIR" >/dev/null 2>&1
  fi
  if [[ $KEEP -eq 1 || $rc -ne 0 ]]; then
    log "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  [[ $rc -eq 3 ]] && rc=0  # targets missed without --strict
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM



log "binary: $BIN ($(stat -c '%y' "$BIN" | cut -d. -f1))"
log "source: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo ' (src differs from HEAD)')"
log "work directory: $WORK"
log "machine: $(nproc) cores, $(uname -r)"

# --- Kubernetes API server + etcd, CRDs, namespace
log "starting etcd (:$ETCD_PORT) + kube-apiserver (:$APISERVER_PORT)"
export KUBECONFIG
KUBECONFIG="$("$ROOT/.ci/kube-apiserver.sh" start "$KDIR" | tail -1)"
API="https://127.0.0.1:$APISERVER_PORT"
TOKEN="$(awk '/token:/ {print $2; exit}' "$KUBECONFIG")"
"$KUBECTL" apply --validate=false -f "$ROOT/crds/" >/dev/null
"$KUBECTL" wait --for=condition=Established --timeout=60s \
  crd/modelroutes.switchyard.dev crd/providers.switchyard.dev crd/smartmodels.switchyard.dev >/dev/null
"$KUBECTL" create namespace "$NS" >/dev/null
for _ in $(seq 100); do  # the new CRDs are served (discovery) before we watch them
  "$KUBECTL" get modelroutes -n "$NS" >/dev/null 2>&1 && break; sleep 0.1
done

# --- mock upstream, gateway, controller
start mock "$BIN" mock-upstream --listen 127.0.0.1:0
MOCK_ADDR="$(wait_line mock 'listening on http://')"
head -c 48 /dev/urandom | base64 > "$WORK/jwt.secret"
start gateway "$BIN" gateway --listen 127.0.0.1:0 --db "$WORK/gateway.db" \
  --jwt-secret-file "$WORK/jwt.secret" --runtime-auth none
GW_PID=$START_PID
GW_ADDR="$(wait_line gateway 'listening on http://')"
log "mock upstream on $MOCK_ADDR, gateway on $GW_ADDR"

CTL_ARGS=(controller --gateway "http://$GW_ADDR/api/llm-gateway" --jwt-secret-file "$WORK/jwt.secret"
  --namespace "$NS" --lease-namespace "$NS" --identity bench --metrics-listen 127.0.0.1:0)
[[ -n "$DEBOUNCE_MS" ]] && CTL_ARGS+=(--debounce-ms "$DEBOUNCE_MS")
start controller env SWITCHYARD_LOG=info "$BIN" "${CTL_ARGS[@]}"
CTL_PID=$START_PID
METRICS_ADDR="$(wait_line controller 'metrics on http://')"
ok=0
for _ in $(seq 300); do
  curl -sf "http://$METRICS_ADDR/readyz" >/dev/null 2>&1 && { ok=1; break; }
  kill -0 "$CTL_PID" 2>/dev/null || break
  sleep 0.1
done
[[ $ok -eq 1 ]] || { echo "controller not ready:" >&2; tail -20 "$WORK/controller.err" >&2; exit 1; }
log "controller ready (metrics on $METRICS_ADDR)"

# `setsid` execs in place (we are not a group leader), so $!/START_PID is the process
# itself; `env` execs too: CTL_PID and GW_PID are the switchyard processes.
[[ "$(readlink "/proc/$CTL_PID/exe")" == "$(readlink -f "$BIN")"* ]] || log "NOTE: controller pid $CTL_PID is $(readlink "/proc/$CTL_PID/exe")"

# --- the Provider every route uses
cat > "$WORK/provider.yaml" <<EOF
apiVersion: switchyard.dev/v1alpha1
kind: Provider
metadata:
  name: mock
spec:
  modelProvider: custom
  baseUrl: http://$MOCK_ADDR/v1
  models: [m1, m2]
EOF
"$KUBECTL" apply -n "$NS" -f "$WORK/provider.yaml" >/dev/null
"$KUBECTL" wait -n "$NS" --for=condition=Ready --timeout=60s provider/mock >/dev/null
log "provider/mock Ready"

# --- the phases (bench.py prints the report on stdout)
set +e
python3 "$HERE/bench.py" --api "$API" --token "$TOKEN" --ns "$NS" --kubectl "$KUBECTL" \
  --gateway "$GW_ADDR" --metrics "$METRICS_ADDR" --controller-pid "$CTL_PID" --gateway-pid "$GW_PID" \
  --controller-log "$WORK/controller.err" --work "$WORK" --routes "$ROUTES" --edits "$EDITS" --gap "$GAP"
rc=$?
set -e
if [[ $rc -eq 1 ]]; then
  [[ $STRICT -eq 1 ]] && exit 1
  exit 3  # targets missed: reported above; exit 0 without --strict (see cleanup)
fi
exit $rc
