-- wrk script: POST /webhooks/paystack, each request the next line of the file BODIES ("<signature> <body>",
-- bodies signed by bench/paths.sh with the account's secret key), round and round.
local bodies = {}
for line in io.lines(os.getenv("BODIES")) do
  local signature, body = line:match("^(%S+) (.*)$")
  bodies[#bodies + 1] = { signature, body }
end
local next_one = 0

function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8)) or 0))
  next_one = math.random(#bodies)
end

function request()
  next_one = next_one % #bodies + 1
  local signed = bodies[next_one]
  return wrk.format("POST", "/webhooks/paystack",
    { ["Content-Type"] = "application/json", ["x-paystack-signature"] = signed[1] }, signed[2])
end

function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
