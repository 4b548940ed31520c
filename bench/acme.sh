#!/usr/bin/env bash
# Complete ACME orders per second: Mooring vs Debian's pebble, in the same run. See bench/README.md.
#
#   bench/acme.sh               # both (builds target/release/moor and the acme_bench example first)
#   bench/acme.sh pebble-only   # the pebble reference side only
#   bench/acme.sh moor-only     # Mooring only
#
# Environment (defaults in brackets):
#   BENCH_DURATION     seconds of load per point [10]
#   BENCH_RUNS         runs per point; the table shows the median [3]
#   BENCH_CONCURRENCY  concurrent orders (client workers) [1 4 8]
#   BENCH_OUT          output directory [target/bench/acme-<timestamp>]
#   MOOR_BIN           moor binary to use instead of building target/release/moor
#   BENCH_CLIENT       acme_bench binary to use instead of building the example
#   BENCH_MOOR_LOG     RUST_LOG for the moor server [warn]
#   BENCH_DATABASE     Mooring's store: sqlite, postgres, or "sqlite postgres" for both
#                      (postgres: a throwaway cluster from scripts/postgres) [sqlite]
# Everything binds to 127.0.0.1 only; every wait and every client run is bounded.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE=${1:-all}
case "$MODE" in
  all|pebble-only|moor-only) ;;
  -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
  *) echo "usage: bench/acme.sh [all|pebble-only|moor-only]" >&2; exit 2 ;;
esac
want_moor() { [[ $MODE != pebble-only ]]; }
want_pebble() { [[ $MODE != moor-only ]]; }

DURATION=${BENCH_DURATION:-10}
DURATION=${DURATION%s}
[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 1 && $DURATION -le 600 ]] || { echo "BENCH_DURATION must be 1..600 seconds" >&2; exit 2; }
RUNS=${BENCH_RUNS:-3}
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 1 && $RUNS -le 50 ]] || { echo "BENCH_RUNS must be 1..50" >&2; exit 2; }
read -r -a CONCS <<<"${BENCH_CONCURRENCY:-1 4 8}"
for c in "${CONCS[@]}"; do
  [[ $c =~ ^[0-9]+$ && $c -ge 1 && $c -le 256 ]] || { echo "BENCH_CONCURRENCY: bad value '$c'" >&2; exit 2; }
done
OUT=${BENCH_OUT:-$REPO/target/bench/acme-$(date +%Y%m%dT%H%M%S)}
PASSPHRASE=bench-only-passphrase-not-secret
read -r -a DATABASES <<<"${BENCH_DATABASE:-sqlite}"
for db in "${DATABASES[@]}"; do
  [[ $db == sqlite || $db == postgres ]] || { echo "BENCH_DATABASE: '$db' is neither sqlite nor postgres" >&2; exit 2; }
done

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
log "output in $OUT"

# ---------------------------------------------------------------- tools ----
bash "$REPO/scripts/install-peers" bench || die "scripts/install-peers bench failed"
# shellcheck disable=SC1091
. "${MOORING_PEERS_DIR:-$REPO/target/peers}/env.sh"
for t in pebble pebble-challtestsrv curl openssl python3 timeout; do
  command -v "$t" >/dev/null 2>&1 || die "'$t' not found (scripts/install-peers should have installed it)"
done

TARGET=${CARGO_TARGET_DIR:-$REPO/target}
build() { # build CARGO-ARGS...: cargo build --release, log in $OUT/build.log
  log "cargo build --release $*"
  (cd "$REPO" && cargo build --release "$@") >>"$OUT/build.log" 2>&1 || {
    tail -30 "$OUT/build.log" >&2
    die "'cargo build --release $*' failed (log: $OUT/build.log)"
  }
}
MOOR=""
CLIENT=${BENCH_CLIENT:-}
cargo_args=()
if want_moor && [[ -z ${MOOR_BIN:-} ]]; then cargo_args+=(--bin moor); fi
if [[ -z $CLIENT ]]; then cargo_args+=(--example acme_bench); fi
if ((${#cargo_args[@]})); then build -p moor "${cargo_args[@]}"; fi
[[ -n $CLIENT ]] || CLIENT=$TARGET/release/examples/acme_bench
[[ -x $CLIENT ]] || die "ACME client not found or not executable: $CLIENT (cargo build --release -p moor --example acme_bench)"
if want_moor; then
  MOOR=${MOOR_BIN:-$TARGET/release/moor}
  [[ -x $MOOR ]] || die "moor binary not found or not executable: $MOOR (run: cargo build --release -p moor)"
fi

# ------------------------------------------------------- process control ----
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  if [[ -n ${MOORING_TEST_POSTGRES_DIR:-} ]]; then
    bash "$REPO/scripts/postgres" stop "$MOORING_TEST_POSTGRES_DIR" || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_pid() { # stop_pid PID: TERM, wait up to 5 s, then KILL; reap it and forget it
  local p=$1 q keep=()
  if kill "$p" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  fi
  wait "$p" 2>/dev/null || true
  for q in "${PIDS[@]}"; do [[ $q == "$p" ]] || keep+=("$q"); done
  PIDS=("${keep[@]}")
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_http NAME PID SECONDS CURL-ARGS...: until curl gets any HTTP answer (status != 000).
wait_http() {
  local name=$1 pid=$2 limit=$3 code deadline
  shift 3
  deadline=$((SECONDS + limit))
  while :; do
    code=$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$@" 2>/dev/null) || true
    [[ -n $code && $code != 000 ]] && return 0
    kill -0 "$pid" 2>/dev/null || { log "$name: exited during start-up"; return 1; }
    ((SECONDS < deadline)) || { log "$name: not answering within $limit s"; return 1; }
    sleep 0.2
  done
}

# ----------------------------------------------------------- mock DNS ----
# One pebble-challtestsrv for both sides: every A query → 127.0.0.1, no AAAA (-defaultIPv6 ""),
# no CAA records. Its own challenge responders are off: acme_bench answers http-01 itself.
DNS_PORT=$(free_port)
DNS_MGMT_PORT=$(free_port)
HTTP01_PORT=$(free_port)
pebble-challtestsrv -defaultIPv6 "" -dns01 "127.0.0.1:$DNS_PORT" -http01 "" -https01 "" -tlsalpn01 "" \
  -management "127.0.0.1:$DNS_MGMT_PORT" >"$OUT/challtestsrv.log" 2>&1 &
DNS_PID=$!
PIDS+=("$DNS_PID")
wait_http challtestsrv "$DNS_PID" 30 "http://127.0.0.1:$DNS_MGMT_PORT/" || die "pebble-challtestsrv did not start: $(tail -5 "$OUT/challtestsrv.log")"
log "challtestsrv: DNS on 127.0.0.1:$DNS_PORT (UDP), http-01 answered by acme_bench on 127.0.0.1:$HTTP01_PORT"

# --------------------------------------------------------------- servers ----
# Each start_* sets SRV_PID, SRV_DIR (directory URL) and SRV_CACERT, and returns non-zero
# (with a message) when the server is unusable.

PEBBLE_STARTS=0
start_pebble() {
  local dir port mgmt tls
  PEBBLE_STARTS=$((PEBBLE_STARTS + 1))
  dir="$OUT/pebble-$PEBBLE_STARTS"
  rm -rf "$dir"; mkdir -p "$dir"
  # A throwaway CA and a leaf for 127.0.0.1: rustls (acme_bench) refuses a self-signed CA
  # certificate as the server's own certificate, which curl would accept.
  { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/ca.key" -out "$dir/ca.pem" \
      -days 2 -subj "/CN=pebble bench TLS CA" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign" \
    && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/tls.key" -out "$dir/tls.csr" \
      -subj /CN=localhost \
    && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' >"$dir/tls.ext" \
    && openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
      -extfile "$dir/tls.ext" -out "$dir/tls.pem"; } >"$dir/openssl.log" 2>&1 \
    || { log "pebble: openssl failed to make the TLS certificate: $(tail -3 "$dir/openssl.log")"; return 1; }
  port=$(free_port); mgmt=$(free_port); tls=$(free_port)
  cat >"$dir/pebble.json" <<EOF
{"pebble":{"listenAddress":"127.0.0.1:$port","managementListenAddress":"127.0.0.1:$mgmt",
 "certificate":"$dir/tls.pem","privateKey":"$dir/tls.key","httpPort":$HTTP01_PORT,"tlsPort":$tls,
 "ocspResponderURL":"","externalAccountBindingRequired":false}}
EOF
  # pebble logs every request to stdout; there is no switch for that.
  PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 \
    pebble -config "$dir/pebble.json" -dnsserver "127.0.0.1:$DNS_PORT" >"$dir/pebble.log" 2>&1 &
  SRV_PID=$!
  PIDS+=("$SRV_PID")
  SRV_DIR="https://127.0.0.1:$port/dir"
  SRV_CACERT="$dir/ca.pem"
  wait_http pebble "$SRV_PID" 60 --cacert "$SRV_CACERT" "$SRV_DIR" || { log "pebble: $(tail -5 "$dir/pebble.log")"; return 1; }
  log "pebble: up on 127.0.0.1:$port (PEBBLE_VA_NOSLEEP=1, in memory; $dir)"
}

# Commands from Mooring's CLI and config; keep them in one place.
moor_init() { # moor_init HOME DB
  export MOORING_CA_PASSPHRASE=$PASSPHRASE
  local database=""
  if [[ $2 == postgres ]]; then
    local name="bench_acme_$RANDOM$RANDOM"
    psql "$MOORING_TEST_POSTGRES" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $name" || return 1
    database="database = \"${MOORING_TEST_POSTGRES%/*}/$name\""
    mkdir -p "$1" && printf '%s\n' "$database" >"$1/mooring.toml"
  fi
  timeout 300 "$MOOR" init --home "$1" || return 1
  # The same [acme] settings as crates/moor/tests/it/acme.rs (acme_home).
  { [[ -n $database ]] && printf '%s\n\n' "$database"; cat; } >"$1/mooring.toml" <<TOML
[acme]
http01_port = $HTTP01_PORT
dns_resolver = "127.0.0.1:$DNS_PORT"
allow_loopback = true
TOML
}
# --http-listen "" turns off the plain-HTTP listener, whose default is the fixed 127.0.0.1:8080.
moor_serve() { # moor_serve HOME PORT   (runs in the foreground; caller backgrounds it)
  MOORING_CA_PASSPHRASE=$PASSPHRASE RUST_LOG=${BENCH_MOOR_LOG:-warn} \
    exec "$MOOR" --home "$1" serve --listen "127.0.0.1:$2" --http-listen ""
}

start_moor() { # start_moor DB (sqlite | postgres)
  local db=$1 port code deadline
  local impl=moor; [[ $db == postgres ]] && impl=moor-pg
  local home="$OUT/$impl"
  rm -rf "$home"
  log "$impl: init"
  moor_init "$home" "$db" >"$OUT/$impl.init.log" 2>&1 || {
    log "$impl: 'moor init --home $home' failed: $(tail -5 "$OUT/$impl.init.log")"
    return 1
  }
  port=$(free_port)
  (moor_serve "$home" "$port") >"$OUT/$impl.serve.log" 2>&1 &
  SRV_PID=$!
  PIDS+=("$SRV_PID")
  SRV_DIR="https://127.0.0.1:$port/acme/tls-server/directory"
  SRV_CACERT=""
  deadline=$((SECONDS + 60))
  while :; do
    kill -0 "$SRV_PID" 2>/dev/null || { log "$impl: server exited during start-up: $(tail -10 "$OUT/$impl.serve.log")"; return 1; }
    if [[ -z $SRV_CACERT ]]; then
      if [[ -s $home/roots.pem ]]; then
        SRV_CACERT="$home/roots.pem"
      elif curl -sfk --max-time 5 -o "$OUT/$impl.roots.pem" "https://127.0.0.1:$port/roots.pem" 2>/dev/null \
        && grep -q 'BEGIN CERTIFICATE' "$OUT/$impl.roots.pem"; then
        SRV_CACERT="$OUT/$impl.roots.pem"
      fi
    fi
    if [[ -n $SRV_CACERT ]]; then
      code=$(curl -s --max-time 5 --cacert "$SRV_CACERT" -o /dev/null -w '%{http_code}' "$SRV_DIR" 2>/dev/null) || code=000
      [[ $code == 200 ]] && break
    fi
    ((SECONDS < deadline)) || { log "$impl: ACME directory not answering 200 within 60 s (last: ${code:-none}): $(tail -5 "$OUT/$impl.serve.log")"; return 1; }
    sleep 0.2
  done
  log "$impl: up on 127.0.0.1:$port ($db store)"
}

# ---------------------------------------------------------------- points ----
RUNS_TSV="$OUT/runs.tsv"
printf 'impl\tconcurrency\trun\torders\terrors\telapsed_s\torders_per_s\tp50_ms\tp99_ms\n' >"$RUNS_TSV"
FAILED=0

# client IMPL TAG ARGS...: run acme_bench against IMPL's server in the background (so that
# TERM/INT is handled at once); output in $OUT/client-TAG.{out,err}. Sets CLIENT_RESULT.
client() {
  local impl=$1 tag=$2 pid
  shift 2
  timeout $((DURATION + 120)) "$CLIENT" --directory "${SDIR[$impl]}" --ca-bundle "${SCA[$impl]}" \
    --http01-listen "127.0.0.1:$HTTP01_PORT" --domain-suffix bench.example --run-id "$tag" --request-timeout 10 "$@" \
    >"$OUT/client-$tag.out" 2>"$OUT/client-$tag.err" &
  pid=$!
  PIDS+=("$pid")
  wait "$pid" || true
  stop_pid "$pid"
  CLIENT_RESULT=$(grep -m1 '^RESULT ' "$OUT/client-$tag.out" || true)
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" ${2#RESULT}"; }

# Pebble 2.4.0 (Debian) can deadlock under concurrent orders: NewOrder's
# MemoryStore.FindValidAuthorization holds the store's read lock and waits for an
# authorization's lock, while writers queue on the store lock (goroutine dump: SIGQUIT,
# kept in pebble-N/pebble.log). Its FindValidAuthorization also scans every authorization
# in memory, so it slows down as orders accumulate. So every pebble point gets a fresh
# pebble, and a point that fails on pebble is retried once with another fresh one (logged).
fresh_pebble() {
  if [[ -n ${SPID[pebble]:-} ]]; then stop_pid "${SPID[pebble]}"; fi
  SRV_PID=""
  if start_pebble; then
    SPID[pebble]=$SRV_PID SDIR[pebble]=$SRV_DIR SCA[pebble]=$SRV_CACERT
  else
    [[ -n $SRV_PID ]] && stop_pid "$SRV_PID"
    unset "SPID[pebble]"
    return 1
  fi
}

point() { # point IMPL CONC RUN
  local impl=$1 conc=$2 run=$3 tag="$1-c$2-r$3" orders errors attempt
  if [[ $impl == pebble ]]; then
    for attempt in 1 2; do
      fresh_pebble || break
      point_once "$impl" "$conc" "$run" "$tag-a$attempt" && return 0
      if ((attempt == 1)); then
        # SIGQUIT: Go writes every goroutine's stack into pebble.log and exits.
        kill -QUIT "${SPID[pebble]}" 2>/dev/null || true
        for _ in $(seq 30); do kill -0 "${SPID[pebble]}" 2>/dev/null || break; sleep 0.1; done
        log "pebble c=$conc run $run: retrying once with a fresh pebble (goroutine dump: $OUT/pebble-$PEBBLE_STARTS/pebble.log)"
        PEBBLE_RETRIES=$((PEBBLE_RETRIES + 1))
      fi
    done
    record_failure "$impl" "$conc" "$run"
    return 0
  fi
  point_once "$impl" "$conc" "$run" "$tag" || record_failure "$impl" "$conc" "$run"
}
PEBBLE_RETRIES=0
LAST_FAIL=""
record_failure() {
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$LAST_FAIL" >>"$RUNS_TSV"
  FAILED=1
}

point_once() { # point_once IMPL CONC RUN TAG: 0 and a line in runs.tsv when the point succeeded
  local impl=$1 conc=$2 run=$3 tag=$4 orders errors
  if ! kill -0 "${SPID[$impl]}" 2>/dev/null; then
    log "$impl c=$conc run $run: server is gone"
    LAST_FAIL=$'\t\t\tERR\t\t'
    return 1
  fi
  client "$impl" "$tag" --concurrency "$conc" --duration "$DURATION"
  orders=$(field orders "$CLIENT_RESULT"); errors=$(field errors "$CLIENT_RESULT")
  if [[ -z $CLIENT_RESULT || ${errors:-1} -ne 0 || ${orders:-0} -eq 0 ]]; then
    local last before=""
    last=$(field last_ok_s "$CLIENT_RESULT")
    if [[ ${orders:-0} -gt 0 && -n $last ]]; then
      before=", $(python3 -c "print(f'{$orders / max($last, 1e-3):.1f}')") orders/s until the last good order at ${last} s"
    fi
    log "$impl c=$conc run $run: FAILED (orders=${orders:-?} errors=${errors:-?}$before): $(head -c 1500 "$OUT/client-$tag.err")"
    LAST_FAIL=$(printf '%s\t%s\t%s\tERR\t%s\t%s' "$orders" "$errors" \
      "$(field elapsed_s "$CLIENT_RESULT")" "$(field p50_ms "$CLIENT_RESULT")" "$(field p99_ms "$CLIENT_RESULT")")
    return 1
  fi
  log "$impl c=$conc run $run: $(field orders_per_s "$CLIENT_RESULT") orders/s ($orders orders, p50 $(field p50_ms "$CLIENT_RESULT") ms, p99 $(field p99_ms "$CLIENT_RESULT") ms)"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$impl" "$conc" "$run" "$orders" "$errors" \
    "$(field elapsed_s "$CLIENT_RESULT")" "$(field orders_per_s "$CLIENT_RESULT")" \
    "$(field p50_ms "$CLIENT_RESULT")" "$(field p99_ms "$CLIENT_RESULT")" >>"$RUNS_TSV"
}

# ------------------------------------------------------------------ main ----
declare -A SPID=() SDIR=() SCA=()
IMPLS=()
sides=0
want_moor && sides=${#DATABASES[@]}
want_pebble && sides=$((sides + 1))
log "plan: ${#CONCS[@]} concurrencies x $RUNS runs x ${DURATION} s x $sides server(s): about $(( ${#CONCS[@]} * RUNS * (DURATION + 2) * sides / 60 + 1 )) min of load"

if want_moor && [[ " ${DATABASES[*]} " == *" postgres "* ]]; then
  PG_ENV=$(bash "$REPO/scripts/postgres" start) || die "could not start PostgreSQL (scripts/postgres)"
  eval "$PG_ENV"
  log "PostgreSQL for moor-pg: $MOORING_TEST_POSTGRES"
fi
add_server() { # add_server IMPL: after a start_* succeeded; one sample order must complete
  local impl=$1 orders
  SPID[$impl]=$SRV_PID SDIR[$impl]=$SRV_DIR SCA[$impl]=$SRV_CACERT
  client "$impl" "$impl-sample" --concurrency 1 --orders 1
  orders=$(field orders "$CLIENT_RESULT")
  if [[ ${orders:-0} -ne 1 ]]; then
    log "$impl: the sample order failed: $(head -c 1500 "$OUT/client-$impl-sample.err")"
    FAILED=1
    stop_pid "$SRV_PID"; unset "SPID[$impl]"
    return 0
  fi
  log "$impl: sample order complete ($(field p50_ms "$CLIENT_RESULT") ms)"
  IMPLS+=("$impl")
}
if want_moor; then
  for db in "${DATABASES[@]}"; do
    impl=moor; [[ $db == postgres ]] && impl=moor-pg
    SRV_PID=""
    if start_moor "$db"; then add_server "$impl"; else
      FAILED=1; [[ -n $SRV_PID ]] && stop_pid "$SRV_PID"
    fi
  done
fi
if want_pebble; then
  SRV_PID=""
  if start_pebble; then add_server pebble; else
    FAILED=1; [[ -n $SRV_PID ]] && stop_pid "$SRV_PID"
  fi
fi
((${#IMPLS[@]})) || die "no server is usable (see above and $OUT)"

# Alternate the servers run by run, so that drift on a noisy machine hits both alike.
for run in $(seq "$RUNS"); do
  for conc in "${CONCS[@]}"; do
    for impl in "${IMPLS[@]}"; do
      point "$impl" "$conc" "$run"
    done
  done
done
for impl in "${IMPLS[@]}"; do
  if [[ -n ${SPID[$impl]:-} ]]; then stop_pid "${SPID[$impl]}"; fi
done
((PEBBLE_RETRIES == 0)) || log "pebble hung or failed in $PEBBLE_RETRIES point(s) and was retried (see above)"

# ----------------------------------------------------------------- table ----
python3 - "$RUNS_TSV" "$OUT/results.md" "$DURATION" "$RUNS" <<'EOF'
import csv, statistics, sys
tsv, out, duration, runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
rows = list(csv.DictReader(open(tsv), delimiter="\t"))
def pts(impl, c):
    return [r for r in rows if r["impl"] == impl and r["concurrency"] == c]
def med(vals):
    return statistics.median(vals) if vals else None
def fmt(x, nd=1):
    return "—" if x is None else f"{x:,.{nd}f}"
concs = list(dict.fromkeys(r["concurrency"] for r in rows))
moors = [i for i in dict.fromkeys(r["impl"] for r in rows) if i != "pebble"] or ["moor"]
names = {"moor": "Mooring", "moor-pg": "Mooring (PostgreSQL)"}
lines = [f"ACME orders/s, {runs} run(s) of {duration} s per point; median, min–max; p50 = median of the runs' p50 order latency", ""]
for m in moors:
    lines += [f"| concurrency | {names.get(m, m)} orders/s | pebble orders/s | ratio | {names.get(m, m)} min–max | pebble min–max | {names.get(m, m)} p50 ms | pebble p50 ms |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in concs:
        cols = []
        stat = {}
        for impl in (m, "pebble"):
            p = pts(impl, c)
            ok = [r for r in p if r["orders_per_s"] not in ("", "ERR")]
            failed = len(ok) < len(p)
            v = [float(r["orders_per_s"]) for r in ok]
            l = [float(r["p50_ms"]) for r in ok]
            stat[impl] = (med(v), min(v) if v else None, max(v) if v else None, med(l), failed, bool(p))
        def rate(s):
            if not s[5]: return "not run"
            return ("FAILED " if s[4] else "") + fmt(s[0])
        def rng(s):
            return "" if s[1] is None else f"{fmt(s[1])}–{fmt(s[2])}"
        a, b = stat[m], stat["pebble"]
        ratio = f"{a[0] / b[0]:.2f}" if a[0] and b[0] and not a[4] and not b[4] else "—"
        lines.append(f"| {c} | {rate(a)} | {rate(b)} | {ratio} | {rng(a)} | {rng(b)} | {fmt(a[3])} | {fmt(b[3])} |")
    lines.append("")
open(out, "w").write("\n".join(lines))
print("\n".join(lines))
EOF
log "results: $OUT/results.md, per run: $RUNS_TSV, client output: $OUT/client-*.{out,err}, server logs in $OUT"
if ((FAILED)); then
  log "FAILED: at least one server or point had errors (see above)"
  exit 1
fi
