#!/usr/bin/env bash
# Evaluation under load while PostgreSQL is stopped for 30 s: the answers must keep coming, with no errors.
# Runs wrk for 45 s against a running `rollgate serve` on the embedded default; 5 s in, it stops the
# private cluster, and starts it again on the same port 30 s later.
#   ROLLGATE_TOKEN=rgt_... scripts/load/pg-outage.sh http://127.0.0.1:3000 .rollgate/pg
set -euo pipefail
URL="$1"; DATA="$(cd "$2" && pwd)"
: "${ROLLGATE_TOKEN:?set ROLLGATE_TOKEN to an evaluate token}"
HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="$(dirname "$(command -v pg_ctl 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -1)")"
PORT="$(sed -n 4p "$DATA/postmaster.pid")"
AS=(); if [ "$(id -u)" -eq 0 ]; then AS=(runuser -u "$(stat -c %U "$DATA")" --); fi

wrk -t2 -c64 -d45s --latency -s "$HERE/bulk-evaluate.lua" "$URL" > /tmp/pg-outage-wrk.txt 2>&1 &
WRK=$!
sleep 5
echo "stopping PostgreSQL (port $PORT)"
"${AS[@]}" "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
sleep 20
echo "during the outage, /readyz says: $(curl -s "$URL/readyz")"
sleep 10
echo "starting PostgreSQL again"
"${AS[@]}" "$BIN/pg_ctl" -D "$DATA" -l "$DATA/log/postgres.log" -w -o "-p $PORT -k $DATA -c listen_addresses=127.0.0.1" start >/dev/null
wait "$WRK"
cat /tmp/pg-outage-wrk.txt
sleep 6
echo "after the outage, /readyz says: $(curl -s "$URL/readyz")"
