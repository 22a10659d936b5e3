-- One wrk script for every HTTP scenario of bench/http/run.sh.
--
-- The request comes from the environment, so the shell script chooses it per scenario:
--   WRK_METHOD  GET (default) or POST
--   WRK_BODY    a form-encoded body (sent as application/x-www-form-urlencoded)
--   WRK_AUTH    an Authorization header value (e.g. "Basic ...")
--   WRK_SAVE_TOKENS  a path prefix: each thread appends the access_token of every response
--               to <prefix>.<thread> (minting a pool of distinct tokens)
--   WRK_TOKENS_FILE  a file of tokens, one per line: each request's body is token=<next one>
--               (threads start at different places), instead of WRK_BODY
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

local save_prefix = os.getenv("WRK_SAVE_TOKENS")
local tokens_file = os.getenv("WRK_TOKENS_FILE")

-- Each thread gets a number, so it can name its own file and start at its own token.
local next_id = 0
setup = function(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

local saved, tokens, position
init = function(args)
  if save_prefix ~= nil and save_prefix ~= "" then
    saved = io.open(save_prefix .. "." .. id, "a")
  end
  if tokens_file ~= nil and tokens_file ~= "" then
    tokens = {}
    for line in io.lines(tokens_file) do
      tokens[#tokens + 1] = line
    end
    position = math.floor(#tokens * id / 16) % #tokens
  end
end

if tokens_file ~= nil and tokens_file ~= "" then
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  request = function()
    position = position % #tokens + 1
    return wrk.format(nil, nil, nil, "token=" .. tokens[position])
  end
end

if save_prefix ~= nil and save_prefix ~= "" then
  response = function(status, headers, body)
    local token = body:match('"access_token":"([^"]+)"')
    if token ~= nil then
      saved:write(token, "\n")
    end
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
