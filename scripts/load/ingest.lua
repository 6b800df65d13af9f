-- wrk script: POST /api/v1/metrics, each request one batch of SAMPLES samples under a fresh batch_id.
--   ROLLGATE_TOKEN=rgt_... FLAGS=checkout_v2,new_search wrk -t2 -c32 -d20s --latency \
--     -s scripts/load/ingest.lua http://127.0.0.1:3000
-- ROLLGATE_TOKEN: an evaluate token (its environment receives the samples). FLAGS: existing flag keys,
-- comma-separated. SAMPLES: samples per batch (500). The samples cycle through the flags and both cohorts,
-- so a batch touches 2 x len(FLAGS) per-minute rows; `at` is left out (the time of receipt), as most
-- applications send it. scripts/load/ingest.sh sets all of this up against a running server.
local token = os.getenv("ROLLGATE_TOKEN") or error("set ROLLGATE_TOKEN to an evaluate token")
local flag_list = os.getenv("FLAGS") or error("set FLAGS to a comma-separated list of flag keys")
local per_batch = tonumber(os.getenv("SAMPLES") or "500")

local flags = {}
for key in string.gmatch(flag_list, "[^,%s]+") do flags[#flags + 1] = key end
assert(#flags > 0, "FLAGS names no flag")

-- The samples are the same in every batch: only the batch id changes, which is what the server must
-- not count twice. Their figures vary a little so that the histograms are not all alike.
local samples = {}
local cohorts = { "treatment", "control" }
for i = 1, per_batch do
  local flag = flags[(i - 1) % #flags + 1]
  local cohort = cohorts[math.floor((i - 1) / #flags) % 2 + 1]
  local requests = 100 + i % 50
  local errors = i % 3
  local b = { 0, 5, 20, 30, 25, 10, 5, 3, 2, 0, 0, 0 }
  b[1] = requests - 100
  samples[i] = string.format(
    '{"flag":"%s","cohort":"%s","requests":%d,"errors":%d,"latency_buckets":[%s],"latency_sum_ms":%.1f}',
    flag, cohort, requests, errors, table.concat(b, ","), requests * 42.5)
end
local body_tail = '","samples":[' .. table.concat(samples, ",") .. "]}"

-- A run id keeps the batch ids of two runs apart; each thread (thread_id, set by setup) numbers its own.
local threads = {}
local counter = 0
local run_id = string.format("%x%04x", os.time(), math.random(0, 0xffff))

function setup(thread)
  thread:set("thread_id", #threads + 1)
  threads[#threads + 1] = thread
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token

function request()
  counter = counter + 1
  local body = '{"batch_id":"load-' .. run_id .. "-" .. (thread_id or 0) .. "-" .. counter .. body_tail
  return wrk.format(nil, "/api/v1/metrics", nil, body)
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local ok = summary.requests - summary.errors.status
  io.write(string.format("batches: %d in %.1f s, non-2xx %d; samples per batch %d\n",
    summary.requests, seconds, summary.errors.status, per_batch))
  io.write(string.format("samples/s (2xx batches x %d): %.0f\n", per_batch, ok * per_batch / seconds))
  io.write(string.format("batch latency p50 %.1f ms, p99 %.1f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  local errors = summary.errors
  io.write(string.format("socket errors: connect %d read %d write %d timeout %d\n",
    errors.connect, errors.read, errors.write, errors.timeout))
end
