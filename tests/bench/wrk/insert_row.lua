-- Baseline: the smallest authenticated DRF endpoint that inserts one row.
package.path = os.getenv("BENCH_LUA_PATH") .. "/?.lua;" .. package.path
local common = require("common")
common.setup_headers("POST", '{"note": "bench"}')
done = common.done
delay = common.delay_for_rate()
