-- bench/run-tenants.sh: POST /api/v1/encrypt with a key drawn at random, per request, from every tenant's keys.
--   WRK_PAIRS_FILE  lines "<API key>\t<key id>" (mode 600; the API keys never show in `ps`)
-- Prints the same "WRK_JSON {...}" line as request.lua.
local pairs_file = os.getenv("WRK_PAIRS_FILE")
local text = string.rep("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", 16)
local credentials = {}
local key_ids = {}

init = function(args)
  local file = assert(io.open(pairs_file, "r"))
  for line in file:lines() do
    local credential, key_id = line:match("^(%S+)\t(%S+)$")
    if credential ~= nil then
      credentials[#credentials + 1] = credential
      key_ids[#key_ids + 1] = key_id
    end
  end
  file:close()
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
end

request = function()
  local i = math.random(#key_ids)
  local body = '{"keyId":"' .. key_ids[i] .. '","encoding":"utf8","plaintext":"' .. text .. '"}'
  return wrk.format("POST", "/api/v1/encrypt", { ["Content-Type"] = "application/json", ["X-Api-Key"] = credentials[i] }, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"durationUs":%d,"bytes":%d,"connectErrors":%d,"readErrors":%d,"writeErrors":%d,' ..
    '"non2xx3xx":%d,"timeouts":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,"meanUs":%.1f,"maxUs":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
