-- wrk script: POST /collections with the integrated document's example, a unique reference and a new
-- phone and email per request. KEY (API key) and DELAY_MS (pause between a connection's requests, for a
-- fixed-rate run) and PROVIDER (default sandbox) come from the environment.
local key = os.getenv("KEY")
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
local run = os.getenv("RUN") or tostring(os.time())
local provider = os.getenv("PROVIDER") or "sandbox"
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local counter = 0
local template = [[{"type":"integrated","reference":"bench_%s_%d_%d","amount":{"value":45000,"currency":"NGN"},]] ..
  [["contact":{"firstName":"Amina","lastName":"Lawal","phone":"+234803%07d","email":"b%d_%d@example.com"},]] ..
  [["metadata":[{"name":"Standard Membership","description":"January plan renewal","quantity":1}],"expiresIn":1440,]] ..
  [["payable":{"enabled":true,"methods":["payment_link","virtual_account"]},"provider":"%s",]] ..
  [["followUp":{"enabled":true,"startAfter":20,"cadence":"every_10m","channels":["whatsapp","sms"],"tone":"gentle"}}]]
local headers = { ["Content-Type"] = "application/json", ["x-api-key"] = key }

function request()
  counter = counter + 1
  local n = tid * 5000000 + counter
  local body = string.format(template, run, tid, counter, n % 10000000, tid, counter, provider)
  return wrk.format("POST", "/collections", headers, body)
end

if delay_ms > 0 then
  function delay() return delay_ms end
end

dofile("bench/result.lua")
