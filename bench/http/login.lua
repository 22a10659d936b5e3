-- wrk script for bench/http/login.sh: re-posts one login form (same interaction, browser
-- cookie, CSRF token) as fast as the connections allow, and counts the answers by status.
--
--   WRK_BODY    the form body (csrf_token, interaction_id, username, password)
--   WRK_COOKIE  the browser's Cookie header
-- At the end it prints one machine-readable line:
--   RESULT requests=N duration_us=N rps=N p50_us=N p99_us=N errors=N s303=N s200=N s503=N other=N

wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = os.getenv("WRK_COOKIE")

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  s303, s200, s503, other = 0, 0, 0, 0
end

function response(status, headers, body)
  if status == 303 then
    s303 = s303 + 1
  elseif status == 200 then
    s200 = s200 + 1
  elseif status == 503 then
    s503 = s503 + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local c303, c200, c503, cother = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    c303 = c303 + t:get("s303")
    c200 = c200 + t:get("s200")
    c503 = c503 + t:get("s503")
    cother = cother + t:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d errors=%d s303=%d s200=%d s503=%d other=%d\n",
    summary.requests,
    summary.duration,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50),
    latency:percentile(99),
    e.connect + e.read + e.write + e.timeout,
    c303, c200, c503, cother
  ))
end
