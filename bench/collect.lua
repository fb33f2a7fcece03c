-- wrk script: POST /collections/collect (an MTN Uganda payer) against the MoMo emulator. KEY from the
-- environment.
local key = os.getenv("KEY")
local headers = { ["Content-Type"] = "application/json", ["x-api-key"] = key }
local body = [[{"phone":"+256772123456","amount":1000}]]

function request()
  return wrk.format("POST", "/collections/collect", headers, body)
end

dofile("bench/result.lua")
