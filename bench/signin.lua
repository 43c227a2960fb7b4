-- A sign-in flood: POST /console/api/signin with a wrong password, from one
-- session (BENCH_SIGNIN_COOKIE, BENCH_SIGNIN_CSRF). With BENCH_SIGNIN_DELAY_MS
-- each connection waits that long between requests, so the offered rate is
-- about connections × 1000 / delay per second. Counts the answers.
answers = {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Cookie"] = os.getenv("BENCH_SIGNIN_COOKIE")
  wrk.body = "email=bench%40example.com&password=wrong-password&csrf_token=" .. os.getenv("BENCH_SIGNIN_CSRF")
  answers = {}
end

function delay()
  return tonumber(os.getenv("BENCH_SIGNIN_DELAY_MS") or "0")
end

function response(status, headers, body)
  answers[status] = (answers[status] or 0) + 1
end

function done(summary, latency, requests)
  io.write("sign-in answers:")
  local totals = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("answers")) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  for status, count in pairs(totals) do
    io.write(string.format(" %s=%d", status, count))
  end
  io.write(string.format(" in %.1f s\n", summary.duration / 1e6))
end
