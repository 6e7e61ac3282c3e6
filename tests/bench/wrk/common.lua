-- Shared by every scenario: headers from the environment, JSON summary on stdout.
local M = {}

-- The bare floor's requests: the same method, body and content type, no credentials.
function M.setup_plain(method, body)
  wrk.method = method
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end

function M.setup_headers(method, body)
  M.setup_plain(method, body)
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_API_KEY")
end

function M.done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end

-- Pacing for rate-limited runs: a pause after each response on every connection, computed by
-- run.py from the target rate and the measured service time (BENCH_DELAY_MS).
function M.delay_for_rate()
  local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
  if pause <= 0 then return nil end
  return function() return pause end
end

return M
