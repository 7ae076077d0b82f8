-- 256-byte appends spread over 100 streams (bench-0 .. bench-99), one stream per request in turn.
-- The stream prefix comes from the first script argument (e.g. /v1/stream/wrk-17-).
local prefix = "/v1/stream/bench-"
local streams = 100
local body = string.rep("x", 256)
local counter = 0

function init(args)
  if args[1] then prefix = args[1] end
  counter = math.random(0, streams - 1)
end

function request()
  counter = (counter + 1) % streams
  return wrk.format("POST", prefix .. counter, { ["Content-Type"] = "application/octet-stream" }, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    "JSON {\"requests\":%d,\"duration_us\":%d,\"bytes\":%d,\"p50_us\":%d,\"p99_us\":%d,\"status_errors\":%d,\"socket_errors\":%d}\n",
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
