-- Refresh (RFC 6749 §6): POST /v1/oauth/device/token with grant_type
-- refresh_token. Every refresh rotates its token, so each grant is refreshed
-- one request at a time: the pool of current refresh tokens (one per grant,
-- from BENCH_REFRESH_FILE) is a queue; request() takes one, response() puts
-- the rotated one back. Presenting one twice would be reuse and end the
-- grant, so a request whose answer is not a new token takes its grant out of
-- the pool (wrk reports those answers as non-2xx).
local queue = {}
local head, tail = 1, 0

local function push(token)
  tail = tail + 1
  queue[tail] = token
end

function init(args)
  for token in io.lines(os.getenv("BENCH_REFRESH_FILE")) do
    push(token)
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  -- More connections than grants would present a token twice: the pool
  -- holds at least as many grants as connections (run.sh makes it so).
  local token = queue[head] or "gthr_the_pool_ran_dry"
  queue[head] = nil
  head = head + 1
  return wrk.format(nil, nil, nil, "grant_type=refresh_token&client_id=gatehouse-cli&refresh_token=" .. token)
end

function response(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if status == 200 and token then
    push(token)
  end
end

function done(summary, latency, requests)
  io.write(string.format("p50 %.2f ms, p99 %.2f ms\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
