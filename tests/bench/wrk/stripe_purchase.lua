-- A card purchase on a Stripe account through the API (captured at once), each with its own Idempotency-Key.
package.path = os.getenv("BENCH_LUA_PATH") .. "/?.lua;" .. package.path
local common = require("common")
common.setup_headers("POST", '{"amount": 1050, "currency": "USD", "reference": "bench", ' ..
  '"payment_method": {"type": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}}')
local run_id = os.getenv("BENCH_RUN_ID") .. "-" .. (os.getenv("BENCH_PHASE") or "")
local counter = 0

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function request()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = run_id .. "-" .. thread_number .. "-" .. counter
  return wrk.format()
end

done = common.done
delay = common.delay_for_rate()
