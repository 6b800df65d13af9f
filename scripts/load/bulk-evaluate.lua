-- wrk script: POST /api/v1/evaluate (every flag of the token's environment) for rotating customers.
-- ROLLGATE_TOKEN=rgt_... wrk -t2 -c64 -d20s --latency -s scripts/load/bulk-evaluate.lua http://127.0.0.1:3000
local token = os.getenv("ROLLGATE_TOKEN") or error("set ROLLGATE_TOKEN to an evaluate token")
local bodies = {}
for i = 1, 1000 do
  bodies[i] = string.format('{"context":{"customer_id":"cust-%04d","organization_id":"org-%d"}}', i, i % 7)
end
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token

request = function()
  n = n % 1000 + 1
  return wrk.format(nil, "/api/v1/evaluate", nil, bodies[n])
end

-- wrk counts answers with status >= 400 in summary.errors.status.
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format("non-2xx: %d, socket errors: connect %d read %d write %d timeout %d\n",
    summary.errors.status, errors.connect, errors.read, errors.write, errors.timeout))
end
