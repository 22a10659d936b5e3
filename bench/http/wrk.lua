-- One wrk script for every HTTP scenario of bench/http/run.sh.
--
-- The request comes from the environment, so the shell script chooses it per scenario:
--   WRK_METHOD  GET (default) or POST
--   WRK_BODY    a form-encoded body (sent as application/x-www-form-urlencoded)
--   WRK_AUTH    an Authorization header value (e.g. "Basic ...")
-- At the end it prints one machine-readable line:
--   RESULT requests=N duration_us=N rps=N p50_us=N p99_us=N errors=N non2xx=N

local method = os.getenv("WRK_METHOD") or "GET"
local body = os.getenv("WRK_BODY")
local auth = os.getenv("WRK_AUTH")

wrk.method = method
if body ~= nil and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end
if auth ~= nil and auth ~= "" then
  wrk.headers["Authorization"] = auth
end

done = function(summary, latency, requests)
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d errors=%d non2xx=%d\n",
    summary.requests,
    summary.duration,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50),
    latency:percentile(99),
    socket_errors + e.status,
    e.status
  ))
end
