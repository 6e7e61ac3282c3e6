-- A whole Razorpay checkout per cycle, on one connection per wrk thread (the steps alternate):
--   1. POST the order step (ours: /api/v1/checkout/razorpay/orders; floor: the bare SDK call),
--   2. pay it as the browser would, at the sandbox's Checkout endpoint (the same in both runs),
--   3. POST verify with what Checkout returned (ours: full verify; floor: signature + SDK fetch).
-- Reports completed checkouts as "requests" (non_2xx counts failed steps).
package.path = os.getenv("BENCH_LUA_PATH") .. "/?.lua;" .. package.path
local common = require("common")
common.setup_headers("POST", "{}")
local floor = os.getenv("BENCH_CHECKOUT_MODE") == "floor"
local order_path = floor and "/api/v1/bench/razorpay-order" or "/api/v1/checkout/razorpay/orders"
local verify_path = floor and "/api/v1/bench/razorpay-verify" or "/api/v1/checkout/razorpay/verify"
local order_body = '{"price": "' .. (os.getenv("BENCH_PRICE") or "") .. '", "quantity": 1}'
local run_id = os.getenv("BENCH_RUN_ID") .. "-" .. (os.getenv("BENCH_PHASE") or "")

local all_threads = {}
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
  table.insert(all_threads, thread)
end

step, counter, flows, failures = 1, 0, 0, 0
local order_id, key, paid = nil, nil, nil

-- wrk.format sends only the headers it is given (plus Host).
local function api_headers()
  counter = counter + 1
  return {
    ["Content-Type"] = "application/json",
    ["Authorization"] = wrk.headers["Authorization"],
    ["Idempotency-Key"] = run_id .. "-" .. thread_number .. "-" .. counter,
  }
end

function request()
  if step == 1 then
    return wrk.format("POST", order_path, api_headers(), order_body)
  elseif step == 2 then
    local card = '{"number": "4100280000001007", "expiry_month": 12, "expiry_year": 2031, "cvv": "123"}'
    return wrk.format("POST", "/sandbox/razorpay/checkout/v1/payments", { ["Content-Type"] = "application/json" },
      '{"key_id": "' .. key .. '", "order_id": "' .. order_id .. '", "card": ' .. card .. '}')
  end
  return wrk.format("POST", verify_path, api_headers(), paid)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    failures = failures + 1
    step = 1
    return
  end
  if step == 1 then
    order_id = string.match(body, '"order_id":%s*"([^"]+)"')
    key = string.match(body, '"key":%s*"([^"]+)"')
    step = 2
  elseif step == 2 then
    paid = body
    step = 3
  else
    flows = flows + 1
    step = 1
  end
end

function done(summary, latency, requests)
  local total, failed = 0, 0
  for _, thread in ipairs(all_threads) do
    total = total + thread:get("flows")
    failed = failed + thread:get("failures")
  end
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, "http_requests": %d}\n',
    total, summary.duration, failed,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    summary.requests))
end
