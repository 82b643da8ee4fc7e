#!/usr/bin/env bash
# A city-scale day on one machine: builds, starts gridcased on a fresh data
# directory, imports the directory of 13,001 grids (13 districts, 143
# streets, 1,001 communities; a worker and a paired cadre per grid), then
# drives it with gridcase-bench (a Wuhan day's mix of screening checks,
# fever readings, help requests and contact attempts) beside its echo and
# raw RocksDB baselines, and times a 1,000-record timeline.
#
#   deploy/wuhan-day.sh                       # defaults: both modes, 20 s each
#   deploy/wuhan-day.sh --mode stream --duration 60 --residents-per-grid 10
#
#   GRIDCASE_BENCH_SECURE=1 deploy/wuhan-day.sh   # over mutual TLS, as a production site runs
#
# Arguments are passed to gridcase-bench (see gridcase-bench --help). With
# GRIDCASE_BENCH_SECURE=1 the server is not a development server: it
# serves mutual TLS with certificates made here (openssl), authorizes
# every call against a principals file, and records every read; the load
# comes from an application acting for the grid workers of the whole city
# (gridcase:app:wuhan-feed), the directory from an operator.
# GRIDCASE_BENCH_DIR keeps the data directory somewhere else than a
# temporary one (it must be on the disk you want to measure); GRIDCASED
# runs another gridcased binary (an earlier build, for a comparison).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${GRIDCASE_BUILD_DIR:-$root/build}"
work="${GRIDCASE_BENCH_DIR:-$(mktemp -d /tmp/gridcase-wuhan-day.XXXXXX)}"
mkdir -p "$work"

"$root/deploy/dev.sh" build
bin="$build_dir/services"

# The server puts its memtables on reserved huge pages when there are free
# ones (README, "Running it for real"), and the figures depend on it.
echo "huge pages free for the memtables: $(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo 2>/dev/null || echo 0) (sysctl vm.nr_hugepages)"

# Certificates for a secure run: a CA, the server's (127.0.0.1) and one per
# caller, named by a URI SAN as docs/security.md says.
certify() {  # NAME SAN
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
    -keyout "$work/$1.key" -out "$work/$1.csr" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$2" >"$work/$1.ext"
  openssl x509 -req -in "$work/$1.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
    -CAcreateserial -days 2 -extfile "$work/$1.ext" -out "$work/$1.pem" 2>/dev/null
  chmod 600 "$work/$1.key"
}
server_flags=(--development)
feed=()
operator=()
if [ "${GRIDCASE_BENCH_SECURE:-0}" = 1 ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=wuhan-day CA" -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
  certify server IP:127.0.0.1
  certify feed URI:gridcase:app:wuhan-feed
  certify ops URI:gridcase:person:ops
  cat >"$work/principals.json" <<'JSON'
{"applications": [{"id": "wuhan-feed", "units": ["*"], "acts_for_people": true,
                   "submits_per_second": 100000}],
 "operators": ["ops"]}
JSON
  server_flags=(--tls-cert "$work/server.pem" --tls-key "$work/server.key"
    --tls-client-ca "$work/ca.pem" --principals "$work/principals.json")
  feed=(--ca "$work/ca.pem" --cert "$work/feed.pem" --key "$work/feed.key")
  operator=(--ca "$work/ca.pem" --cert "$work/ops.pem" --key "$work/ops.key")
fi

"${GRIDCASED:-$bin/server/gridcased}" "${server_flags[@]}" --listen 127.0.0.1:0 --data-dir "$work/data" \
  --workflows "$root/deploy/workflows" --port-file "$work/port" --log-level warn &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { echo "gridcased did not start" >&2; exit 1; }
address="127.0.0.1:$(cat "$work/port")"

"$bin/bench/gridcase-bench" directory --out "$work/wuhan-directory.jsonl"
if [ "${GRIDCASE_BENCH_SECURE:-0}" = 1 ]; then importer=ops; else importer=wuhan-day; fi
"$bin/cli/gridcase" --server "$address" "${operator[@]}" directory import \
  "$work/wuhan-directory.jsonl" --actor "$importer" >/dev/null

# A run with failed submissions exits 1 (its results say which); the
# timeline is still timed, and the script exits with the run's status.
status=0
stats=()
[ "${GRIDCASE_BENCH_SECURE:-0}" = 1 ] && stats=(--stats-cert "$work/ops.pem" --stats-key "$work/ops.key")
"$bin/bench/gridcase-bench" --server "$address" "${feed[@]}" "${stats[@]}" --raw-dir "$work" "$@" ||
  status=$?
"$bin/bench/gridcase-bench" --server "$address" "${feed[@]}" timeline
echo "data directory: $work/data"
exit "$status"
