-- The RESULT line every wrk script prints (bench/*.sh read it): requests/s, p50 and p99 in ms, errors.
-- Load it with dofile("bench/result.lua") (the scripts run from the repository's root).
function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
