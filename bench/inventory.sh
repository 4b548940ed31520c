#!/usr/bin/env bash
# Inventory search at scale: BENCH_ROWS inventory rows bulk-loaded into SQLite and/or
# PostgreSQL, searched over HTTPS by `moor serve`, and the same SQL run on the raw database
# in the same run. See bench/README.md ("bench/inventory.sh") and docs/benchmarks.md.
#
#   bench/inventory.sh                       # both engines, one after the other
#   BENCH_DATABASE=sqlite bench/inventory.sh
#   BENCH_ROWS=200000 BENCH_REQUESTS=300 bench/inventory.sh   # a quick check
#
# Environment (defaults in brackets):
#   BENCH_ROWS         inventory rows to load [10000000]
#   BENCH_DATABASE     sqlite, postgres, or "sqlite postgres" [sqlite postgres]
#   BENCH_REQUESTS     HTTP requests per query kind and concurrency [1000]
#   BENCH_CONCURRENCY  client concurrencies [1 8]
#   BENCH_RAW_SAMPLES  queries per kind run on the raw database (the peer) [300]
#   BENCH_OUT          output directory [target/bench/inventory-<timestamp>]
#   MOOR_BIN           moor binary to use instead of building target/release/moor
#   BENCH_CLIENT       inventory_bench binary instead of building the example
#   BENCH_SCAN_TIMEOUT seconds allowed to each /findings request [120]
#   BENCH_KEEP         1: keep the databases (default: deleted after each engine)
# One engine at a time: its database is deleted before the next one is loaded.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case "${1:-}" in
  -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
  "") ;;
  *) echo "usage: bench/inventory.sh (settings via the environment; see --help)" >&2; exit 2 ;;
esac

ROWS=${BENCH_ROWS:-10000000}
[[ $ROWS =~ ^[0-9]+$ && $ROWS -ge 1000 && $ROWS -le 16000000 ]] \
  || { echo "BENCH_ROWS must be 1000..16000000 (locations are 10.x.y.z, one per row)" >&2; exit 2; }
REQUESTS=${BENCH_REQUESTS:-1000}
RAW_SAMPLES=${BENCH_RAW_SAMPLES:-300}
read -r -a CONCS <<<"${BENCH_CONCURRENCY:-1 8}"
read -r -a DATABASES <<<"${BENCH_DATABASE:-sqlite postgres}"
for db in "${DATABASES[@]}"; do
  [[ $db == sqlite || $db == postgres ]] || { echo "BENCH_DATABASE: '$db' is neither sqlite nor postgres" >&2; exit 2; }
done
OUT=${BENCH_OUT:-$REPO/target/bench/inventory-$(date +%Y%m%dT%H%M%S)}
PASSPHRASE=bench-only-passphrase-not-secret
KINDS=san,label-app,label-env,label-env-deep,expires-30d,expires-window,location,combined
CHUNK=1000000

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
log "output in $OUT ($ROWS rows)"

# ---------------------------------------------------------------- tools ----
if ! command -v sqlite3 >/dev/null 2>&1; then
  log "installing Debian sqlite3"
  apt-get install -y sqlite3 >/dev/null || die "apt-get install -y sqlite3 failed"
fi
for t in sqlite3 python3 curl timeout; do
  command -v "$t" >/dev/null 2>&1 || die "'$t' not found"
done
if [[ " ${DATABASES[*]} " == *" postgres "* ]]; then
  command -v psql >/dev/null 2>&1 || die "psql not found (apt-get install -y postgresql)"
fi

TARGET=${CARGO_TARGET_DIR:-$REPO/target}
cargo_args=()
[[ -n ${MOOR_BIN:-} ]] || cargo_args+=(--bin moor)
[[ -n ${BENCH_CLIENT:-} ]] || cargo_args+=(--example inventory_bench)
if ((${#cargo_args[@]})); then
  log "cargo build --release -p moor ${cargo_args[*]}"
  (cd "$REPO" && cargo build --release -p moor "${cargo_args[@]}") >>"$OUT/build.log" 2>&1 \
    || { tail -30 "$OUT/build.log" >&2; die "cargo build failed (log: $OUT/build.log)"; }
fi
MOOR=${MOOR_BIN:-$TARGET/release/moor}
CLIENT=${BENCH_CLIENT:-$TARGET/release/examples/inventory_bench}
[[ -x $MOOR ]] || die "moor binary not found: $MOOR"
[[ -x $CLIENT ]] || die "client not found: $CLIENT"
# Snapshots: a rebuild of target/ during the run (a changed migration) must not give
# `serve` another binary than the one that made the home.
cp "$MOOR" "$OUT/moor" && MOOR=$OUT/moor
cp "$CLIENT" "$OUT/inventory_bench" && CLIENT=$OUT/inventory_bench

# ------------------------------------------------------------- cleanup ----
SRV_PID=""
PG_DIR=""
PG_URL=""
cleanup() {
  if [[ -n $SRV_PID ]]; then kill "$SRV_PID" 2>/dev/null || true; wait "$SRV_PID" 2>/dev/null || true; fi
  if [[ -n $PG_DIR && ${BENCH_KEEP:-0} != 1 ]]; then bash "$REPO/scripts/postgres" stop "$PG_DIR" || true; fi
  rm -f "$OUT/moor" "$OUT/inventory_bench"   # the binary snapshots (140 MB)
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

NOW=$(date +%s)
DAY=86400

# ------------------------------------------------------------ the rows ----
# Row n (1..ROWS) gets id BASE+n (BASE: the largest id before the load; `moor init` already
# put its own TLS certificate in the inventory). Everything is derived from n, so the client
# can ask for a random row: SAN host<n>.bench.example, location 10.<n>>16>.<n>>8>.<n>:443.
# Hex columns: 8 scrambled digits (n * odd constant mod 2^32: a bijection) then n, so
# distinct, and inserted in random index order like real hashes. not_after: uniform over
# NOW ± 400 days (n * K mod 800 days). key_algorithm: rsa-1024 1%, rsa-2048 39%, ecdsa-p256
# 60%. env: prod/staging/dev by n mod 3; app: app<n mod 1000>. 50 issuer DNs.
# $1 = dialect (sqlite|postgres), $2 = BASE, $3..$4 = the n range.
rows_sql() {
  local d=$1 base=$2 a=$3 b=$4 hex8 hex56 hex8b series
  if [[ $d == sqlite ]]; then
    hex() { echo "printf('%08x%0${2}x', ($1) % 4294967296, n)"; }
    series="SELECT value AS n FROM generate_series($a, $b)"
  else
    hex() { echo "(lpad(to_hex(($1) % 4294967296), 8, '0') || lpad(to_hex(n), $2, '0'))"; }
    series="SELECT g::bigint AS n FROM generate_series($a, $b) AS g"
  fi
  hex8=$(hex "n * 2654435761" 56)
  hex56=$(hex "n * 3266489917" 56)
  hex8b=$(hex "n * 2246822519" 8)
  cat <<SQL
INSERT INTO inventory (id, fingerprint, kind, source, subject, issuer, issuer_id, serial_hex, sans,
                       key_algorithm, signature_algorithm, spki_sha256, not_before, not_after,
                       chain_position, self_signed, labels, first_seen, last_seen, created_at)
SELECT $base + n, $hex8, 'x509', 'discovered',
       'CN=host' || n || '.bench.example',
       'CN=Bench Issuing CA ' || (n % 50) || ',O=Bench Corp,C=US', NULL,
       $hex8b,
       '["dns:host' || n || '.bench.example","dns:www.host' || n || '.bench.example"]',
       CASE WHEN n % 100 = 0 THEN 'rsa-1024' WHEN n % 100 < 40 THEN 'rsa-2048' ELSE 'ecdsa-p256' END,
       CASE WHEN n % 100 < 40 THEN 'sha256WithRSAEncryption' ELSE 'ecdsa-with-SHA256' END,
       $hex56,
       na - 90 * $DAY, na, 'leaf', 0,
       '{"app":"app' || (n % 1000) || '","env":"' ||
         (CASE n % 3 WHEN 0 THEN 'prod' WHEN 1 THEN 'staging' ELSE 'dev' END) || '"}',
       $NOW - $DAY, $NOW - 3600, $NOW - $DAY
FROM (SELECT n, $NOW - 400 * $DAY + (n * 2654435761) % (800 * $DAY) AS na FROM ($series) s) t;
INSERT INTO inventory_labels (name, value, inventory_id)
SELECT 'env', CASE n % 3 WHEN 0 THEN 'prod' WHEN 1 THEN 'staging' ELSE 'dev' END, $base + n FROM ($series) s
UNION ALL
SELECT 'app', 'app' || (n % 1000), $base + n FROM ($series) s2;
INSERT INTO inventory_locations (inventory_id, kind, host, endpoint, sni, first_seen, last_seen, seen_mark)
SELECT $base + n, 'tls', ip, ip || ':443', 'host' || n || '.bench.example', $NOW - $DAY, $NOW - 3600, 1
FROM (SELECT n, '10.' || ((n >> 16) & 255) || '.' || ((n >> 8) & 255) || '.' || (n & 255) AS ip
      FROM ($series) s) t;
SQL
}

TABLES="'inventory','inventory_sans','inventory_labels','inventory_locations'"

# Load into SQLite: the migration's secondary indexes are read from sqlite_master, dropped,
# and recreated after the rows (same definitions); the SAN trigger fills inventory_sans.
load_sqlite() { # load_sqlite DBFILE
  local db=$1 base a b
  base=$(sqlite3 "$db" "SELECT COALESCE(MAX(id), 0) FROM inventory")
  echo "$base" >"$OUT/sqlite.base"
  sqlite3 "$db" "SELECT sql || ';' FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL
                 AND tbl_name IN ($TABLES)" >"$OUT/sqlite.indexes.sql"
  sqlite3 "$db" "SELECT 'DROP INDEX ' || name || ';' FROM sqlite_master WHERE type = 'index'
                 AND sql IS NOT NULL AND tbl_name IN ($TABLES)" >"$OUT/sqlite.drop.sql"
  { echo "PRAGMA journal_mode = DELETE;"; cat "$OUT/sqlite.drop.sql"; } | sqlite3 "$db" >/dev/null
  for ((a = 1; a <= ROWS; a += CHUNK)); do
    b=$((a + CHUNK - 1)); ((b <= ROWS)) || b=$ROWS
    log "sqlite: rows $a..$b"
    { printf 'PRAGMA journal_mode = OFF;\nPRAGMA synchronous = OFF;\nPRAGMA cache_size = -4000000;\nBEGIN;\n'
      rows_sql sqlite "$base" "$a" "$b"; echo "COMMIT;"; } | sqlite3 -bail "$db" >/dev/null
  done
  log "sqlite: indexes"
  { printf 'PRAGMA journal_mode = OFF;\nPRAGMA synchronous = OFF;\nPRAGMA cache_size = -4000000;\n'
    cat "$OUT/sqlite.indexes.sql"
    echo "ANALYZE; PRAGMA optimize; PRAGMA journal_mode = WAL;"; } | sqlite3 -bail "$db" >/dev/null
}

# Load into PostgreSQL: the same, with pg_indexes; the SAN trigger is disabled for the load
# and inventory_sans filled by one set-based INSERT with the trigger's expression.
load_postgres() { # load_postgres URL
  local url=$1 base a b
  base=$(psql "$url" -XAtq -c "SELECT COALESCE(MAX(id), 0) FROM inventory")
  echo "$base" >"$OUT/postgres.base"
  psql "$url" -XAtq -c "SELECT indexdef || ';' FROM pg_indexes WHERE tablename IN ($TABLES)
      AND indexname NOT IN (SELECT conname FROM pg_constraint)" >"$OUT/postgres.indexes.sql"
  psql "$url" -XAtq -c "SELECT 'DROP INDEX ' || indexname || ';' FROM pg_indexes WHERE tablename IN ($TABLES)
      AND indexname NOT IN (SELECT conname FROM pg_constraint)" | psql "$url" -Xq -v ON_ERROR_STOP=1 >/dev/null
  for ((a = 1; a <= ROWS; a += CHUNK)); do
    b=$((a + CHUNK - 1)); ((b <= ROWS)) || b=$ROWS
    log "postgres: rows $a..$b"
    { echo "SET synchronous_commit = off; SET maintenance_work_mem = '512MB'; BEGIN;"
      echo "ALTER TABLE inventory DISABLE TRIGGER inventory_index_sans;"
      rows_sql postgres "$base" "$a" "$b"
      cat <<SQL
INSERT INTO inventory_sans (value, inventory_id)
SELECT lower(CASE WHEN strpos(j.value, ':') > 0 AND i.kind = 'x509'
                  THEN substr(j.value, strpos(j.value, ':') + 1) ELSE j.value END), i.id
FROM inventory i, json_array_elements_text(i.sans::json) AS j(value)
WHERE i.id BETWEEN $base + $a AND $base + $b
ON CONFLICT DO NOTHING;
ALTER TABLE inventory ENABLE TRIGGER inventory_index_sans;
COMMIT;
SQL
    } | psql "$url" -Xq -v ON_ERROR_STOP=1 >/dev/null
  done
  log "postgres: indexes, VACUUM ANALYZE"
  { echo "SET maintenance_work_mem = '1GB';"; cat "$OUT/postgres.indexes.sql"; } \
    | psql "$url" -Xq -v ON_ERROR_STOP=1 >/dev/null
  psql "$url" -Xq -v ON_ERROR_STOP=1 -c "VACUUM (ANALYZE) inventory, inventory_sans, inventory_labels, inventory_locations" >/dev/null
}

# ------------------------------------------------------ the peer's SQL ----
# The SELECTs `search_sql` (crates/moor-store/src/inventory.rs) builds for the client's
# kinds, with the values inlined; limit 50 + 1. One line per query, random n like the client.
COLS="i.id, i.fingerprint, i.kind, i.source, i.subject, i.issuer, i.issuer_id, i.serial_hex, i.sans, \
i.key_algorithm, i.signature_algorithm, i.spki_sha256, i.not_before, i.not_after, i.chain_position, \
i.self_signed, i.revoked_at, i.superseded_by, i.owner, i.team, i.labels, i.first_seen, i.last_seen, i.created_at"
raw_queries() { # raw_queries KIND COUNT DEEP_AFTER_ID  -> SQL lines on stdout
  python3 - "$1" "$2" "$ROWS" "$COLS" "$(date +%s)" "$3" <<'PY'
import random, sys
kind, count, rows, cols, now, deep = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
rnd = random.Random(42)
for _ in range(count):
    n = rnd.randint(1, rows)
    if kind == "san":
        q = f"FROM inventory_sans d JOIN inventory i ON i.id = d.inventory_id WHERE d.value = 'host{n}.bench.example' ORDER BY d.inventory_id"
    elif kind == "label-app":
        q = f"FROM inventory_labels d JOIN inventory i ON i.id = d.inventory_id WHERE d.name = 'app' AND d.value = 'app{n % 1000}' ORDER BY d.inventory_id"
    elif kind == "label-env":
        q = "FROM inventory_labels d JOIN inventory i ON i.id = d.inventory_id WHERE d.name = 'env' AND d.value = 'prod' ORDER BY d.inventory_id"
    elif kind == "label-env-deep":
        q = f"FROM inventory_labels d JOIN inventory i ON i.id = d.inventory_id WHERE d.name = 'env' AND d.value = 'prod' AND d.inventory_id > {deep} ORDER BY d.inventory_id"
    elif kind == "expires-30d":
        q = f"FROM inventory i WHERE i.not_after < {now + 30*86400} ORDER BY i.not_after, i.id"
    elif kind == "expires-window":
        q = f"FROM inventory i WHERE i.not_after >= {now + 10*86400} AND i.not_after < {now + 40*86400} ORDER BY i.not_after, i.id"
    elif kind == "location":
        ip = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
        q = (f"FROM inventory i WHERE i.id IN (SELECT inventory_id FROM inventory_locations WHERE endpoint = '{ip}' "
             f"OR (endpoint >= '{ip}:' AND endpoint < '{ip};')) ORDER BY i.id")
    elif kind == "combined":
        q = "FROM inventory_labels d JOIN inventory i ON i.id = d.inventory_id WHERE d.name = 'env' AND d.value = 'prod' AND i.key_algorithm = 'rsa-1024' ORDER BY d.inventory_id"
    print(f"SELECT {cols} {q} LIMIT 51;")
PY
}

# Time each line of stdin on the raw database; prints one duration (ms) per query.
raw_time_sqlite() { # raw_time_sqlite DBFILE < queries
  python3 -c '
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1])
for q in sys.stdin:
    t = time.perf_counter(); rows = c.execute(q).fetchall(); e = time.perf_counter() - t
    print(f"{e * 1000:.3f}")
' "$1"
}
raw_time_postgres() { # raw_time_postgres URL < queries: psql \timing (client round trip included)
  { echo '\timing on'; echo '\o /dev/null'; cat; } | psql "$1" -Xq 2>&1 | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
}
stats() { # stats < durations (ms) -> "p50 p99 max n"
  sort -g | awk '{v[NR]=$1} END {
    if (NR == 0) { print "0 0 0 0"; exit }
    r50 = int(NR * 0.50 + 0.9999); r99 = int(NR * 0.99 + 0.9999);
    printf "%.2f %.2f %.2f %d\n", v[r50], v[r99], v[NR], NR }'
}

explain_plans() { # explain_plans DB TARGET: EXPLAIN of one query per kind into $OUT/DB.plans.txt
  local db=$1 target=$2 kind q deep
  deep=$(cat "$OUT/$db.deep_id" 2>/dev/null || echo 0)
  : >"$OUT/$db.plans.txt"
  for kind in ${KINDS//,/ }; do
    q=$(raw_queries "$kind" 1 "$deep")
    { echo "== $kind"; echo "$q"; } >>"$OUT/$db.plans.txt"
    if [[ $db == sqlite ]]; then
      sqlite3 "$target" "EXPLAIN QUERY PLAN $q" >>"$OUT/$db.plans.txt" 2>&1 || true
    else
      psql "$target" -XAtq -c "EXPLAIN (ANALYZE, BUFFERS) ${q%;}" >>"$OUT/$db.plans.txt" 2>&1 || true
    fi
  done
}

# The plans (not run) of the full scans: the overview's two queries and the two slowest
# finding kinds, as crates/moor-store/src/inventory.rs writes them.
explain_scans() { # explain_scans DB TARGET -> $OUT/DB.scan-plans.txt
  local db=$1 target=$2 now q name
  now=$(date +%s)
  : >"$OUT/$db.scan-plans.txt"
  while IFS='|' read -r name q; do
    { echo "== $name"; echo "$q"; } >>"$OUT/$db.scan-plans.txt"
    if [[ $db == sqlite ]]; then
      sqlite3 "$target" "EXPLAIN QUERY PLAN $q" >>"$OUT/$db.scan-plans.txt" 2>&1 || true
    else
      psql "$target" -XAtq -c "EXPLAIN $q" >>"$OUT/$db.scan-plans.txt" 2>&1 || true
    fi
  done <<SQL
counts|SELECT COUNT(*), SUM(CASE WHEN revoked_at IS NULL AND not_after < $now THEN 1 ELSE 0 END), SUM(CASE WHEN revoked_at IS NULL AND superseded_by IS NULL AND not_after >= $now AND not_after < $((now + 30 * DAY)) THEN 1 ELSE 0 END), SUM(CASE WHEN source = 'discovered' THEN 1 ELSE 0 END) FROM inventory
expiry-histogram|SELECT not_after / 86400 AS day, COUNT(*) AS n FROM inventory WHERE not_after >= $now AND not_after < $((now + 90 * DAY)) AND revoked_at IS NULL GROUP BY not_after / 86400 ORDER BY day
shared-key|SELECT i.id FROM inventory i WHERE i.kind = 'x509' AND i.chain_position = 'leaf' AND i.revoked_at IS NULL AND i.not_after >= $now AND i.spki_sha256 <> '' AND EXISTS (SELECT 1 FROM inventory o WHERE o.spki_sha256 = i.spki_sha256 AND o.id <> i.id AND o.kind = 'x509' AND o.chain_position = 'leaf' AND o.revoked_at IS NULL AND o.not_after >= $now AND (o.subject <> i.subject OR o.sans <> i.sans)) ORDER BY i.id LIMIT 500
unknown-issuer|SELECT i.id FROM inventory i WHERE i.kind = 'x509' AND i.issuer_id IS NULL AND i.self_signed = 0 AND i.chain_position = 'leaf' AND NOT EXISTS (SELECT 1 FROM inventory c WHERE c.subject = i.issuer AND c.chain_position <> 'leaf') AND NOT EXISTS (SELECT 1 FROM issuers s WHERE s.id = i.issuer) ORDER BY i.id LIMIT 500
SQL
}

# ------------------------------------------------------------- serving ----
start_server() { # start_server DB HOME -> SRV_PID, SRV_BASE
  local db=$1 home=$2 port deadline
  port=$(free_port)
  MOORING_CA_PASSPHRASE=$PASSPHRASE RUST_LOG=warn MOORING_LOG=warn \
    "$MOOR" --home "$home" serve --listen "127.0.0.1:$port" --http-listen "" >"$OUT/$db.serve.log" 2>&1 &
  SRV_PID=$!
  SRV_BASE="https://127.0.0.1:$port"
  deadline=$((SECONDS + 120))
  until curl -sf --max-time 5 --cacert "$home/roots.pem" -o /dev/null "$SRV_BASE/health"; do
    kill -0 "$SRV_PID" 2>/dev/null || die "$db: moor serve exited: $(tail -10 "$OUT/$db.serve.log")"
    ((SECONDS < deadline)) || die "$db: moor serve not healthy within 120 s"
    sleep 0.2
  done
}
stop_server() {
  kill "$SRV_PID" 2>/dev/null || true
  wait "$SRV_PID" 2>/dev/null || true
  SRV_PID=""
}

# Memory of the server every 0.2 s: "VmRSS VmHWM RssAnon RssFile" (kB) lines in $1 until the file $1.stop
# exists. `phase NAME` lines (written by the script) split the samples: search, then scans.
rss_sampler() {
  local out=$1 pid=$2
  while [[ ! -e $out.stop ]] && [[ -r /proc/$pid/status ]]; do
    awk '/^VmRSS/ {r=$2} /^VmHWM/ {h=$2} /^RssAnon/ {a=$2} /^RssFile/ {f=$2} END {print r, h, a, f}' "/proc/$pid/status" >>"$out" 2>/dev/null || true
    sleep 0.2
  done
}

timed_get() { # timed_get DB HOME PATH TIMEOUT -> "seconds http_code"
  curl -s --max-time "$4" --cacert "$2/roots.pem" -H "Authorization: Bearer $(cat "$2/admin.token")" \
    -o "$OUT/$1.last.json" -w '%{time_total} %{http_code}\n' "$SRV_BASE$3" || true
}

# -------------------------------------------------------------- engine ----
RESULTS="$OUT/results.tsv"
printf 'db\tkind\tconcurrency\trequests\terrors\tp50_ms\tp99_ms\tmax_ms\tmean_ms\titems_mean\treq_per_s\n' >"$RESULTS"

bench_engine() { # bench_engine DB
  local db=$1 home="$OUT/home-$1" target t0 t1 size c kind line deep
  rm -rf "$home"; mkdir -p "$home"
  if [[ $db == postgres ]]; then
    if [[ -z $PG_URL ]]; then
      eval "$(bash "$REPO/scripts/postgres" start)"
      PG_DIR=$MOORING_TEST_POSTGRES_DIR
      PG_URL=$MOORING_TEST_POSTGRES
    fi
    psql "$PG_URL" -Xq -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS inventory_bench" -c "CREATE DATABASE inventory_bench"
    target="${PG_URL%/*}/inventory_bench"
    printf 'database = "%s"\n' "$target" >"$home/mooring.toml"
  fi
  log "$db: moor init"
  MOORING_CA_PASSPHRASE=$PASSPHRASE timeout 300 "$MOOR" --home "$home" init >"$OUT/$db.init.log" 2>&1 \
    || die "$db: moor init failed: $(tail -5 "$OUT/$db.init.log")"
  MOORING_CA_PASSPHRASE=$PASSPHRASE timeout 300 "$MOOR" --home "$home" migrate >>"$OUT/$db.init.log" 2>&1 \
    || die "$db: moor migrate failed: $(tail -5 "$OUT/$db.init.log")"
  [[ $db == sqlite ]] && target="$home/mooring.db"
  [[ $db == sqlite && ! -f $target ]] && die "sqlite: no $target after moor init"

  log "$db: loading $ROWS rows"
  t0=$(date +%s.%N)
  "load_$db" "$target"
  t1=$(date +%s.%N)
  LOAD_S=$(echo "$t1 - $t0" | bc)
  if [[ $db == sqlite ]]; then
    size=$(du -cb "$target"* | tail -1 | cut -f1)
  else
    size=$(psql "$target" -XAtq -c "SELECT pg_database_size(current_database())")
  fi
  log "$db: loaded in ${LOAD_S}s, $size bytes; disk: $(df -h --output=avail /work | tail -1)"
  printf '%s\t%s\t%s\n' "$db" "$LOAD_S" "$size" >>"$OUT/load.tsv"

  start_server "$db" "$home"
  rm -f "$OUT/$db.rss" "$OUT/$db.rss.stop"
  rss_sampler "$OUT/$db.rss" "$SRV_PID" &
  local sampler=$!
  log "$db: server up (pid $SRV_PID); RSS $(awk '/^VmRSS/ {print $2, $3}' /proc/$SRV_PID/status)"

  echo "phase search" >>"$OUT/$db.rss"
  # Warm-up: every kind once over 100 requests (not in the table).
  "$CLIENT" --base "$SRV_BASE" --ca-bundle "$home/roots.pem" --token-file "$home/admin.token" \
    --rows "$ROWS" --requests 100 --concurrency 1 --kinds "$KINDS" --seed 7 >"$OUT/$db.warmup.txt" 2>&1 \
    || log "$db: warm-up had errors: $(tail -3 "$OUT/$db.warmup.txt")"
  for c in "${CONCS[@]}"; do
    log "$db: $REQUESTS requests per kind at concurrency $c"
    "$CLIENT" --base "$SRV_BASE" --ca-bundle "$home/roots.pem" --token-file "$home/admin.token" \
      --rows "$ROWS" --requests "$REQUESTS" --concurrency "$c" --kinds "$KINDS" --seed $((11 + c)) \
      >"$OUT/$db.c$c.txt" 2>"$OUT/$db.c$c.err" || log "$db: c=$c had errors: $(head -3 "$OUT/$db.c$c.err")"
    while read -r line; do
      # shellcheck disable=SC2001
      echo "$line" | sed 's/^RESULT //; s/[a-z_0-9]*=//g' \
        | awk -v db="$db" '{printf "%s", db; for (i = 1; i <= NF; i++) printf "\t%s", $i; print ""}' >>"$RESULTS"
    done < <(grep '^RESULT' "$OUT/$db.c$c.txt")
  done
  cat "$OUT/$db.c"*.txt >&2

  # The full scans: the overview (counts + expiry histogram) and each finding kind.
  # unknown-issuer last: when it times out, the server's query runs on until the server stops.
  log "$db: overview and findings"
  echo "phase scans" >>"$OUT/$db.rss"
  : >"$OUT/$db.scans.tsv"
  for _ in 1 2 3; do
    printf 'overview\t%s\n' "$(timed_get "$db" "$home" /api/v1/inventory/overview 600)" >>"$OUT/$db.scans.tsv"
  done
  cp "$OUT/$db.last.json" "$OUT/$db.overview.json" 2>/dev/null || true
  for kind in expiring expired-served revoked-served weak-key weak-signature shared-key \
              self-signed-leaf orphan key-file-readable unknown-issuer; do
    printf 'findings:%s\t%s\n' "$kind" "$(timed_get "$db" "$home" "/api/v1/findings?kind=$kind&limit=500" "${BENCH_SCAN_TIMEOUT:-120}")" >>"$OUT/$db.scans.tsv"
  done
  cat "$OUT/$db.scans.tsv" >&2
  touch "$OUT/$db.rss.stop"; wait "$sampler" 2>/dev/null || true
  # Per phase: the largest VmRSS, RssAnon and RssFile; VmHWM at the end of the run.
  awk '$1 == "phase" {p = $2; next} p == "search" && $1 > r {r = $1} p == "search" && $3 > a {a = $3}
       $1 > R {R = $1} $3 > A {A = $3} $4 > F {F = $4} $2 > h {h = $2}
       END {printf "%d\t%d\t%d\t%d\t%d\t%d\n", r, a, R, A, F, h}' "$OUT/$db.rss" >"$OUT/$db.rss.max"
  log "$db: kB during searches VmRSS/RssAnon $(cut -f1,2 "$OUT/$db.rss.max" | tr '\t' /), whole run VmRSS/RssAnon/RssFile $(cut -f3-5 "$OUT/$db.rss.max" | tr '\t' /), VmHWM $(cut -f6 "$OUT/$db.rss.max")"
  stop_server
  if [[ $db == postgres ]]; then
    # A finding query that timed out runs on in its backend until it next writes to the
    # closed socket: cancel it, or it takes a core from the peer's measurement.
    psql "$PG_URL" -XAtq -c "SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity
      WHERE datname = 'inventory_bench' AND pid <> pg_backend_pid()" >/dev/null || true
  fi

  # The peer: the same SELECTs on the raw database, server stopped.
  deep=$(psql_or_sqlite_deep "$db" "$target")
  echo "$deep" >"$OUT/$db.deep_id"
  log "$db: raw database, $RAW_SAMPLES queries per kind"
  : >"$OUT/$db.raw.tsv"
  for kind in ${KINDS//,/ }; do
    raw_queries "$kind" "$RAW_SAMPLES" "$deep" >"$OUT/$db.raw.$kind.sql"
    if [[ $db == sqlite ]]; then
      raw_time_sqlite "$target" <"$OUT/$db.raw.$kind.sql" >"$OUT/$db.raw.$kind.ms"
    else
      raw_time_postgres "$target" <"$OUT/$db.raw.$kind.sql" >"$OUT/$db.raw.$kind.ms"
    fi
    printf '%s\t%s\n' "$kind" "$(stats <"$OUT/$db.raw.$kind.ms" | tr ' ' '\t')" >>"$OUT/$db.raw.tsv"
    rm -f "$OUT/$db.raw.$kind.sql"
  done
  cat "$OUT/$db.raw.tsv" >&2
  explain_plans "$db" "$target"
  explain_scans "$db" "$target"

  if [[ ${BENCH_KEEP:-0} != 1 ]]; then
    log "$db: deleting the database"
    if [[ $db == sqlite ]]; then rm -f "$target" "$target-wal" "$target-shm"
    else psql "$PG_URL" -Xq -v ON_ERROR_STOP=1 -c "DROP DATABASE inventory_bench WITH (FORCE)"; fi
  fi
}

# The id after 10,000 prod rows (the deep page's cursor), as the client reaches it.
psql_or_sqlite_deep() {
  local q="SELECT inventory_id FROM inventory_labels WHERE name = 'env' AND value = 'prod'
           ORDER BY inventory_id LIMIT 1 OFFSET 9999"
  if [[ $1 == sqlite ]]; then sqlite3 "$2" "$q"; else psql "$2" -XAtq -c "$q"; fi
}

for db in "${DATABASES[@]}"; do
  bench_engine "$db"
done

# --------------------------------------------------------------- table ----
{
  echo "# Inventory search, $ROWS rows ($(date -u +%Y-%m-%d))"
  echo
  echo "| engine | load s | size bytes | searches: VmRSS max MiB | searches: RssAnon max MiB | whole run: VmRSS max MiB | RssAnon max | RssFile max | VmHWM |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  while IFS=$'\t' read -r db load size; do
    read -r -a m <"$OUT/$db.rss.max"
    printf '| %s | %.0f | %s' "$db" "$load" "$size"
    for v in "${m[@]}"; do printf ' | %.1f' "$(echo "$v / 1024" | bc -l)"; done
    echo " |"
  done <"$OUT/load.tsv"
  echo
  echo "| engine | kind | c | requests | errors | p50 ms | p99 ms | max ms | raw p50 ms | raw p99 ms | HTTP p50 / raw p50 |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  tail -n +2 "$RESULTS" | while IFS=$'\t' read -r db kind c n err p50 p99 max _mean _items _rps; do
    read -r rp50 rp99 _ < <(awk -F'\t' -v k="$kind" '$1 == k {print $2, $3}' "$OUT/$db.raw.tsv")
    ratio=$(echo "$p50 / ($rp50 + 0.0001)" | bc -l)
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.1f |\n' \
      "$db" "$kind" "$c" "$n" "$err" "$p50" "$p99" "$max" "$rp50" "$rp99" "$ratio"
  done
  echo
  echo "Full scans (seconds, HTTP status):"
  for db in "${DATABASES[@]}"; do
    echo
    echo "$db:"
    sed 's/^/    /' "$OUT/$db.scans.tsv"
  done
} >"$OUT/results.md"
cat "$OUT/results.md"
log "done: $OUT/results.md"
