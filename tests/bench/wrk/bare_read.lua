-- The bare floor under get_merchant.lua: a minimal Django + DRF app reading one row, no auth.
package.path = os.getenv("BENCH_LUA_PATH") .. "/?.lua;" .. package.path
local common = require("common")
common.setup_plain("GET", nil)
done = common.done
delay = common.delay_for_rate()
