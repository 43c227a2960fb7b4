-- The pending poll's requests (poll.lua), counting each answer, to show the
-- pool is large enough that polls get authorization_pending, not slow_down.
dofile("poll.lua")

function init(args)
  poll_init(args)
  answers = {}
end

function response(status, headers, body)
  local error = body:match('"error":"([^"]+)"') or tostring(status)
  answers[error] = (answers[error] or 0) + 1
end

function done(summary, latency, requests)
  save_offsets()
  local totals, pool = {}, 0
  for _, thread in ipairs(threads) do
    pool = pool + #thread:get("prepared")
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
