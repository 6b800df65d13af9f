#!/usr/bin/env python3
"""The process-level scenarios of the reliability suite, against a running release build on its own private
cluster (scripts/reliability starts everything; Python stdlib only).

Each scenario prints its figures and ends PASS or FAIL; the exit code is 1 if any failed.
  scripts/reliability.py --bin target/release/rollgate --dir target/reliability --port 3131
"""
import argparse, concurrent.futures, http.client, http.cookiejar, json, os, pwd, subprocess, sys, threading
import time, urllib.error, urllib.parse, urllib.request

DEMO_PASSWORD = "reliability-demo-password"
RESULTS = []


def percentile(values, p):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def check(name, ok, figures):
    RESULTS.append((name, ok))
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {figures}", flush=True)


class Server:
    """One `rollgate serve` process."""

    def __init__(self, bin_path, port, env, log_path):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(log_path, "w")
        full_env = dict(os.environ, ROLLGATE_ADDR=f"127.0.0.1:{port}", RUST_LOG="warn", **env)
        self.process = subprocess.Popen([bin_path, "serve"], env=full_env, stdout=self.log, stderr=self.log)

    def wait(self, path="/healthz", status=200, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"rollgate on {self.port} exited; see {self.log.name}")
            if request(self.url, "GET", path)[0] == status:
                return time.time()
            time.sleep(0.05)
        raise SystemExit(f"{self.url}{path} did not answer {status} within {timeout} s")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def request(base, method, path, body=None, headers=None, timeout=30):
    """(status, headers, text, seconds); status 0 when no answer came. The headers are the response's own
    message, whose lookups ignore case: the server sends names in lower case, as HTTP/2 requires."""
    data = None
    headers = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers.setdefault("content-type", "application/json")
    started = time.time()
    try:
        with urllib.request.urlopen(urllib.request.Request(base + path, data=data, method=method, headers=headers),
                                    timeout=timeout) as response:
            return response.status, response.headers, response.read().decode(), time.time() - started
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode(errors="replace"), time.time() - started
    except (urllib.error.URLError, OSError) as e:
        return 0, {}, str(e), time.time() - started


class Cluster:
    """The private PostgreSQL cluster `rollgate serve` started, stopped and started again by hand."""

    def __init__(self, data_dir):
        self.data_dir = data_dir
        bins = sorted(d for d in os.listdir("/usr/lib/postgresql"))
        self.pg_ctl = f"/usr/lib/postgresql/{bins[-1]}/bin/pg_ctl"
        owner = pwd.getpwuid(os.stat(data_dir).st_uid).pw_name
        self.as_owner = ["runuser", "-u", owner, "--"] if os.getuid() == 0 else []
        with open(os.path.join(data_dir, "postmaster.pid")) as pid_file:
            self.port = int(pid_file.read().splitlines()[3])
        with open(os.path.join(data_dir, "rollgate_credentials")) as credentials:
            fields = dict(line.split("=", 1) for line in credentials.read().splitlines() if "=" in line)
        self.app_url = f"postgres://rollgate_app:{fields['app_password']}@127.0.0.1:{self.port}/rollgate"

    def stop(self):
        subprocess.run(self.as_owner + [self.pg_ctl, "-D", self.data_dir, "-m", "fast", "-w", "stop"],
                       check=True, stdout=subprocess.DEVNULL)

    def start(self):
        options = f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1"
        subprocess.run(self.as_owner + [self.pg_ctl, "-D", self.data_dir, "-l",
                                        os.path.join(self.data_dir, "log", "postgres.log"), "-w", "-o", options,
                                        "start"], check=True, stdout=subprocess.DEVNULL)


def cli(bin_path, data_dir, *args):
    env = dict(os.environ, ROLLGATE_DATA_DIR=data_dir, RUST_LOG="error")
    env.pop("DATABASE_URL", None)
    return subprocess.run([bin_path, *args], env=env, check=True, capture_output=True, text=True).stdout.strip()


class Admin:
    def __init__(self, base, token):
        self.base, self.token = base, token

    def call(self, method, path, body=None):
        status, _, text, _ = request(self.base, method, path, body, {"authorization": f"Bearer {self.token}"})
        try:
            return status, json.loads(text) if text else None
        except json.JSONDecodeError:
            return status, text


def sign_in(base, email):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = urllib.parse.urlencode({"email": email, "password": DEMO_PASSWORD}).encode()
    opener.open(urllib.request.Request(base + "/login", data=form, method="POST"), timeout=10).read()
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def outage_under_load(server, cluster, eval_token, admin, cookie, seconds=40, down_at=10, up_at=25):
    """Evaluation under load while PostgreSQL is stopped for 15 s: no errors. Meanwhile what needs the
    database answers 503 with Retry-After, within the pool's 2 s."""
    stop = threading.Event()
    latencies, failures, lock = [], [], threading.Lock()
    body = json.dumps({"context": {"customer_id": "cust-0001", "organization_id": "acme"}})

    def hammer():
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        mine, bad = [], []
        while not stop.is_set():
            started = time.time()
            try:
                conn.request("POST", "/api/v1/evaluate", body,
                             {"authorization": f"Bearer {eval_token}", "content-type": "application/json"})
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    bad.append(response.status)
            except (OSError, http.client.HTTPException) as e:
                bad.append(str(e))
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            mine.append(time.time() - started)
        with lock:
            latencies.extend(mine)
            failures.extend(bad)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    started = time.time()
    for t in threads:
        t.start()
    time.sleep(down_at)
    cluster.stop()
    down = time.time()
    probes = []
    while time.time() - down < up_at - down_at:
        for what, method, path, headers, payload in [
            ("admin API", "GET", "/api/admin/whoami", {"authorization": f"Bearer {admin.token}"}, None),
            ("page", "GET", "/admin/feature-flags", {"cookie": cookie, "accept": "text/html"}, None),
            ("sign-in", "POST", "/login", {"content-type": "application/x-www-form-urlencoded"},
             b"email=viewer%40rollgate.local&password=whatever"),
            ("metrics ingest", "POST", "/api/v1/metrics", {"authorization": f"Bearer {eval_token}"},
             {"batch_id": f"outage-{time.time()}", "samples": []}),
        ]:
            status, hdrs, text, took = request(server.url, method, path, payload, headers)
            probes.append((what, status, hdrs.get("Retry-After"), took, "unreachable" in text.lower()))
        time.sleep(0.5)
    cluster.start()
    back = time.time()
    recovered = None
    while time.time() - back < 30:
        if admin.call("GET", "/api/admin/whoami")[0] == 200:
            recovered = time.time() - back
            break
        time.sleep(0.1)
    time.sleep(max(0.0, seconds - (time.time() - started)))
    stop.set()
    for t in threads:
        t.join()
    total, elapsed = len(latencies), time.time() - started
    bad_probes = [p for p in probes if p[1] != 503 or p[2] != "5" or p[3] >= 3 or not p[4]]
    slowest = max((p[3] for p in probes), default=0)
    check("outage under load", not failures and not bad_probes and recovered is not None,
          f"{total} evaluations in {elapsed:.0f} s ({total / elapsed:,.0f}/s), {len(failures)} errors, "
          f"p50 {percentile(latencies, 50) * 1000:.1f} ms, p99 {percentile(latencies, 99) * 1000:.1f} ms; "
          f"PostgreSQL down {up_at - down_at} s: {len(probes)} admin/page/sign-in/ingest requests, "
          f"{len(probes) - len(bad_probes)} answered 503 + Retry-After + 'unreachable', slowest {slowest:.2f} s; "
          f"admin API back {recovered if recovered is None else round(recovered, 2)} s after PostgreSQL"
          + (f"; wrong: {bad_probes[:3]}" if bad_probes else "") + (f"; failures: {failures[:3]}" if failures else ""))


def started_during_outage(bin_path, cluster, port, eval_token, admin_token, out_dir):
    """A server started while PostgreSQL is down listens, answers 503, and serves once it answers."""
    cluster.stop()
    server = Server(bin_path, port, {"DATABASE_URL": cluster.app_url, "ROLLGATE_SNAPSHOT_CHECK_SECONDS": "1"},
                    os.path.join(out_dir, "started-during-outage.log"))
    launched = time.time()
    listening = server.wait("/healthz") - launched
    time.sleep(3)
    alive = server.process.poll() is None
    ready_status = request(server.url, "GET", "/readyz")[0]
    admin_status, admin_headers, _, _ = request(server.url, "GET", "/api/admin/whoami",
                                                headers={"authorization": f"Bearer {admin_token}"})
    cluster.start()
    back = time.time()
    ready = server.wait("/readyz", 200, timeout=60) - back
    evaluated = request(server.url, "POST", "/api/v1/evaluate", {"context": {"customer_id": "c"}},
                        {"authorization": f"Bearer {eval_token}"})[0]
    server.stop()
    ok = alive and ready_status == 503 and admin_status == 503 and admin_headers.get("Retry-After") == "5" \
        and evaluated == 200
    check("server started during an outage", ok,
          f"listening after {listening:.2f} s, still running after 3 s, /readyz {ready_status}, admin API "
          f"{admin_status} (Retry-After {admin_headers.get('Retry-After')}); ready {ready:.2f} s after "
          f"PostgreSQL answered; then evaluation {evaluated}")


def parallel_edits(admin):
    """A hundred PUTs of one flag state at one version: exactly one wins."""
    admin.call("POST", "/api/admin/feature-flags",
               {"key": "reliability_edits", "name": "Reliability edits", "kind": "release"})
    status, flag = admin.call("GET", "/api/admin/feature-flags/reliability_edits")
    version = next(s["version"] for s in flag["environments"] if s["environment"] == "staging")
    path = "/api/admin/feature-flags/reliability_edits/environments/staging"
    with concurrent.futures.ThreadPoolExecutor(100) as pool:
        started = time.time()
        statuses = list(pool.map(lambda i: admin.call("PUT", path, {"enabled": True, "expected_version": version,
                                                                    "reason": f"edit {i}"})[0], range(100)))
        took = time.time() - started
    won, conflicts = statuses.count(200), statuses.count(409)
    check("100 parallel edits", (won, conflicts) == (1, 99),
          f"{won} won, {conflicts} got 409 CONFLICT, others {[s for s in statuses if s not in (200, 409)]}, "
          f"all answered in {took:.2f} s")


def races(admin):
    """Advances racing rollbacks at one version, three rounds: one press wins each; no gap in history."""
    admin.call("POST", "/api/admin/feature-flags", {"key": "reliability_race", "name": "Race", "kind": "release"})
    status, rollout = admin.call("POST", "/api/admin/rollouts",
                                 {"flag": "reliability_race", "environment": "staging", "template": "five_tier"})
    act = {"flag": "reliability_race", "environment": "staging", "override_gates": True, "reason": "race"}
    admin.call("POST", "/api/admin/rollout/start", act)
    wins = []
    for _ in range(3):
        version = admin.call("GET", f"/api/admin/rollouts/{rollout['id']}")[1]["version"]
        presses = [("advance", {}) if i % 2 == 0 else ("rollback", {"to_stage": 0}) for i in range(40)]
        with concurrent.futures.ThreadPoolExecutor(40) as pool:
            statuses = list(pool.map(lambda p: admin.call("POST", f"/api/admin/rollout/{p[0]}",
                                                          dict(act, expected_version=version, **p[1]))[0], presses))
        wins.append(statuses.count(200))
    view = admin.call("GET", f"/api/admin/rollouts/{rollout['id']}")[1]
    moves = [e for e in view["timeline"] if e["kind"] in ("started", "advanced", "rolled_back")]
    audit = admin.call("GET", "/api/admin/audit?flag=reliability_race")[1]["events"]
    audited = [e for e in audit if e["action"] in ("rollout.started", "rollout.advanced", "rollout.rolled_back")]
    ok = wins == [1, 1, 1] and len(moves) == 4 and len(audited) == 4 and view["version"] == 5
    check("advance/rollback races", ok,
          f"winners per round {wins}; timeline {[m['kind'] for m in moves]}, {len(audited)} audit events, "
          f"version {view['version']}")


def two_guardrail_workers(bin_path, data_dir, port, admin, eval_token, out_dir):
    """Two server processes, each running the guardrail worker every second: one rollback, not two."""
    second = Server(bin_path, port, {"ROLLGATE_DATA_DIR": data_dir, "ROLLGATE_GUARDRAIL_INTERVAL_SECONDS": "1"},
                    os.path.join(out_dir, "second-server.log"))
    second.wait("/readyz")
    admin.call("POST", "/api/admin/feature-flags", {"key": "reliability_guard", "name": "Guard", "kind": "release"})
    status, rollout = admin.call("POST", "/api/admin/rollouts",
                                 {"flag": "reliability_guard", "environment": "production", "template": "canary"})
    admin.call("POST", "/api/admin/rollout/start", {"flag": "reliability_guard", "environment": "production",
                                                     "override_gates": True, "reason": "guardrail test"})
    sample = {"flag": "reliability_guard", "cohort": "treatment", "requests": 500, "errors": 100}
    request(admin.base, "POST", "/api/v1/metrics", {"batch_id": "guard-1", "samples": [sample]},
            {"authorization": f"Bearer {eval_token}"})
    started, status = time.time(), None
    while time.time() - started < 30:
        status = admin.call("GET", f"/api/admin/rollouts/{rollout['id']}")[1]["status"]
        if status == "rolled_back":
            break
        time.sleep(0.2)
    took = time.time() - started
    time.sleep(4)
    view = admin.call("GET", f"/api/admin/rollouts/{rollout['id']}")[1]
    rollbacks = [e for e in view["timeline"] if e["kind"] == "rolled_back"]
    second.stop()
    check("two guardrail workers", status == "rolled_back" and len(rollbacks) == 1
          and rollbacks[0]["actor"] == "system:guardrail",
          f"rolled back {took:.1f} s after the bad batch; {len(rollbacks)} rollback(s) on the timeline after 4 s "
          f"more, by {[r['actor'] for r in rollbacks]}")


def login_throttling(base):
    """Failed sign-ins past the limit (10 per account) are answered 429 with Retry-After."""
    statuses, retry = [], None
    for i in range(11):
        form = urllib.parse.urlencode({"email": "po@rollgate.local", "password": f"wrong {i}"}).encode()
        status, headers, _, _ = request(base, "POST", "/login", form,
                                        {"content-type": "application/x-www-form-urlencoded"})
        statuses.append(status)
        retry = headers.get("Retry-After")
    ok = statuses[-1] == 429 and retry is not None and all(s in (200, 303) for s in statuses[:-1])
    check("login throttling", ok, f"answers {statuses}, Retry-After {retry}")


def append_only(cluster):
    """Connected as the application role, no way of rewriting history works."""
    attempts = [
        "truncate audit_events", "truncate rollout_events", "truncate signoffs",
        "delete from audit_events", "update audit_events set reason = 'rewritten'", "delete from rollout_events",
        "delete from signoffs", "set session_replication_role = replica",
        "alter table audit_events disable trigger all", "drop trigger audit_events_no_delete on audit_events",
        "alter table audit_events owner to current_user", "create table public.shadow (id int)",
    ]
    succeeded = []
    for statement in attempts:
        result = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", cluster.app_url, "-c", statement],
                                capture_output=True, text=True)
        if result.returncode == 0:
            succeeded.append(statement)
    appended = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", cluster.app_url, "-c",
                               "insert into audit_events (actor_kind, actor_label, action, entity_kind, entity_key)"
                               " values ('system', 'system:reliability', 'test.appended', 'test', 'x')"],
                              capture_output=True, text=True).returncode == 0
    check("append-only as the application role", not succeeded and appended,
          f"{len(attempts) - len(succeeded)} of {len(attempts)} ways of rewriting history refused; appending works"
          + (f"; these succeeded: {succeeded}" if succeeded else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=3131)
    args = ap.parse_args()
    data_dir = os.path.join(os.path.abspath(args.dir), "pg")
    env = {"ROLLGATE_DATA_DIR": data_dir, "ROLLGATE_DEMO_PASSWORD": DEMO_PASSWORD,
           "ROLLGATE_SNAPSHOT_CHECK_SECONDS": "1", "ROLLGATE_GUARDRAIL_INTERVAL_SECONDS": "1"}
    os.environ.pop("DATABASE_URL", None)
    server = Server(args.bin, args.port, env, os.path.join(args.dir, "server.log"))
    try:
        server.wait("/readyz", timeout=180)
        eval_token = cli(args.bin, data_dir, "token", "create", "--name", "reliability", "--scope", "evaluate",
                         "--env", "production")
        admin_token = cli(args.bin, data_dir, "token", "create", "--name", "reliability", "--scope", "admin",
                          "--user", "admin@rollgate.local")
        admin = Admin(server.url, admin_token)
        cookie = sign_in(server.url, "admin@rollgate.local")
        cluster = Cluster(data_dir)
        print(f"rollgate {server.url}, its PostgreSQL on port {cluster.port}", flush=True)
        parallel_edits(admin)
        races(admin)
        login_throttling(server.url)
        append_only(cluster)
        two_guardrail_workers(args.bin, data_dir, args.port + 2, admin, eval_token, args.dir)
        outage_under_load(server, cluster, eval_token, admin, cookie)
        started_during_outage(args.bin, cluster, args.port + 1, eval_token, admin_token, args.dir)
    finally:
        server.stop()
    failed = [name for name, ok in RESULTS if not ok]
    print(f"{len(RESULTS) - len(failed)} of {len(RESULTS)} scenarios passed" + (f"; failed: {failed}" if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
