-- wrk script: W3 load. GET the points of a random customer.
-- Env: BENCH_AUTH (Authorization header value), BENCH_CUSTOMERS (default 100000).
local auth = os.getenv("BENCH_AUTH")
local customers = tonumber(os.getenv("BENCH_CUSTOMERS") or "100000")
local headers = {}
if auth then headers["Authorization"] = auth end

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("seed", os.time() * 64 + threads)
end

function init(args)
  -- Each thread's own customers, different in every run (w1.lua says why).
  math.randomseed(seed)
end

function request()
  local n = math.random(1, customers)
  return wrk.format("GET", string.format("/v1/pvt/Customer/c%d/points", n), headers)
end
