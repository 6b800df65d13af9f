#!/usr/bin/env bash
# Ingest load figure: wrk posting metric batches (scripts/load/ingest.lua) to a running Rollgate.
#   DATABASE_URL=postgres://... ROLLGATE_TOKEN=rgt_... scripts/load/ingest.sh http://127.0.0.1:3000 [seconds]
# DATABASE_URL is only read here, to pick the flags the samples name (up to FLAG_COUNT=25 live flags;
# every one exists in every environment). ROLLGATE_TOKEN is an evaluate token; its environment receives
# the samples. SAMPLES (500) samples per batch, CONNECTIONS (16) connections, THREADS (2) wrk threads.
set -euo pipefail
url=${1:?usage: scripts/load/ingest.sh URL [seconds]}
seconds=${2:-20}
: "${ROLLGATE_TOKEN:?set ROLLGATE_TOKEN to an evaluate token}"
: "${DATABASE_URL:?set DATABASE_URL to pick the flags}"
FLAGS=$(psql "$DATABASE_URL" -Atc "select string_agg(key, ',') from (select key from flags
  where archived_at is null order by id limit ${FLAG_COUNT:-25}) f")
export FLAGS SAMPLES=${SAMPLES:-500}
echo "flags: $FLAGS"
exec wrk -t"${THREADS:-2}" -c"${CONNECTIONS:-16}" -d"${seconds}s" --latency \
  -s "$(dirname "$0")/ingest.lua" "$url"
