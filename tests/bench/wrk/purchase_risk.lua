-- A card purchase through the API as risk sees purchases from a storefront: one of the sandbox's
-- test cards (its customer's email with it), a customer IP from a /24, all counted per card, IP
-- and API key; each with its own Idempotency-Key. The same requests go to the app with risk
-- off (the baseline) and with 200 rules.
package.path = os.getenv("BENCH_LUA_PATH") .. "/?.lua;" .. package.path
local common = require("common")
common.setup_headers("POST", "")
local run_id = os.getenv("BENCH_RUN_ID") .. "-" .. (os.getenv("BENCH_PHASE") or "")
local counter = 0

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  math.randomseed(os.time() + (thread_number or 0) * 7919)
end

-- The sandbox's test cards that approve (as at the real sandbox, other numbers decline).
local cards = {"4111111111111111", "4007000000027", "4012888818888", "5424000000000015", "2223000010309703",
  "2223000010309711", "6011000000000012", "3088000000000017", "38000000000006"}

function request()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = run_id .. "-" .. thread_number .. "-" .. counter
  local card = math.random(1, #cards)  -- one customer per card: no rule matches
  local body = string.format(
    '{"amount": 1050, "currency": "USD", "reference": "bench", "customer_ip": "203.0.113.%d", ' ..
    '"payment_method": {"type": "card", "number": "%s", "exp_month": 12, "exp_year": 2030, "cvc": "123", ' ..
    '"billing_details": {"email": "buyer%d@example.com"}}}',
    math.random(1, 254), cards[card], card)
  return wrk.format(nil, nil, nil, body)
end

done = common.done
delay = common.delay_for_rate()
