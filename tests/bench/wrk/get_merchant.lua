-- An authenticated read of one row: the API's fixed cost (auth, throttle, render) without a write.
package.path = os.getenv("BENCH_LUA_PATH") .. "/?.lua;" .. package.path
local common = require("common")
common.setup_headers("GET", nil)
done = common.done
delay = common.delay_for_rate()
