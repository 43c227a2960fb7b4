-- The abusive poll: one device code (BENCH_HOT_CODE) polled flat out by
-- every connection, so every answer after the first is slow_down and each
-- one lengthens that flow's interval: the most contended write there is.
function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.body = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=gatehouse-cli&device_code="
    .. os.getenv("BENCH_HOT_CODE")
end

function done(summary, latency, requests)
  io.write(string.format("p50 %.2f ms, p99 %.2f ms\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
