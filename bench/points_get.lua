-- wrk script: W3 load. GET the points of a random customer.
-- Env: BENCH_AUTH (Authorization header value), BENCH_CUSTOMERS (default 100000).
local auth = os.getenv("BENCH_AUTH")
local customers = tonumber(os.getenv("BENCH_CUSTOMERS") or "100000")
local headers = {}
if auth then headers["Authorization"] = auth end

function request()
  local n = math.random(1, customers)
  return wrk.format("GET", string.format("/v1/pvt/Customer/c%d/points", n), headers)
end
