#!/usr/bin/env bash
# CRL build speed: Mooring's encoder (moor_core::crl, encode + ECDSA P-256 sign) vs
# `openssl ca -gencrl`, on the SAME revoked set and the SAME CA key. See docs/benchmarks.md.
#
#   bench/crl.sh
#
# Environment (defaults in brackets):
#   CRL_BENCH_SIZES   revoked-set sizes [100000 1000000]
#   CRL_BENCH_RUNS    timed runs per size and side; the table shows medians [3]
#   BENCH_OUT         output directory [target/bench/crl-<timestamp>]
#
# For each size the script writes an openssl index.txt with N `R` lines (random 128-bit
# serials, revocation dates over the last 90 days, one in six without a reason, the others
# keyCompromise..cessationOfOperation). Mooring's bench (`cargo bench -p moor-core --bench
# crl_encode`) reads the same file. Both CRLs are then checked with `openssl crl -CAfile`
# (signature) and their serial lists compared.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case "${1:-}" in
  -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
  "") ;;
  *) echo "usage: bench/crl.sh (configure with environment variables, see --help)" >&2; exit 2 ;;
esac
read -r -a SIZES <<<"${CRL_BENCH_SIZES:-100000 1000000}"
for n in "${SIZES[@]}"; do
  [[ $n =~ ^[0-9]+$ && $n -ge 1 && $n -le 10000000 ]] || { echo "CRL_BENCH_SIZES: bad value '$n'" >&2; exit 2; }
done
RUNS=${CRL_BENCH_RUNS:-3}
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 1 && $RUNS -le 50 ]] || { echo "CRL_BENCH_RUNS must be 1..50" >&2; exit 2; }
OUT=${BENCH_OUT:-$REPO/target/bench/crl-$(date +%Y%m%dT%H%M%S)}

log() { printf '[crl-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[crl-bench] ERROR: %s\n' "$*" >&2; exit 1; }
for t in openssl python3 cargo; do
  command -v "$t" >/dev/null 2>&1 || die "'$t' not found on PATH"
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
log "output in $OUT; $(openssl version)"

# ------------------------------------------------------------------ CA ----
CA=$OUT/ca
mkdir -p "$CA"
cat >"$CA/req.cnf" <<'EOF'
[req]
distinguished_name = dn
x509_extensions = v3_ca
prompt = no
[dn]
O = Mooring Bench
CN = Bench CRL CA
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
EOF
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$CA/ca.key" 2>/dev/null
openssl req -x509 -new -key "$CA/ca.key" -config "$CA/req.cnf" -days 3650 -out "$CA/ca.pem"

# -------------------------------------------------------------- indexes ----
INDEXES=()
for n in "${SIZES[@]}"; do
  d=$OUT/n$n
  mkdir -p "$d"
  python3 - "$n" "$d/index.txt" <<'EOF'
import secrets, sys, time
n, path = int(sys.argv[1]), sys.argv[2]
now = int(time.time())
reasons = ["", ",keyCompromise", ",CACompromise", ",affiliationChanged", ",superseded", ",cessationOfOperation"]
seen = set()
with open(path, "w") as f:
    i = 0
    while i < n:
        serial = secrets.token_hex(16).upper()
        if serial in seen or serial.startswith("00"):
            continue
        seen.add(serial)
        t = time.gmtime(now - 600 - secrets.randbelow(90 * 86400))
        rev = time.strftime("%y%m%d%H%M%SZ", t) + reasons[i % 6]
        f.write(f"R\t301231235959Z\t{rev}\t{serial}\tunknown\t/CN=revoked-{i}.example\n")
        i += 1
EOF
  echo "unique_subject = no" >"$d/index.txt.attr"
  echo 01 >"$d/crlnumber"
  cat >"$d/openssl.cnf" <<EOF
[ca]
default_ca = CA_default
[CA_default]
dir = $d
database = \$dir/index.txt
crlnumber = \$dir/crlnumber
certificate = $CA/ca.pem
private_key = $CA/ca.key
default_md = sha256
default_crl_days = 7
unique_subject = no
crl_extensions = crl_ext
[crl_ext]
authorityKeyIdentifier = keyid:always
EOF
  INDEXES+=("$d/index.txt")
  log "index for $n entries: $(wc -l <"$d/index.txt") lines"
done

# ------------------------------------------------------------- Mooring ----
log "cargo bench -p moor-core --bench crl_encode ($RUNS runs per size)"
(cd "$REPO" && CRL_BENCH_RUNS=$RUNS CRL_BENCH_CA=$CA CRL_BENCH_OUT=$OUT/moor \
  cargo bench -q -p moor-core --bench crl_encode -- "${INDEXES[@]}") | tee "$OUT/moor.md"

# ------------------------------------------------------------- OpenSSL ----
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
declare -A OSSL
for n in "${SIZES[@]}"; do
  d=$OUT/n$n
  : >"$d/openssl.times"
  openssl ca -gencrl -batch -config "$d/openssl.cnf" -out "$d/crl.pem" 2>"$d/openssl.log" \
    || die "openssl ca -gencrl failed (see $d/openssl.log)"   # warm-up, as on the Mooring side
  for ((r = 1; r <= RUNS; r++)); do
    t0=$(date +%s%N)
    openssl ca -gencrl -batch -config "$d/openssl.cnf" -out "$d/crl.pem" 2>"$d/openssl.log" \
      || die "openssl ca -gencrl failed (see $d/openssl.log)"
    t1=$(date +%s%N)
    echo "$(( (t1 - t0) / 1000 ))" | awk '{printf "%.4f\n", $1 / 1e6}' >>"$d/openssl.times"
  done
  OSSL[$n]=$(median <"$d/openssl.times")
  log "openssl ca -gencrl, $n entries: $(tr '\n' ' ' <"$d/openssl.times")s"
done

# ---------------------------------------------------------------- check ----
for n in "${SIZES[@]}"; do
  d=$OUT/n$n
  ours=$OUT/moor/$n.crl
  [[ -f $ours ]] || die "no Mooring CRL for $n entries"
  for crl in "DER:$ours" "PEM:$OUT/moor/$n.pem" "PEM:$d/crl.pem"; do
    openssl crl -inform "${crl%%:*}" -in "${crl#*:}" -CAfile "$CA/ca.pem" -noout 2>&1 | grep -q "verify OK" \
      || die "${crl#*:}: signature does not verify"
  done
  serials() { openssl crl -inform "$1" -in "$2" -noout -text | awk '/Serial Number:/ {print $3}' | sort; }
  cmp -s <(serials DER "$ours") <(serials PEM "$d/crl.pem") \
    || die "$n entries: the two CRLs do not list the same serials"
  cmp -s <(serials DER "$ours") <(cut -f4 "$d/index.txt" | sort) \
    || die "$n entries: Mooring's CRL does not list the index serials"
  log "$n entries: both CRLs verify and list the same $n serials"
done

# ---------------------------------------------------------------- table ----
{
  echo "| entries | mooring build+sign median s | mooring end-to-end median s | openssl ca -gencrl median s | openssl ÷ mooring build | openssl ÷ mooring end-to-end | CRL MB (mooring DER / openssl PEM) |"
  echo "|---:|---:|---:|---:|---:|---:|---:|"
  for n in "${SIZES[@]}"; do
    read -r build e2e bytes < <(awk -F'\t' -v n="$n" '$1 == n {print $2, $5, $6}' "$OUT/moor/results.tsv")
    o=${OSSL[$n]}
    pem_bytes=$(stat -c %s "$OUT/n$n/crl.pem")
    awk -v n="$n" -v b="$build" -v e="$e2e" -v o="$o" -v mb="$bytes" -v pb="$pem_bytes" 'BEGIN {
      printf "| %d | %.4f | %.4f | %.4f | %.1f | %.1f | %.1f / %.1f |\n", n, b, e, o, o / b, o / e, mb / 1e6, pb / 1e6 }'
  done
} | tee "$OUT/results.md"
log "done: $OUT/results.md"
