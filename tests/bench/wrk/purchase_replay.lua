-- The same purchase again and again under one Idempotency-Key: every answer after the first is a replay.
package.path = os.getenv("BENCH_LUA_PATH") .. "/?.lua;" .. package.path
local common = require("common")
common.setup_headers("POST", '{"amount": 1050, "currency": "USD", "reference": "bench-replay", ' ..
  '"payment_method": {"type": "card", "number": "4111111111111111", "exp_month": 12, "exp_year": 2030, "cvc": "123"}}')
wrk.headers["Idempotency-Key"] = "bench-purchase-replay-" .. os.getenv("BENCH_RUN_ID")
done = common.done
delay = common.delay_for_rate()
