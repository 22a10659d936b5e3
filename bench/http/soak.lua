-- The mixed request stream of bench/http/soak.sh: each wrk connection cycles through discovery,
-- the JWKS, one client_credentials token, and five introspections of the latest token it was
-- given (a resource server sees a token several times; each new token is a first-seen
-- verification, so the key ring's memory of verified tokens fills and sheds as it does in use).
--
--   SOAK_AUTH   the client's Authorization header value ("Basic ...")
--   SOAK_TOKEN  a valid token to introspect until the first token answer arrives
-- At the end it prints one machine-readable line:
--   RESULT requests=N duration_us=N rps=N p50_us=N p99_us=N errors=N non2xx=N

local auth = os.getenv("SOAK_AUTH")
local token = os.getenv("SOAK_TOKEN")

local form = "application/x-www-form-urlencoded"
local step = 0

request = function()
  step = step % 8 + 1
  if step == 1 then
    return wrk.format("GET", "/.well-known/openid-configuration", {}, nil)
  elseif step == 2 then
    return wrk.format("GET", "/jwks", {}, nil)
  elseif step == 3 then
    return wrk.format("POST", "/token", { ["Authorization"] = auth, ["Content-Type"] = form },
      "grant_type=client_credentials")
  else
    return wrk.format("POST", "/introspect", { ["Authorization"] = auth, ["Content-Type"] = form },
      "token=" .. token)
  end
end

response = function(status, headers, body)
  local minted = body:match('"access_token":"([^"]+)"')
  if minted ~= nil then
    token = minted
  end
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
