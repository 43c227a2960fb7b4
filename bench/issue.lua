-- Device-code issuance: POST /v1/oauth/device/code as the CLI client.
-- Each thread also records the device codes it was given, so the poll
-- benchmark can use a pool of real pending flows.
-- With BENCH_MAX_FLOWS set, the threads stop once they have that many
-- flows between them (the memory measurement).
local counter = 0
local codes = nil
local issued = 0
local limit = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  local max = tonumber(os.getenv("BENCH_MAX_FLOWS") or "0")
  local threads = tonumber(os.getenv("BENCH_THREADS") or "1")
  limit = math.ceil(max / threads)
  codes = io.open((os.getenv("BENCH_CODES_DIR") or "results") .. "/codes-" .. id .. ".txt", "w")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.body = "client_id=gatehouse-cli&device_label=bench"
end

function response(status, headers, body)
  if status == 200 then
    local code = body:match('"device_code":"([^"]+)"')
    if code then
      codes:write(code, "\n")
      issued = issued + 1
      if limit > 0 and issued >= limit then
        codes:flush()
        wrk.thread:stop()
      end
    end
  end
end
