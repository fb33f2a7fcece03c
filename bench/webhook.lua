-- wrk script: POST /webhooks/paystack, each request the next line of the file BODIES ("<signature> <body>",
-- bodies signed by bench/paths.sh with the account's secret key), round and round. Each wrk thread starts
-- at its own share of the file (thread k of n at k/n of it), so that the threads never send one body at
-- the same moment: a payment is reported once per pass, not twice at once. (A random start per thread,
-- as before session 30, put the threads' starts a few bodies apart in some runs: then most payments were
-- reported twice within milliseconds, and the rate swung from run to run with the seed.)
local bodies = {}
for line in io.lines(os.getenv("BODIES")) do
  local signature, body = line:match("^(%S+) (.*)$")
  bodies[#bodies + 1] = { signature, body }
end
local threads = {}
local next_one = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  -- `tid` (set by setup) is 1-based; the thread count is paths.sh's -t2 unless THREADS says otherwise.
  local count = tonumber(os.getenv("THREADS") or "2")
  next_one = math.floor((tid - 1) * #bodies / count)
end

function request()
  next_one = next_one % #bodies + 1
  local signed = bodies[next_one]
  return wrk.format("POST", "/webhooks/paystack",
    { ["Content-Type"] = "application/json", ["x-paystack-signature"] = signed[1] }, signed[2])
end

dofile("bench/result.lua")
