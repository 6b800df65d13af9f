-- wrk script for scripts/bench-peers: one kind of evaluation request, for a different user each time.
--   PEER_MODE   ofrep-bulk | rest-bulk | ofrep-one | ofrep-304 (Rollgate); edge-bulk | edge-one (Unleash Edge)
--   PEER_TOKEN  the token (Rollgate: an evaluate token; Edge: a frontend token)
--   PEER_FLAG   the flag of the single-flag modes
--   PEER_ETAG   ofrep-304: the ETag of user-00001's bulk answer, sent back as If-None-Match
-- Prints one line, `RESULT requests=... seconds=... p50_us=... p99_us=... non2xx=... errors=...`.
local mode = os.getenv("PEER_MODE") or error("set PEER_MODE")
local token = os.getenv("PEER_TOKEN") or error("set PEER_TOKEN")
local flag = os.getenv("PEER_FLAG") or "bench_flag_00"
local etag = os.getenv("PEER_ETAG")
local users = 10000
local prepared = {}
local n = 0

local function ofrep_body(i)
  return string.format('{"context":{"targetingKey":"user-%05d"}}', i)
end

local function prepare(i)
  local user = string.format("user-%05d", i)
  if mode == "ofrep-bulk" then
    return wrk.format("POST", "/ofrep/v1/evaluate/flags", nil, ofrep_body(i))
  elseif mode == "ofrep-304" then
    -- Headers given to wrk.format replace wrk.headers: carry them over.
    local headers = { ["If-None-Match"] = etag }
    for name, value in pairs(wrk.headers) do headers[name] = value end
    return wrk.format("POST", "/ofrep/v1/evaluate/flags", headers, ofrep_body(1))
  elseif mode == "ofrep-one" then
    return wrk.format("POST", "/ofrep/v1/evaluate/flags/" .. flag, nil, ofrep_body(i))
  elseif mode == "rest-bulk" then
    return wrk.format("POST", "/api/v1/evaluate", nil,
      string.format('{"context":{"customer_id":"%s"}}', user))
  elseif mode == "edge-bulk" then
    return wrk.format("GET", "/api/frontend?userId=" .. user)
  elseif mode == "edge-one" then
    return wrk.format("GET", "/api/frontend/features/" .. flag .. "?userId=" .. user)
  end
  error("unknown PEER_MODE " .. mode)
end

init = function(args)
  wrk.headers["Authorization"] = mode:sub(1, 4) == "edge" and token or ("Bearer " .. token)
  if mode:sub(1, 4) ~= "edge" then
    wrk.headers["Content-Type"] = "application/json"
  end
  if mode == "ofrep-304" and not etag then
    error("ofrep-304 needs PEER_ETAG")
  end
  for i = 1, users do
    prepared[i] = prepare(i)
  end
  -- Each thread starts at a different user.
  n = math.random(users) - 1
end

request = function()
  n = n % users + 1
  return prepared[n]
end

-- wrk counts answers with status >= 400 in summary.errors.status; a 304 is a success here.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d seconds=%.3f p50_us=%d p99_us=%d non2xx=%d errors=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
