-- Pending poll: POST /v1/oauth/device/token for real pending flows, cycling
-- through the pool written by issue.lua so each code is polled rarely.
-- No response() hook here: parsing every body in Lua costs wrk CPU that the
-- server, on the same cores, would otherwise get. poll-answers.lua runs the
-- same requests briefly and counts the answers.
-- Globals, so poll-answers.lua sees them too.
counter = 0
threads = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function poll_init(args)
  local dir = os.getenv("BENCH_CODES_DIR") or "results"
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
  local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  -- Whole requests, formatted once here: formatting each one in request()
  -- cost wrk 13 µs of CPU a request instead of 11 (measured), CPU that the
  -- server on the same cores needs.
  prepared = {}
  -- Each thread takes every n-th code so threads do not share codes.
  local i = 0
  for file in io.popen('ls "' .. dir .. '"/codes-*.txt'):lines() do
    for code in io.lines(file) do
      if i % nthreads == id then
        table.insert(prepared, wrk.format("POST", nil, headers,
          "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=gatehouse-cli&device_code=" .. code))
      end
      i = i + 1
    end
  end
  -- Start where the previous run over this pool stopped (see done), so a
  -- second run meets codes last polled a whole cycle ago, as the first did.
  next_request = 1
  local offset = io.open(dir .. "/offset-" .. id .. ".txt", "r")
  if offset then
    next_request = tonumber(offset:read("*l")) or 1
    offset:close()
  end
end

function request()
  local request = prepared[next_request]
  next_request = next_request % #prepared + 1
  return request
end

function init(args)
  poll_init(args)
end

-- Remembers where each thread stopped in the pool.
function save_offsets()
  local dir = os.getenv("BENCH_CODES_DIR") or "results"
  for i, thread in ipairs(threads) do
    local file = io.open(dir .. "/offset-" .. (i - 1) .. ".txt", "w")
    file:write(tostring(thread:get("next_request")), "\n")
    file:close()
  end
end

function done(summary, latency, requests)
  io.write(string.format("p50 %.2f ms, p99 %.2f ms\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  save_offsets()
end
