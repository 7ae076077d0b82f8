-- Catch-up reads of one stream from its start (the path comes from the first argument).
local path = "/v1/stream/bench-read"

function init(args)
  if args[1] then path = args[1] end
end

function request()
  return wrk.format("GET", path .. "?offset=-1")
end

function done(summary, latency, requests)
  io.write(string.format(
    "JSON {\"requests\":%d,\"duration_us\":%d,\"bytes\":%d,\"p50_us\":%d,\"p99_us\":%d,\"status_errors\":%d,\"socket_errors\":%d}\n",
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
