#!/usr/bin/env bash
# OCSP throughput: Mooring's pre-signed (cached) responses vs `openssl ocsp -index`, same
# certificates, same requests, same run. See docs/benchmarks.md ("OCSP").
#
#   bench/ocsp.sh
#
# Environment (defaults in brackets):
#   BENCH_DURATION       seconds per point [5]
#   BENCH_RUNS           runs per point; the table shows the median [3]
#   BENCH_CONCURRENCY    connection counts [1 16 64]
#   BENCH_CERTS          certificates asked about, round robin (every 10th revoked) [100]
#   BENCH_OUT            output directory [target/bench/ocsp-<timestamp>]
#   MOOR_BIN             moor binary to use instead of building target/release/moor
#   BENCH_MOOR_LOG       RUST_LOG for the moor server [warn]
#
# Load generators: h2load (nghttp2-client) drives both servers. wrk drives Mooring as a
# second opinion but cannot drive `openssl ocsp`: wrk opens a probe connection and closes
# it without a request, and OpenSSL 3.0's responder then spins forever reading EOF on it.
# `openssl ocsp -port` listens on all interfaces, so everything runs inside a private
# network namespace (`unshare -n`, loopback only); that needs root.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case "${1:-}" in
  -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
  "") ;;
  *) echo "usage: bench/ocsp.sh (no arguments; see --help)" >&2; exit 2 ;;
esac

DURATION=${BENCH_DURATION:-5}
DURATION=${DURATION%s}
[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 1 && $DURATION -le 600 ]] || { echo "BENCH_DURATION must be 1..600 seconds" >&2; exit 2; }
RUNS=${BENCH_RUNS:-3}
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 1 && $RUNS -le 50 ]] || { echo "BENCH_RUNS must be 1..50" >&2; exit 2; }
read -r -a CONCS <<<"${BENCH_CONCURRENCY:-1 16 64}"
for c in "${CONCS[@]}"; do
  [[ $c =~ ^[0-9]+$ && $c -ge 1 && $c -le 1024 ]] || { echo "BENCH_CONCURRENCY: bad value '$c'" >&2; exit 2; }
done
NCERTS=${BENCH_CERTS:-100}
[[ $NCERTS =~ ^[0-9]+$ && $NCERTS -ge 1 && $NCERTS -le 2000 ]] || { echo "BENCH_CERTS must be 1..2000" >&2; exit 2; }
PASSPHRASE=bench-only-passphrase-not-secret

log() { printf '[ocsp-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[ocsp-bench] ERROR: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------- phase 1: tools, build, namespace ----
if [[ -z ${OCSP_BENCH_INNER:-} ]]; then
  OUT=${BENCH_OUT:-$REPO/target/bench/ocsp-$(date +%Y%m%dT%H%M%S)}
  mkdir -p "$OUT"
  OUT=$(cd "$OUT" && pwd)
  log "output in $OUT"
  bash "$REPO/scripts/install-peers" bench || die "scripts/install-peers bench failed"
  if ! command -v h2load >/dev/null 2>&1; then
    log "installing nghttp2-client (h2load) from Debian"
    SUDO=(); [[ $(id -u) -eq 0 ]] || SUDO=(sudo -n)
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 -q install -y \
      --no-install-recommends nghttp2-client </dev/null >"$OUT/apt.log" 2>&1 \
      || die "apt-get install nghttp2-client failed (log: $OUT/apt.log)"
  fi
  for t in h2load wrk curl openssl python3 timeout unshare setsid ip; do
    command -v "$t" >/dev/null 2>&1 || die "'$t' not found"
  done
  if [[ -n ${MOOR_BIN:-} ]]; then
    MOOR=$MOOR_BIN
  else
    log "cargo build --release -p moor"
    (cd "$REPO" && cargo build --release -p moor) >"$OUT/build.log" 2>&1 || {
      tail -30 "$OUT/build.log" >&2
      die "'cargo build --release -p moor' failed (log: $OUT/build.log)"
    }
    MOOR=${CARGO_TARGET_DIR:-$REPO/target}/release/moor
  fi
  [[ -x $MOOR ]] || die "moor binary not found or not executable: $MOOR"
  if [[ -n ${MOOR_BIN:-} ]]; then
    REV="binary $MOOR_BIN"
  else
    REV=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
    [[ -z $(git -C "$REPO" status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null) ]] || REV+="+uncommitted"
  fi
  unshare -n true 2>/dev/null || die "unshare -n failed: run as root (openssl ocsp -port must not listen on real interfaces)"
  OCSP_BENCH_INNER=1 OUT=$OUT MOOR=$MOOR REV=$REV exec unshare -n bash "$0"
fi

# ------------------------------------ phase 2: inside the private namespace ----
ip link set lo up
cd "$OUT"

PGIDS=()
cleanup() { # every server runs in its own session: stop the whole group
  local g
  for g in "${PGIDS[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done
  sleep 0.3
  for g in "${PGIDS[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
stop_group() {
  local g=$1 keep=() q
  kill -TERM -- "-$g" 2>/dev/null || true
  for _ in $(seq 30); do kill -0 -- "-$g" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$g" 2>/dev/null || true
  for q in "${PGIDS[@]}"; do [[ $q == "$g" ]] || keep+=("$q"); done
  PGIDS=("${keep[@]}")
}

# --------------------------------------------------------------- Mooring ----
HOME_DIR=$OUT/moor-home
rm -rf "$HOME_DIR"
export MOORING_CA_PASSPHRASE=$PASSPHRASE
timeout 300 "$MOOR" init --home "$HOME_DIR" >"$OUT/init.log" 2>&1 || die "moor init failed: $(tail -5 "$OUT/init.log")"
HTTPS_PORT=18443 HTTP_PORT=18080 OSSL_PORT=18888
RUST_LOG=${BENCH_MOOR_LOG:-warn} setsid "$MOOR" --home "$HOME_DIR" serve \
  --listen "127.0.0.1:$HTTPS_PORT" --http-listen "127.0.0.1:$HTTP_PORT" >"$OUT/serve.log" 2>&1 &
MOOR_PID=$!
PGIDS+=("$MOOR_PID")
CACERT=$HOME_DIR/roots.pem
ISSUER=$HOME_DIR/certs/default.pem
deadline=$((SECONDS + 60))
until curl -sf --max-time 2 --cacert "$CACERT" -o /dev/null "https://127.0.0.1:$HTTPS_PORT/health"; do
  kill -0 "$MOOR_PID" 2>/dev/null || die "moor serve exited: $(tail -5 "$OUT/serve.log")"
  ((SECONDS < deadline)) || die "moor serve not healthy within 60 s"
  sleep 0.2
done
log "moor: up (https $HTTPS_PORT, http $HTTP_PORT)"
TOKEN=$(tr -d ' \r\n\t' <"$HOME_DIR/admin.token")
api() { # api METHOD PATH [JSON]
  curl -sS --max-time 30 --cacert "$CACERT" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -X "$1" ${3:+-d "$3"} "https://127.0.0.1:$HTTPS_PORT$2"
}

# ------------------------------------------------- certificates and index ----
log "issuing $NCERTS certificates (every 10th revoked)"
mkdir -p certs reqs
: >index.txt
for i in $(seq "$NCERTS"); do
  api POST /api/v1/certificates "{\"profile\":\"tls-server\",\"sans\":[\"ocsp$i.bench.example\"]}" >"certs/$i.json"
  python3 - "certs/$i.json" "certs/$i.pem" >"certs/$i.serial" <<'EOF'
import json, sys
v = json.load(open(sys.argv[1]))
open(sys.argv[2], "w").write(v["certificate"])
print(v["serial"])
EOF
  serial=$(cat "certs/$i.serial")
  exp=$(date -u -d "$(openssl x509 -in "certs/$i.pem" -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)
  if ((i % 10 == 0)); then
    rec=$(api POST "/api/v1/certificates/$serial/revoke" '{"reason":"superseded"}')
    at=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["revoked_at"])' "$rec")
    printf 'R\t%s\t%s,superseded\t%s\tunknown\t/CN=ocsp%s.bench.example\n' "$exp" \
      "$(date -u -d "@$at" +%y%m%d%H%M%SZ)" "${serial^^}" "$i" >>index.txt
  else
    printf 'V\t%s\t\t%s\tunknown\t/CN=ocsp%s.bench.example\n' "$exp" "${serial^^}" "$i" >>index.txt
  fi
  openssl ocsp -issuer "$ISSUER" -cert "certs/$i.pem" -no_nonce -reqout "reqs/$i.der" >/dev/null 2>&1 \
    || die "openssl ocsp -reqout failed for certificate $i"
done

# openssl's delegated responder: same algorithm (P-256), signed by the same issuing CA,
# with the same extensions as ours.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ossl-rkey.pem \
  -subj "/CN=openssl OCSP responder" -out ossl-r.csr 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=OCSPSigning\nnoCheck=ignored\n' >ossl-ext.cnf
openssl x509 -req -in ossl-r.csr -CA "$ISSUER" -CAkey "$HOME_DIR/keys/default.key.pem" -passin "pass:$PASSPHRASE" \
  -days 4 -set_serial "0x$(openssl rand -hex 16)" -extfile ossl-ext.cnf -out ossl-rcert.pem 2>/dev/null \
  || die "could not certify openssl's responder key"

# The request paths (GET, RFC 6960 §A.1: URL-encoded base64), one per certificate.
: >moor-uris.txt; : >ossl-uris.txt; : >paths.txt
for i in $(seq "$NCERTS"); do
  enc=$(base64 -w0 "reqs/$i.der" | sed 's,+,%2B,g;s,/,%2F,g;s,=,%3D,g')
  echo "http://127.0.0.1:$HTTP_PORT/ocsp/$enc" >>moor-uris.txt
  echo "http://127.0.0.1:$OSSL_PORT/$enc" >>ossl-uris.txt
  echo "/ocsp/$enc" >>paths.txt
done
cat >multi-path.lua <<'EOF'
-- wrk: GET each path of paths.txt in turn (no response callback: wrk stays fast).
local paths = {}
for line in io.lines("paths.txt") do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
EOF

# check NAME URI_FILE: the first (good) and tenth (revoked) answers verify against roots.pem.
check() {
  local name=$1 file=$2 n out
  for n in 1 10; do
    ((n <= NCERTS)) || continue
    curl -sS --max-time 10 -o "$name-$n.der" "$(sed -n "${n}p" "$file")" || return 1
    out=$(openssl ocsp -respin "$name-$n.der" -issuer "$ISSUER" -CAfile "$CACERT" -resp_text 2>&1) || { log "$name: $out"; return 1; }
    grep -q "Response verify OK" <<<"$out" || { log "$name: response $n does not verify: $out"; return 1; }
    if ((n == 10)); then want=revoked; else want=good; fi
    grep -q "Cert Status: $want" <<<"$out" || { log "$name: response $n is not $want: $out"; return 1; }
  done
}
check moor moor-uris.txt || die "Mooring's responses do not verify"
log "moor: sample responses verify (good, revoked) against roots.pem"

# ------------------------------------------------------------------- load ----
RUNS_TSV=$OUT/runs.tsv
printf 'impl\tconcurrency\trun\treq_per_s\n' >"$RUNS_TSV"
FAILED=0

# HTTP/1.1 for both by default; h2load_point_h2c switches to HTTP/2 over cleartext with
# H2_STREAMS concurrent streams per connection (Mooring only: openssl ocsp speaks HTTP/1.0).
PROTO=(--h1)
H2_STREAMS=${BENCH_H2_STREAMS:-100}

# h2load_measure TAG CONC URI_FILE MODE(duration|count) [COUNT] -> RPS ("" on failure), FILE
h2load_measure() {
  local tag=$1 conc=$2 uris=$3 mode=$4 count=${5:-0} ndone ok threads
  threads=$((conc < 2 ? 1 : 2))
  FILE="$OUT/h2load-$tag.txt"
  if [[ $mode == duration ]]; then
    timeout $((DURATION + 60)) h2load "${PROTO[@]}" -t"$threads" -c"$conc" -D "$DURATION" -i "$uris" >"$FILE" 2>&1 || true
  else
    timeout $((DURATION * 4 + 60)) h2load "${PROTO[@]}" -t"$threads" -c"$conc" -n "$count" -i "$uris" >"$FILE" 2>&1 || true
  fi
  RPS=$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' "$FILE")
  ndone=$(sed -n 's/^requests: .* \([0-9]*\) done.*/\1/p' "$FILE")
  ok=$(sed -n 's/^status codes: \([0-9]*\) 2xx.*/\1/p' "$FILE")
  # HTTP/2: h2load may count a few more 2xx than "done" (streams finished after the clock
  # stopped); every done request must still be a 2xx.
  if [[ -z $RPS || -z $ndone || ${ndone:-0} -eq 0 || -z $ok || $ok -lt $ndone ]] || grep -q ' [1-9][0-9]* failed\| [1-9][0-9]* errored' "$FILE"; then
    RPS=""
  fi
}

# h2load_point IMPL CONC RUN URI_FILE MODE [COUNT]: measure and record.
h2load_point() {
  local impl=$1 conc=$2 run=$3
  h2load_measure "$impl-c$conc-r$run" "$conc" "$4" "$5" "${6:-0}"
  if [[ -z $RPS ]]; then
    log "$impl c=$conc run $run: FAILED (see $FILE)"
    printf '%s\t%s\t%s\tERR\n' "$impl" "$conc" "$run" >>"$RUNS_TSV"; FAILED=1; return 0
  fi
  log "$impl c=$conc run $run: $RPS req/s"
  printf '%s\t%s\t%s\t%s\n' "$impl" "$conc" "$run" "$RPS" >>"$RUNS_TSV"
}

wrk_point() { # wrk_point CONC RUN (Mooring only)
  local conc=$1 run=$2 f rps threads
  threads=$((conc < 2 ? 1 : 2))
  f="$OUT/wrk-moor-c$conc-r$run.txt"
  timeout $((DURATION + 60)) wrk -t"$threads" -c"$conc" -d"${DURATION}s" -s multi-path.lua \
    "http://127.0.0.1:$HTTP_PORT" >"$f" 2>&1 || true
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$f")
  if [[ -z $rps ]] || grep -q "Non-2xx\|Socket errors" "$f"; then
    log "moor-wrk c=$conc run $run: FAILED (see $f)"
    printf 'moor-wrk\t%s\t%s\tERR\n' "$conc" "$run" >>"$RUNS_TSV"; FAILED=1; return 0
  fi
  log "moor-wrk c=$conc run $run: $rps req/s"
  printf 'moor-wrk\t%s\t%s\t%s\n' "$conc" "$run" "$rps" >>"$RUNS_TSV"
}

# Warm Mooring's cache (the first answer per certificate is signed, later ones are lookups).
h2load --h1 -c1 -n "$((NCERTS * 2))" -i moor-uris.txt >"$OUT/warmup.txt" 2>&1 || true
before=$(curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | sed -n 's/^mooring_ocsp_requests_total{status="successful"} //p')

# The plain command (one process). `-multi N` is not measured: OpenSSL 3.0 then turns
# into a syslog daemon in a session of its own, and on 2 cores shared with the load
# generator it would have no spare core anyway.
start_openssl() { # -> OSSL_PID
  setsid openssl ocsp -index index.txt -port "$OSSL_PORT" -rsigner ossl-rcert.pem -rkey ossl-rkey.pem \
    -CA "$ISSUER" -ndays 1 >"$OUT/openssl.log" 2>&1 &
  OSSL_PID=$!
  PGIDS+=("$OSSL_PID")
  local deadline=$((SECONDS + 20))
  until curl -s --max-time 2 -o /dev/null "$(sed -n 1p ossl-uris.txt)"; do
    kill -0 "$OSSL_PID" 2>/dev/null || die "openssl ocsp exited: $(tail -3 "$OUT/openssl.log")"
    ((SECONDS < deadline)) || die "openssl ocsp not answering within 20 s"
    sleep 0.2
  done
}

for run in $(seq "$RUNS"); do
  for conc in "${CONCS[@]}"; do
    h2load_point moor "$conc" "$run" moor-uris.txt duration
    PROTO=(-m "$H2_STREAMS")
    h2load_point moor-h2c "$conc" "$run" moor-uris.txt duration
    PROTO=(--h1)
    wrk_point "$conc" "$run"
    start_openssl
    if [[ $run == 1 && $conc == "${CONCS[0]}" ]]; then
      check openssl ossl-uris.txt || die "openssl's responses do not verify"
    fi
    # h2load's -D mode hangs on HTTP/1.0 connection-close answers: count mode, sized
    # from a short calibration to last about BENCH_DURATION.
    h2load_measure "calibrate-c$conc-r$run" "$conc" ossl-uris.txt count 2000
    n=$(python3 -c "import sys; r=float(sys.argv[1] or 1000); print(max(2000, int(r * $DURATION)))" "${RPS:-}")
    h2load_point openssl "$conc" "$run" ossl-uris.txt count "$n"
    stop_group "$OSSL_PID"
  done
done
after=$(curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | sed -n 's/^mooring_ocsp_requests_total{status="successful"} //p')
other=$(curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | grep '^mooring_ocsp_requests_total' | grep -vc 'status="successful"' || true)
log "moor: $(python3 -c 'import sys; print(int(float(sys.argv[2] or 0) - float(sys.argv[1] or 0)))' "${before:-0}" "${after:-0}") successful OCSP answers under load; other OCSP outcomes counted: ${other:-0} series"
stop_group "$MOOR_PID"

# ------------------------------------------------------------------ table ----
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
python3 - "$RUNS_TSV" "$DURATION" "$RUNS" "$(nproc) cores, ${cpu:-unknown CPU}" "$REV" "${CONCS[*]}" "$NCERTS" \
  "$(openssl version | awk '{print $2}')" <<'EOF' | tee "$OUT/results.md"
import csv, statistics, sys
tsv, dur, runs, machine, rev, concs, ncerts, osslver = sys.argv[1:]
rows = {}
for r in csv.DictReader(open(tsv), delimiter="\t"):
    rows.setdefault((r["impl"], r["concurrency"]), []).append(r["req_per_s"])
def med(impl, conc):
    v = rows.get((impl, conc), [])
    ok = [float(x) for x in v if x != "ERR"]
    if not v or len(ok) != len(v):
        return None, "FAILED" if v else "—", ""
    m = statistics.median(ok)
    return m, f"{m:,.0f}", f"{min(ok):,.0f}–{max(ok):,.0f}"
print(f"\n### OCSP GET, cached responses ({runs} runs x {dur} s per point, median)\n")
print("| connections | moor req/s (h2load) | min–max | moor req/s (wrk) | moor HTTP/2 h2c req/s | min–max | openssl ocsp req/s | min–max | moor/openssl | moor h2c/openssl |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for c in concs.split():
    mh, mhs, mhr = med("moor", c)
    _, mws, _ = med("moor-wrk", c)
    m2, m2s, m2r = med("moor-h2c", c)
    o, os_, orr = med("openssl", c)
    ratio = f"{mh / o:.1f}x" if mh and o else "—"
    ratio2 = f"{m2 / o:.1f}x" if m2 and o else "—"
    print(f"| {c} | {mhs} | {mhr} | {mws} | {m2s} | {m2r} | {os_} | {orr} | {ratio} | {ratio2} |")
print(f"\nMachine: {machine}; load generator on the same cores (c=1: 1 thread, else 2). moor {rev}; "
      f"OpenSSL {osslver}. {ncerts} certificates (every 10th revoked), GET requests without nonce, "
      "round robin; both responders sign with a delegated P-256 responder certificate issued by the "
      "same CA and include it. Ratio = moor (h2load) / openssl (h2load). h2c: HTTP/2 without TLS, "
      f"{__import__('os').environ.get('BENCH_H2_STREAMS', '100')} streams per connection (openssl ocsp "
      "speaks only HTTP/1.0, one request per connection).")
EOF
log "raw runs: $RUNS_TSV; outputs and logs in $OUT"
((FAILED == 0)) || die "some points failed (see messages above); the table marks them FAILED"
