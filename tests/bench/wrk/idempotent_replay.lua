-- The same Idempotency-Key every time: after the first request, every answer is a stored replay.
package.path = os.getenv("BENCH_LUA_PATH") .. "/?.lua;" .. package.path
local common = require("common")
common.setup_headers("POST", '{"note": "replayed"}')
wrk.headers["Idempotency-Key"] = "bench-replay-" .. os.getenv("BENCH_RUN_ID")
done = common.done
delay = common.delay_for_rate()
