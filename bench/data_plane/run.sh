#!/usr/bin/env bash
# Whole-process data-plane benchmark: switchyard vs nginx-light vs LiteLLM, each in
# front of the same `switchyard mock-upstream`, measured side by side in interleaved
# rounds and reported as "added" figures (forwarder path minus direct path) and ratios
# against the targets. See README.md in this directory.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

SOAK_SECS=600
ROUNDS=5
LAT_SECS=5
TPUT_SECS=5
TTFE_N=2000
TTFE_LITELLM_N=200
SKIP_LITELLM=0
SKIP_NOKEY=0
STRICT=0
KEEP=0
USE_NETNS=1
BIN="${SWITCHYARD_BIN:-$ROOT/target/release/switchyard}"
VENV="${SWITCHYARD_BENCH_VENV:-$HOME/.cache/switchyard-bench/venv}"
LITELLM_VERSION="1.108.7"
ORG="00000000-0000-4000-8000-000000000001"

usage() {
  cat <<EOF
usage: $0 [options]
  --soak-secs N     length of the RSS soak under load (default $SOAK_SECS)
  --rounds N        interleaved rounds for the c=1 and c=64 phases (default $ROUNDS)
  --lat-secs N      seconds per c=1 wrk run (default $LAT_SECS)
  --tput-secs N     seconds per c=64 wrk run (default $TPUT_SECS)
  --ttfe-n N        streamed requests per target for time-to-first-event (default $TTFE_N)
  --skip-litellm    leave LiteLLM out (its target is then reported as SKIP)
  --skip-nokey      leave out the extra switchyard instance with --runtime-auth none
  --no-netns        do not isolate the run in a private network namespace
  --bin PATH        switchyard binary (default target/release/switchyard)
  --strict          exit 1 when any target is missed
  --keep            keep the work directory (logs, configs, raw results)
EOF
}

ORIG_ARGS=("$@")
while [[ $# -gt 0 ]]; do
  case "$1" in
    --soak-secs) SOAK_SECS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --lat-secs) LAT_SECS="$2"; shift 2 ;;
    --tput-secs) TPUT_SECS="$2"; shift 2 ;;
    --ttfe-n) TTFE_N="$2"; shift 2 ;;
    --skip-litellm) SKIP_LITELLM=1; shift ;;
    --skip-nokey) SKIP_NOKEY=1; shift ;;
    --no-netns) USE_NETNS=0; shift ;;
    --bin) BIN="$2"; shift 2 ;;
    --strict) STRICT=1; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done
for n in "$SOAK_SECS" "$ROUNDS" "$LAT_SECS" "$TPUT_SECS" "$TTFE_N"; do
  [[ "$n" =~ ^[0-9]+$ && "$n" -gt 0 ]] || { echo "numeric options must be positive integers" >&2; exit 2; }
done

# log, start, stop_group, wait_line
source "$HERE/../lib.sh"

# ---------------------------------------------------------------------------------
# Tools (installed here, before entering the network namespace, which has no route
# to the package registries).
if [[ -z "${SY_BENCH_IN_NETNS:-}" ]]; then
  missing=()
  command -v nginx >/dev/null || missing+=(nginx-light)
  command -v wrk >/dev/null || missing+=(wrk)
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing ${missing[*]} (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if [[ $SKIP_LITELLM -eq 0 && ! -x "$VENV/bin/litellm" ]]; then
    log "installing litellm[proxy]==$LITELLM_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "litellm[proxy]==$LITELLM_VERSION"
  fi
  if [[ ! -x "$BIN" ]]; then
    log "no $BIN: building it once (cargo build --release --locked)"
    (cd "$ROOT" && cargo build --release --locked)
  fi
  # Everything below runs on a private loopback, so nothing can leave the machine
  # (LiteLLM included) and no other traffic shares the interface.
  if [[ $USE_NETNS -eq 1 ]]; then
    if unshare -n true 2>/dev/null; then
      export SY_BENCH_IN_NETNS=1
      exec unshare -n -- bash -c 'ip link set lo up && exec bash "$0" "$@"' \
        "${BASH_SOURCE[0]}" "${ORIG_ARGS[@]}" --bin "$BIN"
    fi
    log "NOTE: unshare -n is not permitted here; running on the host loopback instead"
    export SY_BENCH_NETNS_NOTE="host loopback (unshare -n not permitted)"
  else
    export SY_BENCH_NETNS_NOTE="host loopback (--no-netns)"
  fi
fi
NETNS_NOTE="${SY_BENCH_NETNS_NOTE:-private network namespace (unshare -n, loopback only)}"

# ---------------------------------------------------------------------------------
WORK="$(mktemp -d /tmp/sy-bench.XXXXXX)"
RESULTS="$WORK/results.txt"
: > "$RESULTS"
PGIDS=()

cleanup() {
  local rc=$?
  set +e
  for pg in "${PGIDS[@]}"; do
    kill -TERM -- "-$pg" 2>/dev/null
  done
  for pg in "${PGIDS[@]}"; do
    for _ in $(seq 50); do kill -0 -- "-$pg" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pg" 2>/dev/null
  done
  if [[ $KEEP -eq 1 || $rc -ne 0 ]]; then
    log "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM




free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# Sum of VmRSS over every process of a process group (start() makes one per service).
group_rss_kb() {
  local total=0 p
  for p in $(pgrep -g "$1" || true); do
    total=$((total + $(rss_kb "$p")))
  done
  echo "$total"
}

# CPU ticks (user+system, all threads) of every process of a process group.
group_cpu_ticks() {
  local total=0 p t
  for p in $(pgrep -g "$1" || true); do
    t="$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)"
    total=$((total + t))
  done
  echo "$total"
}
CLK_TCK="$(getconf CLK_TCK)"

record() { echo "$*" >> "$RESULTS"; }

# ---------------------------------------------------------------------------------
log "network: $NETNS_NOTE"
log "binary: $BIN ($(stat -c '%y' "$BIN" | cut -d. -f1))"
log "work directory: $WORK"
record "meta netns $NETNS_NOTE"
record "meta rounds=$ROUNDS lat_secs=$LAT_SECS tput_secs=$TPUT_SECS ttfe_n=$TTFE_N soak_secs=$SOAK_SECS"
record "meta nproc=$(nproc) kernel=$(uname -r) nginx=$(nginx -v 2>&1 | sed 's#.*/##') wrk=$(wrk -v 2>&1 | head -1 | awk '{print $2}')"

# Mock upstream.
start mock "$BIN" mock-upstream --listen 127.0.0.1:0
MOCK_PID=$START_PID
MOCK_ADDR="$(wait_line mock 'listening on http://')"
MOCK_PORT="${MOCK_ADDR##*:}"
log "mock upstream on $MOCK_ADDR"

# Gateway(s). The key-authenticated one is the product path; the keyless one
# (--runtime-auth none) is measured at c=1 for information.
head -c 48 /dev/urandom | base64 > "$WORK/jwt.secret"
start gateway "$BIN" gateway --listen 127.0.0.1:0 --db "$WORK/gateway.db" --jwt-secret-file "$WORK/jwt.secret"
GW_PID=$START_PID
GW_ADDR="$(wait_line gateway 'listening on http://')"
if [[ $SKIP_NOKEY -eq 0 ]]; then
  start gateway_nokey "$BIN" gateway --listen 127.0.0.1:0 --db "$WORK/gateway-nokey.db" \
    --jwt-secret-file "$WORK/jwt.secret" --runtime-auth none --runtime-org "$ORG"
  GWN_PID=$START_PID
  GWN_ADDR="$(wait_line gateway_nokey 'listening on http://')"
fi
TOKEN="$("$BIN" token --jwt-secret-file "$WORK/jwt.secret" --org "$ORG")"

admin() { # admin ADDR PATH JSON -> response body (fails on non-2xx)
  curl -sS --fail-with-body -X POST "http://$1/api/llm-gateway/admin/$2" \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$3"
}
json_get() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

configure() { # configure ADDR -> sets up provider + alias "chat"
  local pid
  pid="$(admin "$1" providers "{\"name\":\"mock\",\"model_provider\":\"custom\",\"base_url\":\"http://$MOCK_ADDR/v1\",\"api_key\":\"x\",\"models\":[\"m1\"]}" | json_get id)"
  admin "$1" model-mappings "{\"provider_id\":\"$pid\",\"model_alias\":\"chat\",\"upstream_model\":\"m1\",\"priority\":1}" >/dev/null
}
configure "$GW_ADDR"
API_KEY="$(admin "$GW_ADDR" api-keys '{"name":"bench"}' | json_get key)"
[[ $SKIP_NOKEY -eq 0 ]] && configure "$GWN_ADDR"
curl -sS --fail "http://$GW_ADDR/healthz" >/dev/null
log "switchyard gateway on $GW_ADDR (runtime key ${API_KEY:0:8}...)${GWN_ADDR:+, keyless on $GWN_ADDR}"

# Idle RSS after start-up + configuration, before any runtime request.
sleep 2
record "rss gateway_idle_config $(rss_kb "$GW_PID")"

# nginx-light reference forwarder.
NGINX_PORT="$(free_port)"
mkdir -p "$WORK/nginx"
sed -e "s#@PREFIX@#$WORK/nginx#g" -e "s#@LISTEN_PORT@#$NGINX_PORT#g" -e "s#@MOCK_PORT@#$MOCK_PORT#g" \
  "$HERE/nginx.conf.tmpl" > "$WORK/nginx/nginx.conf"
start nginx nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/nginx-error.log"
NGINX_PID=$START_PID
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/" && break; sleep 0.1; done
log "nginx-light on 127.0.0.1:$NGINX_PORT"

# LiteLLM proxy peer.
LITELLM_PORT=""
if [[ $SKIP_LITELLM -eq 0 ]]; then
  LITELLM_PORT="$(free_port)"
  LITELLM_KEY="sk-bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  sed -e "s#@MOCK_PORT@#$MOCK_PORT#g" "$HERE/litellm.yaml.tmpl" > "$WORK/litellm.yaml"
  start litellm env LITELLM_MASTER_KEY="$LITELLM_KEY" LITELLM_LOCAL_MODEL_COST_MAP=True \
    LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS=True LITELLM_LOCAL_BLOG_POSTS=True \
    LITELLM_LOCAL_POLICY_TEMPLATES=True LITELLM_LOCAL_AUTOROUTER_PRESETS=True \
    LITELLM_OFFLINE_MODE=true LITELLM_MODE=PRODUCTION \
    "$VENV/bin/litellm" --config "$WORK/litellm.yaml" --host 127.0.0.1 --port "$LITELLM_PORT" --num_workers 1
  LITELLM_PID=$START_PID
  log "waiting for LiteLLM on 127.0.0.1:$LITELLM_PORT (about 20-60 s)"
  ok=0
  for _ in $(seq 300); do
    if curl -s -o /dev/null --fail -X POST "http://127.0.0.1:$LITELLM_PORT/v1/chat/completions" \
         -H "Authorization: Bearer $LITELLM_KEY" -H 'Content-Type: application/json' \
         -d '{"model":"chat","messages":[{"role":"user","content":"hi"}]}'; then ok=1; break; fi
    kill -0 "$LITELLM_PID" 2>/dev/null || break
    sleep 1
  done
  if [[ $ok -ne 1 ]]; then
    log "LiteLLM did not come up; its log:"; tail -30 "$WORK/litellm.err" >&2; exit 1
  fi
fi

# ---------------------------------------------------------------------------------
# Targets: NAME PORT MODEL AUTH PROCESS-GROUP (the forwarder's, for CPU accounting)
declare -A T_PORT T_MODEL T_AUTH T_PG
add_target() { T_PORT[$1]="$2"; T_MODEL[$1]="$3"; T_AUTH[$1]="$4"; T_PG[$1]="$5"; }
add_target direct "$MOCK_PORT" m1 "" "$MOCK_PID"
add_target nginx "$NGINX_PORT" m1 "" "$NGINX_PID"
add_target switchyard "${GW_ADDR##*:}" chat "Bearer $API_KEY" "$GW_PID"
LAT_TARGETS=(direct nginx switchyard)
if [[ $SKIP_NOKEY -eq 0 ]]; then
  add_target switchyard_nokey "${GWN_ADDR##*:}" chat "" "$GWN_PID"
  LAT_TARGETS+=(switchyard_nokey)
fi
if [[ -n "$LITELLM_PORT" ]]; then
  add_target litellm "$LITELLM_PORT" chat "Bearer $LITELLM_KEY" "$LITELLM_PID"
  LAT_TARGETS+=(litellm)
fi
TPUT_TARGETS=(direct nginx switchyard)

# wrk_run TAG TARGET THREADS CONNS SECS -> prints the RESULT line, plus the CPU time
# the forwarder's processes (fwd_cpu_us) and the mock (mock_cpu_us) spent per request.
wrk_run() {
  local tag="$1" t="$2" th="$3" c="$4" secs="$5" out line f0 f1 m0 m1 n
  f0="$(group_cpu_ticks "${T_PG[$t]}")"; m0="$(group_cpu_ticks "$MOCK_PID")"
  out="$(BENCH_TAG="$tag" BENCH_MODEL="${T_MODEL[$t]}" BENCH_AUTH="${T_AUTH[$t]}" \
    wrk -t"$th" -c"$c" -d"${secs}s" --latency -s "$HERE/post.lua" \
    "http://127.0.0.1:${T_PORT[$t]}/v1/chat/completions" 2>&1)" || { echo "$out" >&2; return 1; }
  f1="$(group_cpu_ticks "${T_PG[$t]}")"; m1="$(group_cpu_ticks "$MOCK_PID")"
  line="$(grep '^RESULT ' <<<"$out")" || { echo "$out" >&2; return 1; }
  n="$(sed -n 's/.* requests=\([0-9]*\) .*/\1/p' <<<"$line")"
  [[ "$n" -gt 0 ]] || n=1
  echo "$line fwd_cpu_us=$(( (f1 - f0) * 1000000 / CLK_TCK / n )) mock_cpu_us=$(( (m1 - m0) * 1000000 / CLK_TCK / n ))"
}

# interleaved_rounds KIND THREADS CONNS SECS FIELDS TARGET...: $ROUNDS rounds, each running
# wrk once per target in a fresh random order; records every result and logs FIELDS.
interleaved_rounds() {
  local kind="$1" threads="$2" conns="$3" secs="$4" fields="$5"; shift 5
  local r t line
  for r in $(seq "$ROUNDS"); do
    for t in $(printf '%s\n' "$@" | shuf); do
      line="$(wrk_run "$kind $r $t" "$t" "$threads" "$conns" "$secs")"
      record "$line"
      log "  round $r $t: $(awk -v f="^($fields)=" '{for(i=5;i<=NF;i++) if ($i ~ f) printf "%s ", $i}' <<<"$line")"
    done
  done
}

log "warm-up (each target: 2 s at c=1, then 2 s at c=64 for the throughput targets)"
for t in "${LAT_TARGETS[@]}"; do wrk_run "warmup" "$t" 1 1 2 >/dev/null; done
for t in "${TPUT_TARGETS[@]}"; do wrk_run "warmup" "$t" 2 64 2 >/dev/null; done

log "c=1 latency: $ROUNDS rounds x ${#LAT_TARGETS[@]} targets x ${LAT_SECS}s (order shuffled each round)"
interleaved_rounds lat 1 1 "$LAT_SECS" 'p50|p99|rps|err_status|fwd_cpu_us' "${LAT_TARGETS[@]}"

log "time to first SSE event: $TTFE_N streamed requests per target, interleaved"
TTFE_LITELLM_N=$(( TTFE_N < TTFE_LITELLM_N ? TTFE_N : TTFE_LITELLM_N ))
TT_JSON="[{\"name\":\"direct\",\"port\":$MOCK_PORT,\"model\":\"m1\",\"n\":$TTFE_N},"
TT_JSON+="{\"name\":\"nginx\",\"port\":$NGINX_PORT,\"model\":\"m1\",\"n\":$TTFE_N},"
TT_JSON+="{\"name\":\"switchyard\",\"port\":${GW_ADDR##*:},\"model\":\"chat\",\"auth\":\"Bearer $API_KEY\",\"n\":$TTFE_N}"
if [[ -n "$LITELLM_PORT" ]]; then
  TT_JSON+=",{\"name\":\"litellm\",\"port\":$LITELLM_PORT,\"model\":\"chat\",\"auth\":\"Bearer $LITELLM_KEY\",\"n\":$TTFE_LITELLM_N}"
fi
TT_JSON+="]"
python3 "$HERE/ttfe.py" --targets-json "$TT_JSON" > "$WORK/ttfe.txt"
while read -r line; do record "$line"; log "  $line"; done < "$WORK/ttfe.txt"

if [[ -n "$LITELLM_PORT" ]]; then
  record "rss litellm_after_load $(group_rss_kb "$LITELLM_PID")"
  log "stopping LiteLLM (frees CPU and memory for the throughput and soak phases)"
  stop_group "$LITELLM_PID"
fi

log "c=64 throughput: $ROUNDS rounds x ${#TPUT_TARGETS[@]} targets x ${TPUT_SECS}s (wrk -t2 -c64)"
interleaved_rounds tput 2 64 "$TPUT_SECS" 'rps|p50|p99|err_status|fwd_cpu_us|mock_cpu_us' "${TPUT_TARGETS[@]}"

sleep 2
record "rss gateway_idle_after_load $(rss_kb "$GW_PID")"
record "rss mock_idle $(rss_kb "$MOCK_PID")"
record "rss nginx_tree $(group_rss_kb "$NGINX_PID")"

log "soak: switchyard at c=8 (wrk -t1 -c8) for ${SOAK_SECS}s, VmRSS sampled every 5 s"
record "soak 0 $(rss_kb "$GW_PID")"
BENCH_TAG="soak" BENCH_MODEL=chat BENCH_AUTH="Bearer $API_KEY" \
  wrk -t1 -c8 -d"${SOAK_SECS}s" --timeout 10s -s "$HERE/post.lua" \
  "http://127.0.0.1:${GW_ADDR##*:}/v1/chat/completions" > "$WORK/soak-wrk.txt" 2>&1 &
SOAK_WRK=$!
t0=$(date +%s)
while kill -0 "$SOAK_WRK" 2>/dev/null; do
  sleep 5
  kill -0 "$SOAK_WRK" 2>/dev/null || break
  el=$(( $(date +%s) - t0 ))
  kb="$(rss_kb "$GW_PID")"
  record "soak $el $kb"
  if (( el % 60 < 5 )); then log "  t=${el}s VmRSS=${kb} kB"; fi
done
wait "$SOAK_WRK"
grep '^RESULT ' "$WORK/soak-wrk.txt" | sed 's/^RESULT soak/soakwrk/' >> "$RESULTS"
sleep 5
record "rss gateway_idle_after_soak $(rss_kb "$GW_PID")"
kill -0 "$GW_PID" || { log "the gateway died during the run"; exit 1; }

# ---------------------------------------------------------------------------------
args=()
[[ $STRICT -eq 1 ]] && args+=(--strict)
[[ $KEEP -eq 1 ]] && cp "$RESULTS" "$WORK/results.kept.txt"
python3 "$HERE/analyze.py" "${args[@]}" "$RESULTS"
