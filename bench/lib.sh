# Shared by the whole-process benchmark scripts (bench/*/run.sh). Expects $WORK (a
# work directory) and the array PGIDS (process groups that cleanup ends).

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# start NAME CMD...: runs CMD in its own process group (so cleanup can end it and its
# children), stdout/stderr in $WORK/NAME.{out,err}; sets START_PID.
start() {
  local name="$1"; shift
  setsid "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" </dev/null &
  START_PID=$!
  PGIDS+=("$START_PID")
}

# stop_group PGID: SIGTERM, up to 10 s to exit, then SIGKILL.
stop_group() {
  local pg="$1"
  kill -TERM -- "-$pg" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 -- "-$pg" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL -- "-$pg" 2>/dev/null || true
}

# wait_line NAME PREFIX: waits (up to 15 s) for a stdout line "PREFIX<ADDR>" of the
# process started as NAME and prints ADDR.
wait_line() {
  local name="$1" prefix="$2" addr=""
  for _ in $(seq 150); do
    addr="$(sed -n "s#^$prefix##p" "$WORK/$name.out" | head -1)"
    [[ -n "$addr" ]] && { echo "$addr"; return 0; }
    sleep 0.1
  done
  echo "$name did not start:" >&2; tail -20 "$WORK/$name.err" >&2; return 1
}
