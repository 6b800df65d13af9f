# Shared helpers for the scripts in this folder. Sourced, not run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WASM_BINDGEN_VERSION="0.2.130"   # must equal the wasm-bindgen crate version pinned in Cargo.toml
BINARYEN_VERSION="132.0.0"       # wasm-opt for release bundles, from npm into tools/ (see TOOLCHAIN notes)
WASM_OPT="$ROOT/tools/node_modules/.bin/wasm-opt"
SCHEMATHESIS_VERSION="4.32.5"    # fuzzes the running API from its OpenAPI document, from PyPI into tools/venv
SCHEMATHESIS="$ROOT/tools/venv/bin/schemathesis"
# OpenFeature's Python SDK and OFREP provider, for the test of Python clients (a venv in tools/).
OFREP_PY="$ROOT/tools/ofrep-py"
OFREP_PY_PACKAGES=(openfeature-sdk==0.10.0 openfeature-provider-ofrep==0.3.0)

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root to run: $* (install it by hand, then re-run)"; fi
}

APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found: install $* with your package manager, then re-run"
  if [ "$APT_UPDATED" -eq 0 ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

have_pg_binaries() {
  command -v initdb >/dev/null 2>&1 && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

# What building and running Rollgate needs: the wasm target, the wasm-bindgen CLI and PostgreSQL.
setup_build_tools() {
  command -v cargo >/dev/null || die "cargo not found: install Rust from https://rustup.rs first"
  if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
    log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
    # Not --locked: its lock file names a crate version the registry no longer serves.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --quiet
  fi
  if ! have_pg_binaries; then
    log "installing PostgreSQL (server binaries only; Rollgate runs its own private cluster)"
    apt_install postgresql
  fi
  # The Debian package starts a system cluster we do not use; it does no harm either way.
}

# wasm-opt, for release bundles only: npm's binaryen into tools/ (Node.js and npm through apt if absent).
setup_wasm_opt() {
  [ -x "$WASM_OPT" ] && return 0
  command -v npm >/dev/null || { log "installing Node.js and npm"; apt_install nodejs npm; }
  log "installing wasm-opt (npm binaryen $BINARYEN_VERSION) into tools/"
  npm install --prefix "$ROOT/tools" --no-audit --no-fund --loglevel=error "binaryen@$BINARYEN_VERSION"
}

# What the browser tests need on top: Chromium and Node.js with Playwright.
setup_test_tools() {
  if [ ! -x /usr/bin/chromium ]; then
    log "installing Chromium for the browser tests"
    apt_install chromium
  fi
  if [ ! -x /usr/bin/prometheus ]; then
    log "installing Prometheus (a real server for the guardrails' Prometheus source test)"
    apt_install --no-install-recommends prometheus
  fi
  if ! command -v npm >/dev/null; then
    log "installing Node.js and npm"
    apt_install nodejs npm
  fi
  if ! "$OFREP_PY/bin/python" -c 'import openfeature.contrib.provider.ofrep' 2>/dev/null \
      || ! "$OFREP_PY/bin/pip" freeze 2>/dev/null | grep -qx "${OFREP_PY_PACKAGES[1]}"; then
    log "installing OpenFeature's Python SDK and OFREP provider into tools/ofrep-py"
    command -v python3 >/dev/null || apt_install python3
    python3 -m venv "$OFREP_PY" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$OFREP_PY"; }
    "$OFREP_PY/bin/pip" install --quiet --disable-pip-version-check "${OFREP_PY_PACKAGES[@]}"
  fi
  if [ ! -d "$ROOT/end2end/node_modules/@playwright/test" ] || [ ! -d "$ROOT/end2end/node_modules/@openfeature/ofrep-web-provider" ]; then
    log "installing Playwright (no browser download; it drives /usr/bin/chromium)"
    (cd "$ROOT/end2end" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# schemathesis, in a virtual environment under tools/ (Python's venv module through apt if absent).
setup_schemathesis() {
  if [ "$("$SCHEMATHESIS" --version 2>/dev/null | awk '{print $NF}')" = "$SCHEMATHESIS_VERSION" ]; then return 0; fi
  command -v python3 >/dev/null || { log "installing Python"; apt_install python3; }
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    log "installing Python's venv module"
    apt_install python3-venv
  fi
  log "installing schemathesis $SCHEMATHESIS_VERSION into tools/venv (a minute or two, once)"
  rm -rf "$ROOT/tools/venv"
  python3 -m venv "$ROOT/tools/venv"
  "$ROOT/tools/venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
}

# The habits CI enforces: formatting, and clippy with warnings as errors for every crate of the workspace,
# host and wasm alike.
check_format() {
  log "checking formatting (cargo fmt --check)"
  (cd "$ROOT" && cargo fmt --all --check) || die "run cargo fmt"
}

# Runs a command (a build) with clippy linting the workspace's crates as they compile, warnings as errors.
# `cargo clippy` does this in a check-only compile of its own, which on a cold machine would compile every
# dependency a second time; clippy-driver as the workspace's rustc lints and builds in one pass (it is what
# `cargo clippy` itself runs, with CLIPPY_ARGS as it passes them). Dependencies are built as usual.
with_clippy() {
  local driver
  driver="$(dirname "$(rustup which cargo 2>/dev/null || command -v cargo)")/clippy-driver"
  [ -x "$driver" ] || die "clippy-driver not found: rustup component add clippy"
  RUSTC_WORKSPACE_WRAPPER="$driver" CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__" "$@"
}

# The check that .sqlx/ matches the queries, done during the test build: the query macros run against a
# fresh database migrated from migrations/ (not the committed .sqlx/) and write their offline data to a
# scratch folder, which must then equal .sqlx/. It costs no compile of its own; `cargo sqlx prepare
# --check` would need sqlx-cli (minutes to install on a cold machine) and a second compile. Needs
# DATABASE_URL; sets SQLX_CHECK_URL and SQLX_CHECK_DIR for the build.
SQLX_CHECK_DB="rollgate_sqlx_check"
prepare_sqlx_check() {
  command -v psql >/dev/null || die "psql is needed (apt-get install postgresql-client)"
  SQLX_CHECK_URL="${DATABASE_URL%/*}/$SQLX_CHECK_DB"
  SQLX_CHECK_DIR="$ROOT/target/sqlx-check"
  psql -q "$DATABASE_URL" -c "drop database if exists $SQLX_CHECK_DB" -c "create database $SQLX_CHECK_DB"
  for m in "$ROOT"/migrations/*.sql; do psql -q -v ON_ERROR_STOP=1 "$SQLX_CHECK_URL" -f "$m" >/dev/null; done
  rm -rf "$SQLX_CHECK_DIR" && mkdir -p "$SQLX_CHECK_DIR"
  # The macros write their files only when they run: make sure both crates are compiled again.
  touch "$ROOT/app/src/lib.rs" "$ROOT/server/src/lib.rs" "$ROOT/server/src/main.rs"
}

finish_sqlx_check() {
  if ! diff -rq "$ROOT/.sqlx" "$SQLX_CHECK_DIR" >/dev/null; then
    diff -rq "$ROOT/.sqlx" "$SQLX_CHECK_DIR" | head -20 >&2
    die ".sqlx/ does not match the queries: run DATABASE_URL=... ./scripts/sqlx-prepare and commit .sqlx/"
  fi
  log ".sqlx/ matches the queries ($(ls "$SQLX_CHECK_DIR" | wc -l) files)"
}

# Fuzzes the API of the server at $1 from its own /api/openapi.json, with the tokens in
# ROLLGATE_FUZZ_ADMIN_TOKEN and ROLLGATE_FUZZ_EVALUATE_TOKEN (scripts/schemathesis.toml says which scheme
# takes which). Fails on any 5xx and on any answer the document does not describe: an undocumented status,
# content type, header or body shape. Bounded: a few examples per operation, a few minutes at most.
fuzz_api() {
  local base="$1" var
  for var in "ROLLGATE_FUZZ_ADMIN_TOKEN" "ROLLGATE_FUZZ_EVALUATE_TOKEN"; do
    [ -n "${!var:-}" ] || die "set $var to a token for the API fuzzing"
  done
  # --max-examples bounds the run; the timeout only guards against a hang (a run takes a few minutes). One
  # worker: with several threads, Python 3.11's ast module (which hypothesis uses) fails intermittently.
  timeout 600 "$SCHEMATHESIS" --config-file "$ROOT/scripts/schemathesis.toml" run "$base/api/openapi.json" \
    --url "$base" --phases examples,coverage,fuzzing --max-examples "${FUZZ_MAX_EXAMPLES:-25}" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --workers 1 --seed 42 --generation-database none --no-color \
    --report junit --report-dir "$ROOT/target/schemathesis"
}

# Builds the browser bundle into target/site: the wasm hydrate entry, bound with wasm-bindgen, plus the
# stylesheet and public files.
build_bundle() {
  local mode="$1" wasm_profile=() wasm_dir=debug
  if [ "$mode" = release ]; then wasm_profile=(--profile wasm-release); wasm_dir=wasm-release; fi
  log "building the browser bundle ($mode)"
  (cd "$ROOT" && cargo build --quiet -p frontend --lib --target wasm32-unknown-unknown "${wasm_profile[@]}")
  local pkg="$ROOT/target/site/pkg"
  mkdir -p "$pkg"
  wasm-bindgen --target web --no-typescript --out-dir "$pkg" --out-name rollgate \
    "$ROOT/target/wasm32-unknown-unknown/$wasm_dir/frontend.wasm"
  if [ "$mode" = release ]; then
    # npm's binaryen, not Debian's: Debian's wasm-opt 108 yields a bundle that fails to hydrate. It takes
    # a minute or two, so its output is kept per input and reused while the code does not change.
    local digest cached
    digest="$(sha256sum "$pkg/rollgate_bg.wasm" | cut -c1-32)"
    cached="$ROOT/target/wasm-opt/$digest.wasm"
    if [ ! -f "$cached" ]; then
      setup_wasm_opt
      log "optimising the bundle with wasm-opt -Oz (a minute or two when the code changed)"
      mkdir -p "$ROOT/target/wasm-opt"
      rm -f "$ROOT"/target/wasm-opt/*.wasm
      "$WASM_OPT" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
        --enable-mutable-globals -o "$cached.partial" "$pkg/rollgate_bg.wasm"
      mv "$cached.partial" "$cached"
    fi
    cp "$cached" "$pkg/rollgate_bg.wasm"
  fi
  cp "$ROOT/style/main.css" "$pkg/rollgate.css"
  cp -r "$ROOT/public/." "$ROOT/target/site/"
  # A gzip copy beside each file; the server sends it to browsers that accept gzip.
  gzip -kf "$pkg/rollgate_bg.wasm" "$pkg/rollgate.js" "$pkg/rollgate.css"
}

# The bundle and the `rollgate` binary.
build_all() {
  local mode="$1" cargo_flags=()
  if [ "$mode" = release ]; then cargo_flags=(--release); fi
  build_bundle "$mode"
  log "building the server ($mode)"
  (cd "$ROOT" && cargo build --quiet -p server --bin rollgate "${cargo_flags[@]}")
}

# Starts a throwaway PostgreSQL cluster in $1 (trust auth, loopback only, fsync off) and exports
# DATABASE_URL for its `postgres` database. Call stop_test_pg (e.g. from an EXIT trap) to stop it.
TEST_PG=""
PG_BIN=""
RUN_AS=()
start_test_pg() {
  TEST_PG="$1"
  PG_BIN="$(dirname "$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")"
  RUN_AS=()
  if [ "$(id -u)" -eq 0 ]; then RUN_AS=(runuser -u postgres --); fi
  stop_test_pg
  rm -rf "$TEST_PG"; mkdir -p "$TEST_PG"
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$TEST_PG"; fi
  local port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  log "starting a throwaway PostgreSQL on port $port"
  "${RUN_AS[@]}" "$PG_BIN/initdb" -D "$TEST_PG/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
  "${RUN_AS[@]}" "$PG_BIN/pg_ctl" -D "$TEST_PG/data" -l "$TEST_PG/log" -w \
    -o "-p $port -k $TEST_PG -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

stop_test_pg() {
  if [ -n "$TEST_PG" ] && [ -f "$TEST_PG/data/postmaster.pid" ]; then
    "${RUN_AS[@]}" "$PG_BIN/pg_ctl" -D "$TEST_PG/data" -m fast -w stop >/dev/null || true
  fi
}
