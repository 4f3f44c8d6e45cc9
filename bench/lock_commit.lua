-- wrk script: W2 load. A purchase is two requests: lock the cashback, then commit it.
-- Each wrk thread keeps the tokens its locks returned and commits them on its next requests;
-- `done` prints the number of committed purchases ("purchases: N") and of locks refused for
-- want of balance ("dry: N"; the buyers must be funded for the whole run, or this measures
-- refusals instead of purchases).
-- Env: BENCH_AUTH, BENCH_BRAND (the tenant's slug), BENCH_BUYERS (default 1000: customers
-- c1..cN, who must hold some points).
local auth = os.getenv("BENCH_AUTH")
local brand = os.getenv("BENCH_BRAND") or "bench"
local buyers = tonumber(os.getenv("BENCH_BUYERS") or "1000")
local headers = {["Content-Type"] = "application/json", ["brand"] = brand}
if auth then headers["Authorization"] = auth end
local tokens = {}
purchases = 0
dry = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("seed", os.time() * 64 + #threads)
end

function init(args)
  -- Each thread's own customers, different in every run (w1.lua says why).
  math.randomseed(seed)
end

function request()
  local token = table.remove(tokens)
  if token then
    return wrk.format("POST", "/v1/rewards/commit", headers,
      string.format('{"lock_token":"%s"}', token))
  end
  local n = math.random(1, buyers)
  return wrk.format("POST", "/v1/rewards/lock", headers,
    string.format('{"customer_id":"c%d","total":"0.05"}', n))
end

function response(status, hdrs, body)
  local token = string.match(body, '"lock_token":"([^"]+)"')
  if token then
    table.insert(tokens, token)
  elseif status == 200 and string.find(body, '"committed"', 1, true) then
    purchases = purchases + 1
  elseif string.find(body, '"NO_BALANCE"', 1, true) then
    dry = dry + 1
  end
end

function done(summary, latency, requests)
  local total, refused = 0, 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("purchases")
    refused = refused + thread:get("dry")
  end
  io.write(string.format("purchases: %d\ndry: %d\n", total, refused))
end
