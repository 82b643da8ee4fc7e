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
# Arguments are passed to gridcase-bench (see gridcase-bench --help).
# GRIDCASE_BENCH_DIR keeps the data directory somewhere else than a
# temporary one (it must be on the disk you want to measure).
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

"$bin/server/gridcased" --development --listen 127.0.0.1:0 --data-dir "$work/data" \
  --workflows "$root/deploy/workflows" --port-file "$work/port" --log-level warn &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { echo "gridcased did not start" >&2; exit 1; }
address="127.0.0.1:$(cat "$work/port")"

"$bin/bench/gridcase-bench" directory --out "$work/wuhan-directory.jsonl"
"$bin/cli/gridcase" --server "$address" directory import "$work/wuhan-directory.jsonl" \
  --actor wuhan-day >/dev/null

# A run with failed submissions exits 1 (its results say which); the
# timeline is still timed, and the script exits with the run's status.
status=0
"$bin/bench/gridcase-bench" --server "$address" --raw-dir "$work" "$@" || status=$?
"$bin/bench/gridcase-bench" timeline --server "$address"
echo "data directory: $work/data"
exit "$status"
