#!/usr/bin/env python3
"""Measures how fast a change committed through one Rollgate process reaches another: the SSE event on
B's /api/v1/stream, and the new value served by B's /api/v1/flags/{key}.

Each round toggles FLAG in ENV through A's toggle_flag server function (as a signed-in editor would), then
waits for B's event and polls B until it serves the new value. Times are from A's response (the commit is
already done: a lower bound) and from the request being sent (an upper bound). Python stdlib only.

  scripts/propagation.py --a http://127.0.0.1:3000 --b http://127.0.0.1:3001 --token rgt_... \\
      --email editor@rollgate.local --password ... --flag ENABLE_UI_REFRESH --env production -n 50
"""
import argparse, http.cookiejar, json, queue, threading, time, urllib.parse, urllib.request


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="server the changes go through")
    ap.add_argument("--b", required=True, help="server that must see them")
    ap.add_argument("--token", required=True, help="an evaluate token for --env")
    ap.add_argument("--email", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--flag", required=True)
    ap.add_argument("--env", required=True)
    ap.add_argument("-n", type=int, default=50, help="rounds (each one toggle)")
    args = ap.parse_args()

    jar = http.cookiejar.CookieJar()
    a = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login = urllib.parse.urlencode({"email": args.email, "password": args.password}).encode()
    a.open(urllib.request.Request(args.a + "/login", data=login, headers={"Origin": args.a}))
    auth = {"Authorization": "Bearer " + args.token}

    events = queue.Queue()

    def listen():
        stream = urllib.request.urlopen(urllib.request.Request(args.b + "/api/v1/stream", headers=auth))
        for raw in stream:
            if raw.startswith(b"data:") and b'"type":"refetchEvaluation"' in raw:
                events.put(time.monotonic())

    threading.Thread(target=listen, daemon=True).start()
    time.sleep(0.5)

    def served():
        url = f"{args.b}/api/v1/flags/{args.flag}?customer_id=propagation"
        return json.load(urllib.request.urlopen(urllib.request.Request(url, headers=auth)))["value"]

    to_event, to_value, to_event_upper = [], [], []
    enabled = served() is True
    for _ in range(args.n):
        enabled = not enabled
        body = urllib.parse.urlencode({"flag": args.flag, "env": args.env, "enabled": str(enabled).lower()}).encode()
        sent = time.monotonic()
        a.open(urllib.request.Request(args.a + "/api/toggle_flag", data=body, headers={"Origin": args.a})).read()
        committed = time.monotonic()
        event_at = events.get(timeout=5)
        while served() is not enabled:
            if time.monotonic() - committed > 5:
                raise SystemExit("B did not serve the new value within 5 s")
        value_at = time.monotonic()
        to_event.append((event_at - committed) * 1000)
        to_event_upper.append((event_at - sent) * 1000)
        to_value.append((value_at - committed) * 1000)
        while not events.empty():
            events.get()
        time.sleep(0.05)

    for name, values in [("SSE event on B, from A's response", to_event), ("SSE event on B, from A's request", to_event_upper),
                         ("new value served by B, from A's response", to_value)]:
        print(f"{name:<44} p50 {percentile(values, 50):6.1f} ms  p95 {percentile(values, 95):6.1f} ms  max {max(values):6.1f} ms  (n={len(values)})")


if __name__ == "__main__":
    main()
