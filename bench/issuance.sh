#!/usr/bin/env bash
# Issuance throughput over HTTPS: Mooring vs cfssl, in the same run. See bench/README.md.
#
#   bench/issuance.sh               # both (builds target/release/moor first)
#   bench/issuance.sh cfssl-only    # the cfssl reference side only
#   bench/issuance.sh moor-only     # Mooring only
#
# Environment (defaults in brackets):
#   BENCH_DURATION     seconds per wrk point [10]
#   BENCH_RUNS         runs per point; the table shows the median [3]
#   BENCH_ALGS         CA signing algorithms [ecdsa-p256 ecdsa-p384 rsa-2048 ed25519 ml-dsa-65]
#   BENCH_CONCURRENCY  connection counts [1 16]
#   BENCH_OUT          output directory [target/bench/issuance-<timestamp>]
#   MOOR_BIN           moor binary to use instead of building target/release/moor
#   BENCH_MOOR_LOG     RUST_LOG for the moor server [warn]
#   BENCH_DATABASE     Mooring's store: sqlite, postgres, or "sqlite postgres" for both
#                      (postgres: a throwaway cluster from scripts/postgres, one database
#                      per algorithm) [sqlite]
# Everything binds to 127.0.0.1 only; every wait and every wrk run is bounded.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE=${1:-all}
case "$MODE" in
  all|cfssl-only|moor-only) ;;
  -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
  *) echo "usage: bench/issuance.sh [all|cfssl-only|moor-only]" >&2; exit 2 ;;
esac
want_moor() { [[ $MODE != cfssl-only ]]; }
want_cfssl() { [[ $MODE != moor-only ]]; }

DURATION=${BENCH_DURATION:-10}
DURATION=${DURATION%s}
[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 1 && $DURATION -le 600 ]] || { echo "BENCH_DURATION must be 1..600 seconds" >&2; exit 2; }
RUNS=${BENCH_RUNS:-3}
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 1 && $RUNS -le 50 ]] || { echo "BENCH_RUNS must be 1..50" >&2; exit 2; }
read -r -a ALGS <<<"${BENCH_ALGS:-ecdsa-p256 ecdsa-p384 rsa-2048 ed25519 ml-dsa-65}"
read -r -a CONCS <<<"${BENCH_CONCURRENCY:-1 16}"
for c in "${CONCS[@]}"; do
  [[ $c =~ ^[0-9]+$ && $c -ge 1 && $c -le 1024 ]] || { echo "BENCH_CONCURRENCY: bad value '$c'" >&2; exit 2; }
done
OUT=${BENCH_OUT:-$REPO/target/bench/issuance-$(date +%Y%m%dT%H%M%S)}
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
for t in wrk curl openssl python3 timeout; do
  command -v "$t" >/dev/null 2>&1 || die "'$t' not found (scripts/install-peers bench should have installed it)"
done
if want_cfssl; then
  for t in cfssl cfssljson; do command -v "$t" >/dev/null 2>&1 || die "'$t' not found (Debian package golang-cfssl)"; done
fi

MOOR=""
if want_moor; then
  if [[ -n ${MOOR_BIN:-} ]]; then
    MOOR=$MOOR_BIN
  else
    log "cargo build --release -p moor"
    (cd "$REPO" && cargo build --release -p moor) >"$OUT/build.log" 2>&1 || {
      tail -30 "$OUT/build.log" >&2
      die "moor is not built: 'cargo build --release -p moor' failed (log: $OUT/build.log)"
    }
    MOOR=${CARGO_TARGET_DIR:-$REPO/target}/release/moor
  fi
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

# ----------------------------------------------------------------- inputs ----
# One ECDSA P-256 CSR for everything: what we measure is the CA's signing algorithm.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$OUT/csr.key" \
  -subj /CN=bench.example.com -addext subjectAltName=DNS:bench.example.com -out "$OUT/bench.csr" 2>/dev/null \
  || die "openssl req failed to make the benchmark CSR"
python3 - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
csr = open(f"{out}/bench.csr").read()
json.dump({"profile": "bench", "csr": csr}, open(f"{out}/moor-body.json", "w"))
json.dump({"certificate_request": csr}, open(f"{out}/cfssl-body.json", "w"))
EOF

# cfssl's HTTPS identity (cfssl has -tls-cert/-tls-key, so both sides speak HTTPS).
if want_cfssl; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$OUT/cfssl-tls.key" \
    -out "$OUT/cfssl-tls.pem" -days 2 -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null \
    || die "openssl failed to make cfssl's TLS certificate"
fi

# --------------------------------------------------------------- servers ----
# Each start_* sets SRV_PID, SRV_URL (issuance endpoint), SRV_CACERT and SRV_TOKEN_FILE
# ("" when none), and returns non-zero (with a message) when the server is unusable.

# Commands from Mooring's API contract; keep them in one place.
# Every algorithm goes the same way, the one the integration tests use: `init` makes the
# default ECDSA P-256 hierarchy (it also signs the server's TLS certificate, which keeps
# the TLS chain verifiable by OpenSSL 3.0), then `ca add-issuer --new-root` adds a root +
# intermediate with the benchmarked algorithm, and a profile "bench" (tls-server's
# settings) issues from it. `init --algorithm ed25519|ml-dsa-*` alone is refused: the
# built-in public-tls profile would then be signed by a non-BR algorithm.
moor_init() { # moor_init HOME ALG DB
  export MOORING_CA_PASSPHRASE=$PASSPHRASE
  local database=""
  if [[ $3 == postgres ]]; then
    local name="bench_${2//-/_}_$RANDOM"
    psql "$MOORING_TEST_POSTGRES" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $name" || return 1
    database="database = \"${MOORING_TEST_POSTGRES%/*}/$name\""
    mkdir -p "$1" && printf '%s\n' "$database" >"$1/mooring.toml"
  fi
  timeout 300 "$MOOR" init --home "$1" || return 1
  timeout 300 "$MOOR" ca add-issuer --home "$1" --id bench --algorithm "$2" --new-root || return 1
  { [[ -n $database ]] && printf '%s\n\n' "$database"; cat; } >"$1/mooring.toml" <<'TOML'
[profiles.bench]
issuer = "bench"
default_lifetime = "90d"
max_lifetime = "199d"
extended_key_usage = ["server-auth"]
san_types = ["dns", "ip"]
TOML
}
# --http-listen "" turns off the plain-HTTP listener, whose default is the fixed 127.0.0.1:8080.
moor_serve() { # moor_serve HOME PORT   (runs in the foreground; caller backgrounds it)
  MOORING_CA_PASSPHRASE=$PASSPHRASE RUST_LOG=${BENCH_MOOR_LOG:-warn} \
    exec "$MOOR" --home "$1" serve --listen "127.0.0.1:$2" --http-listen ""
}

# sanity_issue NAME URL EXPECT BODY CACERT TOKEN_FILE: one request by curl; must return
# EXPECT with a certificate for bench.example.com in the body.
sanity_issue() {
  local name=$1 url=$2 expect=$3 body=$4 cacert=$5 token_file=$6 code
  local -a auth=() tls=(--cacert "$cacert")
  [[ -n $token_file ]] && auth=(-H "Authorization: Bearer $(tr -d ' \r\n\t' <"$token_file")")
  [[ $cacert == insecure ]] && tls=(-k)
  code=$(curl -sS --max-time 30 "${tls[@]}" "${auth[@]}" -H 'Content-Type: application/json' \
    --data-binary @"$body" -o "$OUT/$name.sample.json" -w '%{http_code}' "$url" 2>"$OUT/$name.sample.err") || code="curl-exit-$?"
  if [[ $code != "$expect" ]]; then
    log "$name: sample issuance returned $code, expected $expect: $(head -c 300 "$OUT/$name.sample.json" 2>/dev/null; cat "$OUT/$name.sample.err")"
    return 1
  fi
  # The response is JSON with the PEM certificate somewhere inside (moor: "certificate"
  # or similar; cfssl: result.certificate). Find it and check the SAN.
  python3 - "$OUT/$name.sample.json" >"$OUT/$name.sample.pem" <<'EOF' || { log "$name: no certificate in the response"; return 1; }
import json, sys
def walk(v):
    if isinstance(v, str) and "-----BEGIN CERTIFICATE-----" in v:
        yield v
    elif isinstance(v, dict):
        for x in v.values(): yield from walk(x)
    elif isinstance(v, list):
        for x in v: yield from walk(x)
certs = list(walk(json.load(open(sys.argv[1]))))
if not certs: sys.exit(1)
print(certs[0])
EOF
  openssl x509 -in "$OUT/$name.sample.pem" -noout -ext subjectAltName 2>/dev/null | grep -q 'DNS:bench.example.com' \
    || { log "$name: issued certificate lacks DNS:bench.example.com"; return 1; }
}

start_moor() { # start_moor ALG DB (sqlite | postgres)
  local alg=$1 db=$2 port code deadline ready=""
  local impl=moor; [[ $db == postgres ]] && impl=moor-pg
  local home="$OUT/$impl-$alg"
  rm -rf "$home"
  log "$impl[$alg]: init"
  moor_init "$home" "$alg" "$db" >"$OUT/$impl-$alg.init.log" 2>&1 || {
    log "$impl[$alg]: 'moor init --home $home --algorithm $alg' failed: $(tail -5 "$OUT/$impl-$alg.init.log")"
    return 1
  }
  port=$(free_port)
  (moor_serve "$home" "$port") >"$OUT/$impl-$alg.serve.log" 2>&1 &
  SRV_PID=$!
  PIDS+=("$SRV_PID")
  SRV_URL="https://127.0.0.1:$port/api/v1/certificates"
  SRV_TOKEN_FILE="$home/admin.token"
  SRV_CACERT=""
  deadline=$((SECONDS + 60))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$SRV_PID" 2>/dev/null; then
      log "$impl[$alg]: server exited during start-up: $(tail -10 "$OUT/$impl-$alg.serve.log")"
      return 1
    fi
    if [[ -z $SRV_CACERT ]]; then
      if [[ -s $home/roots.pem ]]; then
        SRV_CACERT="$home/roots.pem"
      elif curl -sfk --max-time 5 -o "$OUT/$impl-$alg.roots.pem" "https://127.0.0.1:$port/roots.pem" 2>/dev/null \
        && grep -q 'BEGIN CERTIFICATE' "$OUT/$impl-$alg.roots.pem"; then
        SRV_CACERT="$OUT/$impl-$alg.roots.pem"
      fi
    fi
    if [[ -n $SRV_CACERT ]]; then
      code=$(curl -s --max-time 5 --cacert "$SRV_CACERT" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$port/health" 2>/dev/null) || code=000
      if [[ $code == 200 ]]; then ready=verified; break; fi
      # OpenSSL 3.0 (curl, wrk) cannot verify ML-DSA signatures: for an ML-DSA CA the
      # chain check is impossible here, so settle for a 200 without verification.
      if [[ $alg == ml-dsa-* ]]; then
        code=$(curl -sk --max-time 5 -o /dev/null -w '%{http_code}' "https://127.0.0.1:$port/health" 2>/dev/null) || code=000
        if [[ $code == 200 ]]; then ready=unverified; break; fi
      fi
    fi
    sleep 0.2
  done
  if [[ -z $ready ]]; then
    code=$(curl -sk --max-time 5 -o /dev/null -w '%{http_code}' "https://127.0.0.1:$port/health" 2>/dev/null) || code=000
    log "$impl[$alg]: not healthy within 60 s (roots: ${SRV_CACERT:-none}; /health without TLS verification: $code): $(tail -5 "$OUT/$impl-$alg.serve.log")"
    return 1
  fi
  [[ -s $SRV_TOKEN_FILE ]] || { log "$impl[$alg]: $SRV_TOKEN_FILE missing or empty"; return 1; }
  if [[ $ready == unverified ]]; then
    log "$impl[$alg]: healthy on 127.0.0.1:$port (TLS chain NOT verified: OpenSSL 3.0 lacks ML-DSA)"
    SRV_CACERT=insecure
  else
    log "$impl[$alg]: healthy on 127.0.0.1:$port"
  fi
  sanity_issue "$impl-$alg" "$SRV_URL" 201 "$OUT/moor-body.json" "$SRV_CACERT" "$SRV_TOKEN_FILE"
}

cfssl_keyspec() { # ALG -> "algo size" or "" when cfssl has no such CA key type
  case "$1" in
    ecdsa-p256) echo "ecdsa 256" ;;
    ecdsa-p384) echo "ecdsa 384" ;;
    rsa-2048) echo "rsa 2048" ;;
    rsa-3072) echo "rsa 3072" ;;
    rsa-4096) echo "rsa 4096" ;;
    *) echo "" ;;
  esac
}

start_cfssl() { # start_cfssl ALG
  local alg=$1 port algo size deadline
  local dir="$OUT/cfssl-$alg"
  read -r algo size <<<"$(cfssl_keyspec "$alg")"
  rm -rf "$dir"; mkdir -p "$dir"
  printf '{"CN":"cfssl bench CA %s","key":{"algo":"%s","size":%s}}\n' "$alg" "$algo" "$size" >"$dir/ca-csr.json"
  (cd "$dir" && timeout 120 cfssl genkey -initca ca-csr.json 2>genkey.log | cfssljson -bare ca) \
    || { log "cfssl[$alg]: genkey -initca failed: $(tail -3 "$dir/genkey.log")"; return 1; }
  port=$(free_port)
  # -loglevel 3 (warnings): per-request INFO logging would cost cfssl throughput.
  cfssl serve -address 127.0.0.1 -port "$port" -ca "$dir/ca.pem" -ca-key "$dir/ca-key.pem" \
    -tls-cert "$OUT/cfssl-tls.pem" -tls-key "$OUT/cfssl-tls.key" -loglevel 3 >"$dir/serve.log" 2>&1 &
  SRV_PID=$!
  PIDS+=("$SRV_PID")
  SRV_URL="https://127.0.0.1:$port/api/v1/cfssl/sign"
  SRV_CACERT="$OUT/cfssl-tls.pem"
  SRV_TOKEN_FILE=""
  deadline=$((SECONDS + 30))
  until curl -s --max-time 2 --cacert "$SRV_CACERT" -o /dev/null "https://127.0.0.1:$port/" 2>/dev/null; do
    kill -0 "$SRV_PID" 2>/dev/null || { log "cfssl[$alg]: exited during start-up: $(tail -5 "$dir/serve.log")"; return 1; }
    ((SECONDS < deadline)) || { log "cfssl[$alg]: not answering within 30 s"; return 1; }
    sleep 0.2
  done
  log "cfssl[$alg]: up on 127.0.0.1:$port"
  sanity_issue "cfssl-$alg" "$SRV_URL" 200 "$OUT/cfssl-body.json" "$SRV_CACERT" ""
}

# ------------------------------------------------------------------- wrk ----
RUNS_TSV="$OUT/runs.tsv"
printf 'impl\talgorithm\tconcurrency\trun\treq_per_s\tp50_us\tp99_us\tgood\tbad\n' >"$RUNS_TSV"
FAILED=0

# wrk_point IMPL ALG CONC RUN URL EXPECT BODY TOKEN_FILE PID
wrk_point() {
  local impl=$1 alg=$2 conc=$3 run=$4 url=$5 expect=$6 body=$7 token=$8 pid=$9
  local threads=$((conc < 2 ? conc : 2)) f="$OUT/wrk-$impl-$alg-c$conc-r$run.txt"
  local rps good bad p50 p99 non2xx sockerr
  if ! kill -0 "$pid" 2>/dev/null; then
    log "${impl}[$alg] c=$conc run $run: server is gone"
    printf '%s\t%s\t%s\t%s\tERR\t\t\t\t\n' "$impl" "$alg" "$conc" "$run" >>"$RUNS_TSV"
    FAILED=1; return 0
  fi
  # In the background + wait, so that a TERM/INT to this script is handled at once
  # (bash defers traps while a foreground child runs) and the trap also stops wrk.
  BENCH_BODY=$body BENCH_TOKEN_FILE=$token BENCH_EXPECT=$expect \
    timeout $((DURATION + 60)) wrk -t"$threads" -c"$conc" -d"${DURATION}s" --timeout 10s \
    -s "$REPO/bench/post.lua" "$url" >"$f" 2>&1 &
  local wrk_pid=$!
  PIDS+=("$wrk_pid")
  wait "$wrk_pid" || true
  stop_pid "$wrk_pid"
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$f")
  good=$(sed -n 's/^BENCH good=\([0-9]*\).*/\1/p' "$f")
  bad=$(sed -n 's/^BENCH .* bad=\([0-9]*\).*/\1/p' "$f")
  p50=$(sed -n 's/^BENCH .* p50_us=\([0-9]*\).*/\1/p' "$f")
  p99=$(sed -n 's/^BENCH .* p99_us=\([0-9]*\).*/\1/p' "$f")
  non2xx=$(awk -F': *' '/Non-2xx or 3xx responses/ {print $2}' "$f")
  sockerr=$(grep -m1 '^  Socket errors' "$f" || true)
  if [[ -z $rps || -z $good || ${good:-0} -eq 0 || ${bad:-1} -ne 0 || -n $non2xx || -n $sockerr ]]; then
    log "${impl}[$alg] c=$conc run $run: FAILED (req/s=${rps:-?} good=${good:-?} bad=${bad:-?} non2xx=${non2xx:-0} ${sockerr# }) — $(grep -m1 '^BENCH' "$f" | sed 's/.*first_bad=//') see $f"
    printf '%s\t%s\t%s\t%s\tERR\t%s\t%s\t%s\t%s\n' "$impl" "$alg" "$conc" "$run" "$p50" "$p99" "$good" "$bad" >>"$RUNS_TSV"
    FAILED=1; return 0
  fi
  log "${impl}[$alg] c=$conc run $run: $rps req/s (p50 ${p50} us, p99 ${p99} us, $good ok)"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$impl" "$alg" "$conc" "$run" "$rps" "$p50" "$p99" "$good" "$bad" >>"$RUNS_TSV"
}

# ------------------------------------------------------------------ main ----
declare -A STATUS=()   # "impl/alg" -> n/a | not run | failed: ... | ok
sides=1; [[ $MODE == all ]] && sides=2
log "plan: ${#ALGS[@]} algorithms x ${#CONCS[@]} concurrencies x $RUNS runs x ${DURATION} s, $sides side(s): at most $(( ${#ALGS[@]} * ${#CONCS[@]} * RUNS * DURATION * sides / 60 + 1 )) min of load"

if want_moor && [[ " ${DATABASES[*]} " == *" postgres "* ]]; then
  PG_ENV=$(bash "$REPO/scripts/postgres" start) || die "could not start PostgreSQL (scripts/postgres)"
  eval "$PG_ENV"
  log "PostgreSQL for moor-pg: $MOORING_TEST_POSTGRES"
fi
IMPLS=()
for db in "${DATABASES[@]}"; do
  if [[ $db == postgres ]]; then IMPLS+=(moor-pg); else IMPLS+=(moor); fi
done

for alg in "${ALGS[@]}"; do
  declare -A MPID=() MURL=() MTOKEN=()
  CFSSL_PID=""
  for db in "${DATABASES[@]}"; do
    impl=moor; [[ $db == postgres ]] && impl=moor-pg
    if want_moor; then
      if start_moor "$alg" "$db"; then
        MPID[$impl]=$SRV_PID MURL[$impl]=$SRV_URL MTOKEN[$impl]=$SRV_TOKEN_FILE STATUS[$impl/$alg]=ok
      else
        STATUS[$impl/$alg]=failed; FAILED=1
        if [[ -n ${SRV_PID:-} ]]; then stop_pid "$SRV_PID"; fi
      fi
    else
      STATUS[$impl/$alg]="not run"
    fi
    SRV_PID=""
  done
  if want_cfssl; then
    if [[ -z $(cfssl_keyspec "$alg") ]]; then
      STATUS[cfssl/$alg]="n/a"
    elif start_cfssl "$alg"; then
      CFSSL_PID=$SRV_PID CFSSL_URL=$SRV_URL STATUS[cfssl/$alg]=ok
    else
      STATUS[cfssl/$alg]=failed; FAILED=1
      if [[ -n ${SRV_PID:-} ]]; then stop_pid "$SRV_PID"; fi
    fi
  else
    STATUS[cfssl/$alg]="not run"
  fi
  SRV_PID=""
  # Interleave the two servers run by run, so drift on a noisy machine hits both alike.
  for run in $(seq "$RUNS"); do
    for conc in "${CONCS[@]}"; do
      for impl in "${!MPID[@]}"; do
        wrk_point "$impl" "$alg" "$conc" "$run" "${MURL[$impl]}" 201 "$OUT/moor-body.json" "${MTOKEN[$impl]}" "${MPID[$impl]}"
      done
      if [[ -n $CFSSL_PID ]]; then
        wrk_point cfssl "$alg" "$conc" "$run" "$CFSSL_URL" 200 "$OUT/cfssl-body.json" "" "$CFSSL_PID"
      fi
    done
  done
  for impl in "${!MPID[@]}"; do stop_pid "${MPID[$impl]}"; done
  unset MPID MURL MTOKEN
  if [[ -n $CFSSL_PID ]]; then stop_pid "$CFSSL_PID"; fi
done

# ----------------------------------------------------------------- table ----
for k in "${!STATUS[@]}"; do printf '%s\t%s\n' "$k" "${STATUS[$k]}"; done >"$OUT/status.tsv"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
if [[ -n ${MOOR_BIN:-} ]]; then
  moor_rev="binary $MOOR_BIN"
else
  moor_rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
  [[ -z $(git -C "$REPO" status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null) ]] || moor_rev+="+uncommitted"
fi
cfssl_ver=$(cfssl version 2>/dev/null | awk '/^Version/ {print $2}' || true)
python3 - "$RUNS_TSV" "$MODE" "$DURATION" "$RUNS" "$(nproc) cores, ${cpu:-unknown CPU}" "$moor_rev" "${cfssl_ver:-?}" \
  "${ALGS[*]}" "${CONCS[*]}" "$OUT/status.tsv" "${BENCH_MOOR_LOG:-warn}" "${IMPLS[*]}" <<'EOF' | tee "$OUT/results.md"
import csv, statistics, sys
tsv, mode, dur, runs, machine, rev, cfver, algs, concs, status_tsv, moor_log, impls = sys.argv[1:]
impls = impls.split()
status = dict(line.rstrip("\n").split("\t", 1) for line in open(status_tsv) if line.strip())
rows = {}
for r in csv.DictReader(open(tsv), delimiter="\t"):
    rows.setdefault((r["impl"], r["algorithm"], r["concurrency"]), []).append(r)

def cell(impl, alg, conc):
    st = status.get(f"{impl}/{alg}", "not run")
    if st != "ok":
        return None, {"n/a": "n/a", "not run": "—", "failed": "FAILED"}.get(st, st), ""
    rs = rows.get((impl, alg, conc), [])
    vals = [float(r["req_per_s"]) for r in rs if r["req_per_s"] != "ERR"]
    if len(vals) != len(rs) or not vals:
        return None, f"FAILED ({len(rs) - len(vals)}/{len(rs)} runs)", ""
    med = statistics.median(vals)
    return med, f"{med:,.0f}", f"{min(vals):,.0f}–{max(vals):,.0f}"

print(f"\n### Issuance throughput, HTTPS, keep-alive ({mode}; {runs} runs x {dur} s per point, median)\n")
names = {"moor": "moor (SQLite)", "moor-pg": "moor (PostgreSQL)"}
head = "| algorithm | concurrency |"
for i in impls:
    head += f" {names[i]} req/s | ratio /cfssl | min–max |"
head += " cfssl req/s | cfssl min–max |"
print(head)
print("|---|---:|" + "---:|---:|---:|" * len(impls) + "---:|---:|")
for alg in algs.split():
    for conc in concs.split():
        c, cs, cr = cell("cfssl", alg, conc)
        line = f"| {alg} | {conc} |"
        for i in impls:
            m, ms, mr = cell(i, alg, conc)
            ratio = f"{m / c:.2f}" if m is not None and c is not None and c > 0 else "—"
            line += f" {ms} | {ratio} | {mr} |"
        print(line + f" {cs} | {cr} |")
print(f"\nMachine: {machine}; load generator wrk on the same machine (c=1: -t1, else -t2). "
      f"moor {rev} (RUST_LOG={moor_log}), cfssl {cfver} (-loglevel 3). "
      "Both over TLS on 127.0.0.1; ECDSA P-256 CSR with SAN bench.example.com; "
      "cfssl: default signing profile, no database; n/a = cfssl has no such CA key type.")
EOF
log "raw runs: $RUNS_TSV; wrk outputs and logs in $OUT"
if ((FAILED)); then
  die "some points failed (see messages above); the table marks them FAILED"
fi
