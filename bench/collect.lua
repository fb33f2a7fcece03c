-- wrk script: POST /collections/collect (an MTN Uganda payer) against the MoMo emulator. KEY from the
-- environment.
local key = os.getenv("KEY")
local headers = { ["Content-Type"] = "application/json", ["x-api-key"] = key }
local body = [[{"phone":"+256772123456","amount":1000}]]

function request()
  return wrk.format("POST", "/collections/collect", headers, body)
end

function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
