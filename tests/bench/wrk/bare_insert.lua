-- The bare floor under insert_row.lua: a minimal Django + DRF app inserting one row, no auth.
package.path = os.getenv("BENCH_LUA_PATH") .. "/?.lua;" .. package.path
local common = require("common")
common.setup_plain("POST", '{"note": "bench"}')
done = common.done
delay = common.delay_for_rate()
