-- wrk script: POST one chat-completions body per request and print a parseable
-- summary line. Environment:
--   BENCH_MODEL  model name sent in the body (default "m1")
--   BENCH_AUTH   value of the Authorization header (optional)
--   BENCH_TAG    free text echoed at the start of the RESULT line
local model = os.getenv("BENCH_MODEL") or "m1"
local auth = os.getenv("BENCH_AUTH")
local tag = os.getenv("BENCH_TAG") or "-"

wrk.method = "POST"
wrk.body = '{"model":"' .. model .. '","messages":[{"role":"user","content":"hi"}]}'
wrk.headers["Content-Type"] = "application/json"
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  -- Latencies are in microseconds (wrk's histogram resolution is 1 us).
  io.write(string.format(
    "RESULT %s requests=%d rps=%.1f p50=%d p90=%d p99=%d p999=%d mean=%.1f max=%d "
      .. "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    tag, summary.requests, summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
