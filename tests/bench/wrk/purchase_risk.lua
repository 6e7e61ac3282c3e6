-- A card purchase through the API as risk sees purchases from a storefront: each with a card of
-- its own (a random Visa number, Luhn-valid), a customer IP from a /24 and an email from a
-- thousand, all counted per card, IP, email and API key; each with its own Idempotency-Key. The
-- same requests go to the app with risk off (the baseline) and with 200 rules.
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

local function visa()
  local digits = {4}
  for i = 2, 15 do digits[i] = math.random(0, 9) end
  local sum = 0
  for i = 15, 1, -1 do  -- Luhn: double every second digit from the right of the payload
    local d = digits[i]
    if (15 - i) % 2 == 0 then d = d * 2; if d > 9 then d = d - 9 end end
    sum = sum + d
  end
  digits[16] = (10 - sum % 10) % 10
  return table.concat(digits)
end

function request()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = run_id .. "-" .. thread_number .. "-" .. counter
  local body = string.format(
    '{"amount": 1050, "currency": "USD", "reference": "bench", "customer_ip": "203.0.113.%d", ' ..
    '"payment_method": {"type": "card", "number": "%s", "exp_month": 12, "exp_year": 2030, "cvc": "123", ' ..
    '"billing_details": {"email": "buyer%d@example.com"}}}',
    math.random(1, 254), visa(), math.random(1, 1000))
  return wrk.format(nil, nil, nil, body)
end

done = common.done
delay = common.delay_for_rate()
