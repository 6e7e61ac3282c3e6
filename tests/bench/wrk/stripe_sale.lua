-- Baseline: the Stripe SDK PaymentIntent create+confirm alone (same adapter, same sandbox), storing nothing.
package.path = os.getenv("BENCH_LUA_PATH") .. "/?.lua;" .. package.path
local common = require("common")
common.setup_headers("POST", "{}")
done = common.done
delay = common.delay_for_rate()
