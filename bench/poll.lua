-- Pending poll: POST /v1/oauth/device/token for real pending flows, cycling
-- through the pool written by issue.lua so each code is polled rarely.
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local dir = os.getenv("BENCH_CODES_DIR") or "results"
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")
  bodies = {}
  -- Each thread takes every n-th code so threads do not share codes.
  local i = 0
  for file in io.popen('ls "' .. dir .. '"/codes-*.txt'):lines() do
    for code in io.lines(file) do
      if i % nthreads == id then
        table.insert(bodies, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=gatehouse-cli&device_code=" .. code)
      end
      i = i + 1
    end
  end
  next_body = 1
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  answers = {}
end

function request()
  local body = bodies[next_body]
  next_body = next_body % #bodies + 1
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  local error = body:match('"error":"([^"]+)"') or tostring(status)
  answers[error] = (answers[error] or 0) + 1
end

function done(summary, latency, requests)
  io.write(string.format("p50 %.2f ms, p99 %.2f ms\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  local totals, pool = {}, 0
  for _, thread in ipairs(threads) do
    pool = pool + #thread:get("bodies")
    for answer, count in pairs(thread:get("answers")) do
      totals[answer] = (totals[answer] or 0) + count
    end
  end
  io.write(string.format("pool of %d pending codes; answers:", pool))
  for answer, count in pairs(totals) do
    io.write(string.format(" %s=%d", answer, count))
  end
  io.write("\n")
end
