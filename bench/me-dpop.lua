-- Warm-cache DPoP request: GET /v1/me with the bound token in
-- BENCH_DPOP_TOKEN and a fresh proof per request from BENCH_DPOP_PROOFS
-- (dpop-proofs.mjs made them; each jti is accepted once, so a proof is
-- never sent twice: when they run out, requests go without one and count
-- as non-2xx).
-- With several wrk threads, thread k of n takes every n-th proof from the
-- k-th on, so no two threads send the same one.
local proofs = {}
local next_proof = 1
local threads = 0

function setup(thread)
  thread:set("index", threads)
  threads = threads + 1
end

function init(args)
  local count = tonumber(os.getenv("BENCH_THREADS") or "1")
  local line = 0
  for proof in io.lines(os.getenv("BENCH_DPOP_PROOFS")) do
    if line % count == index then
      proofs[#proofs + 1] = proof
    end
    line = line + 1
  end
  local token = io.open(os.getenv("BENCH_DPOP_TOKEN")):read("*a")
  wrk.headers["Authorization"] = "DPoP " .. token
end

function request()
  local proof = proofs[next_proof]
  proofs[next_proof] = nil
  next_proof = next_proof + 1
  wrk.headers["DPoP"] = proof or "ran-out"
  return wrk.format("GET")
end

function done(summary, latency, requests)
  io.write(string.format("p50 %.2f ms, p99 %.2f ms\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
