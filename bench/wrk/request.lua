-- bench/run-ops.sh and bench/gateway-tuning.sh drive every target with this script: one fixed request (the URL from
-- the command line; method, body file and API key from the environment, so the key never shows in `ps`), and at the
-- end one line "WRK_JSON {...}" with the figures the report needs (latencies in microseconds).
--   WRK_METHOD     GET (default) or POST
--   WRK_BODY_FILE  the JSON body of a POST
--   WRK_API_KEY    sent as X-Api-Key; a value "Bearer <token>" is sent as the Authorization header instead
wrk.method = os.getenv("WRK_METHOD") or "GET"

local body_file = os.getenv("WRK_BODY_FILE")
if body_file ~= nil and body_file ~= "" then
  local file = assert(io.open(body_file, "rb"))
  wrk.body = file:read("*a")
  file:close()
  wrk.headers["Content-Type"] = "application/json"
end

local api_key = os.getenv("WRK_API_KEY")
if api_key ~= nil and api_key ~= "" then
  if string.sub(api_key, 1, 7) == "Bearer " then
    wrk.headers["Authorization"] = api_key
  else
    wrk.headers["X-Api-Key"] = api_key
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"durationUs":%d,"bytes":%d,"connectErrors":%d,"readErrors":%d,"writeErrors":%d,' ..
    '"non2xx3xx":%d,"timeouts":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,"meanUs":%.1f,"maxUs":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
