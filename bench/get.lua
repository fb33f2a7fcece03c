-- wrk script: GET /collections/{id}, a random id per request from the file IDS (one id per line). KEY (API
-- key) from the environment.
local key = os.getenv("KEY")
local ids = {}
for line in io.lines(os.getenv("IDS")) do ids[#ids + 1] = line end
local headers = { ["x-api-key"] = key }

function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8)) or 0))
end

function request()
  return wrk.format("GET", "/collections/" .. ids[math.random(#ids)], headers)
end

dofile("bench/result.lua")
