-- Device-code issuance: POST /v1/oauth/device/code as the CLI client.
-- Each thread also records the device codes it was given, so the poll
-- benchmark can use a pool of real pending flows.
local counter = 0
local codes = nil

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  codes = io.open((os.getenv("BENCH_CODES_DIR") or "results") .. "/codes-" .. id .. ".txt", "w")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.body = "client_id=gatehouse-cli&device_label=bench"
end

function response(status, headers, body)
  if status == 200 then
    local code = body:match('"device_code":"([^"]+)"')
    if code then codes:write(code, "\n") end
  end
end
