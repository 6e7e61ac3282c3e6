-- A customer's own payments (GET /api/v1/payments, the first page of 25): with the secret key for
-- the baseline, with a customer session token (a JWT verified without a database query) for the
-- scenario. run.py puts either in BENCH_API_KEY; the customer owns every payment of its merchant,
-- so both answer the same page.
package.path = os.getenv("BENCH_LUA_PATH") .. "/?.lua;" .. package.path
local common = require("common")
common.setup_headers("GET", nil)
done = common.done
delay = common.delay_for_rate()
