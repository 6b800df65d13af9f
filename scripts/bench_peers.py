#!/usr/bin/env python3
"""Rollgate's evaluation over HTTP beside Unleash Edge's, in one run (scripts/bench-peers sets everything up).

Both servers get the same 50 boolean flags, each on for 50% of users by a sticky hash: Edge from a bootstrap
file (offline mode), Rollgate through its own admin API on a private PostgreSQL cluster of its own (50
active rollouts at 50%, nothing else). wrk then loads each server in turn, for several rounds, with a
different user on every request, and the medians of the rounds are compared:

  bulk        Edge GET /api/frontend            Rollgate POST /ofrep/v1/evaluate/flags (and REST /api/v1/evaluate)
  one flag    Edge GET /api/frontend/features/  Rollgate POST /ofrep/v1/evaluate/flags/{key}

and, Rollgate alone, a bulk request whose ETag still matches (a 304) against a full one.
Python stdlib only.
"""
import argparse, json, os, re, shutil, statistics, subprocess, sys, time, urllib.error, urllib.request

FLAGS = [f"bench_flag_{i:02d}" for i in range(50)]
ADMIN_EMAIL = "bench@rollgate.local"
ADMIN_PASSWORD = "bench-peers-password-0"
EDGE_TOKEN = "*:production.bench-peers-frontend-token"
EDGE_CLIENT_TOKEN = "*:production.bench-peers-client-token"


def log(message):
    print(f"==> {message}", file=sys.stderr, flush=True)


def call(base, method, path, body=None, token=None, headers=None):
    headers = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    if token:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode(errors="replace")


def wait_for(url, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout} s")


class Rollgate:
    def __init__(self, binary, directory, port):
        self.binary, self.port = binary, port
        self.base = f"http://127.0.0.1:{port}"
        self.env = dict(os.environ, ROLLGATE_DATA_DIR=os.path.join(directory, "pg"),
                        ROLLGATE_ADDR=f"127.0.0.1:{port}", RUST_LOG="warn", ROLLGATE_PASSWORD=ADMIN_PASSWORD)
        self.env.pop("DATABASE_URL", None)
        self.log = open(os.path.join(directory, "rollgate.log"), "w")
        self.process = subprocess.Popen([binary, "serve", "--no-demo"], env=self.env, stdout=self.log,
                                        stderr=self.log)

    def cli(self, *args):
        return subprocess.run([self.binary, *args], env=self.env, check=True, capture_output=True,
                              text=True).stdout.strip()

    def set_up(self):
        """The flags and their rollouts, through the admin API, as a team would."""
        wait_for(self.base + "/readyz")
        self.cli("user", "add", "--email", ADMIN_EMAIL, "--name", "Bench", "--role", "admin")
        admin = self.cli("token", "create", "--name", "bench-peers", "--scope", "admin", "--user", ADMIN_EMAIL)
        for key in FLAGS:
            for method, path, body in [
                ("POST", "/api/admin/feature-flags", {"key": key, "name": key, "kind": "release"}),
                ("POST", "/api/admin/rollouts", {"flag": key, "environment": "production",
                                                 "stages": [{"name": "half", "percent": 50},
                                                            {"name": "everybody", "percent": 100}]}),
                ("POST", "/api/admin/rollout/start", {"flag": key, "environment": "production",
                                                      "override_gates": True, "reason": "bench-peers"}),
                ("PUT", f"/api/admin/feature-flags/{key}/environments/production",
                 {"enabled": True, "reason": "bench-peers"}),
            ]:
                status, _, text = call(self.base, method, path, body, admin)
                if status >= 300:
                    raise SystemExit(f"{method} {path} for {key}: {status} {text}")
        self.token = self.cli("token", "create", "--name", "bench-peers", "--scope", "evaluate", "--env",
                              "production")
        # Wait until the snapshot has every rollout, then check that about half of the flags are on.
        deadline = time.time() + 30
        while True:
            status, _, text = call(self.base, "POST", "/ofrep/v1/evaluate/flags",
                                   {"context": {"targetingKey": "user-00001"}}, self.token)
            flags = json.loads(text)["flags"] if status == 200 else []
            if len(flags) == len(FLAGS) and all(f.get("reason") == "SPLIT" for f in flags):
                break
            if time.time() > deadline:
                raise SystemExit(f"Rollgate's bulk answer is not 50 split flags: {status} {text[:400]}")
            time.sleep(0.2)
        on = sum(1 for f in flags if f["value"] is True)
        log(f"Rollgate: 50 flags in 50% rollouts; user-00001 gets {on} on")
        _, headers, _ = call(self.base, "POST", "/ofrep/v1/evaluate/flags",
                             {"context": {"targetingKey": "user-00001"}}, self.token)
        self.etag = headers["ETag"]

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Edge:
    def __init__(self, binary, directory, port):
        self.base = f"http://127.0.0.1:{port}"
        features = {"version": 2, "features": [
            {"name": key, "type": "release", "enabled": True, "project": "default", "strategies": [
                {"name": "flexibleRollout", "constraints": [],
                 "parameters": {"rollout": "50", "stickiness": "default", "groupId": key}}]}
            for key in FLAGS]}
        bootstrap = os.path.join(directory, "edge-features.json")
        with open(bootstrap, "w") as out:
            json.dump(features, out)
        self.log = open(os.path.join(directory, "edge.log"), "w")
        self.process = subprocess.Popen(
            [binary, "--port", str(port), "--interface", "127.0.0.1", "offline", "--bootstrap-file", bootstrap,
             "--client-tokens", EDGE_CLIENT_TOKEN, "--frontend-tokens", EDGE_TOKEN],
            env=dict(os.environ, RUST_LOG="warn"), stdout=self.log, stderr=self.log)
        self.token = EDGE_TOKEN

    def set_up(self):
        wait_for(self.base + "/internal-backstage/health")
        request = urllib.request.Request(self.base + "/api/frontend?userId=user-00001",
                                         headers={"authorization": self.token})
        with urllib.request.urlopen(request, timeout=10) as response:
            toggles = json.loads(response.read())["toggles"]
        log(f"Unleash Edge: user-00001 gets {len(toggles)} of 50 flags on")
        if not 5 < len(toggles) < 45:
            raise SystemExit("Edge's answer does not look like 50 flags at 50%")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


def wrk(args, base, mode, token, etag=None):
    env = dict(os.environ, PEER_MODE=mode, PEER_TOKEN=token, PEER_FLAG=FLAGS[0], PEER_ETAG=etag or "")
    out = subprocess.run(["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.seconds}s",
                          "-s", args.script, base], env=env, check=True, capture_output=True, text=True).stdout
    match = re.search(r"RESULT requests=(\d+) seconds=([\d.]+) p50_us=(\d+) p99_us=(\d+) non2xx=(\d+) "
                      r"errors=(\d+)", out)
    if not match:
        raise SystemExit(f"wrk printed no result for {mode}:\n{out}")
    requests, seconds, p50, p99, non2xx, errors = match.groups()
    if int(non2xx) or int(errors):
        raise SystemExit(f"{mode}: {non2xx} answers >= 400 and {errors} socket errors; see the servers' logs")
    return {"rps": int(requests) / float(seconds), "p50": int(p50) / 1000, "p99": int(p99) / 1000}


def summary(rounds):
    return {k: statistics.median(r[k] for r in rounds) for k in ("rps", "p50", "p99")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rollgate", required=True, help="the rollgate binary (release)")
    ap.add_argument("--edge", required=True, help="the unleash-edge binary")
    ap.add_argument("--dir", required=True, help="a directory for the cluster, logs and the bootstrap file")
    ap.add_argument("--script", required=True, help="scripts/load/peers.lua")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--port", type=int, default=3170)
    ap.add_argument("--hold", action="store_true",
                    help="set both servers up, print how to reach them, and wait for Ctrl-C (to profile)")
    args = ap.parse_args()
    shutil.rmtree(args.dir, ignore_errors=True)
    os.makedirs(args.dir)
    if os.getuid() == 0:
        os.chmod(args.dir, 0o755)

    rollgate = Rollgate(args.rollgate, args.dir, args.port)
    edge = Edge(args.edge, args.dir, args.port + 1)
    try:
        rollgate.set_up()
        edge.set_up()
        if args.hold:
            print(f"Rollgate {rollgate.base} (pid {rollgate.process.pid}), evaluate token {rollgate.token}, "
                  f"ETag of user-00001 {rollgate.etag}\nUnleash Edge {edge.base} (pid {edge.process.pid}), "
                  f"frontend token {edge.token}\nPEER_MODE=ofrep-bulk PEER_TOKEN={rollgate.token} wrk -t2 -c16 "
                  f"-d10s -s {args.script} {rollgate.base}\nCtrl-C stops both.", flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                return
        pairs = [("bulk", ("edge-bulk", edge), ("ofrep-bulk", rollgate)),
                 ("one flag", ("edge-one", edge), ("ofrep-one", rollgate))]
        solo = [("rest-bulk", rollgate), ("ofrep-304", rollgate)]
        results = {}
        for round_no in range(args.rounds):
            # Alternate which server goes first, so neither always runs on a warmer machine.
            for _, first, second in pairs:
                for mode, server in ([first, second] if round_no % 2 == 0 else [second, first]):
                    results.setdefault(mode, []).append(
                        wrk(args, server.base, mode, server.token, getattr(server, "etag", None)))
                    log(f"round {round_no + 1}: {mode} {results[mode][-1]['rps']:,.0f} requests/s")
            for mode, server in solo:
                results.setdefault(mode, []).append(wrk(args, server.base, mode, server.token, server.etag))
                log(f"round {round_no + 1}: {mode} {results[mode][-1]['rps']:,.0f} requests/s")
    finally:
        rollgate.stop()
        edge.stop()

    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} cores, load {load:.2f} after the run; wrk -t{args.threads} -c{args.connections}, "
          f"{args.seconds} s x {args.rounds} rounds, medians; 50 flags at 50%, a different user per request")
    print(f"{'':34} {'requests/s':>11} {'p50 ms':>7} {'p99 ms':>7}   rounds (requests/s)")
    rows = [("Unleash Edge  GET /api/frontend", "edge-bulk"),
            ("Rollgate      OFREP bulk", "ofrep-bulk"),
            ("Rollgate      REST bulk", "rest-bulk"),
            ("Unleash Edge  one flag", "edge-one"),
            ("Rollgate      OFREP one flag", "ofrep-one"),
            ("Rollgate      OFREP bulk, ETag matches", "ofrep-304")]
    for label, mode in rows:
        s = summary(results[mode])
        rounds = " / ".join(f"{r['rps']:,.0f}" for r in results[mode])
        print(f"{label:34} {s['rps']:>11,.0f} {s['p50']:>7.2f} {s['p99']:>7.2f}   {rounds}")
    ratio = lambda a, b: summary(results[a])["rps"] / summary(results[b])["rps"]
    print(f"ratios: OFREP bulk / Edge bulk {ratio('ofrep-bulk', 'edge-bulk'):.2f}; "
          f"REST bulk / Edge bulk {ratio('rest-bulk', 'edge-bulk'):.2f}; "
          f"one flag {ratio('ofrep-one', 'edge-one'):.2f}; "
          f"304 / full OFREP bulk {ratio('ofrep-304', 'ofrep-bulk'):.2f}")


if __name__ == "__main__":
    main()
