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

dofile("bench/result.lua")
