#!/usr/bin/env bash
# Backup and restore of a large data directory: starts gridcased on a fresh
# one, loads it with gridcase-bench (streams) until its partitions hold
# RECORDS records, then times, on the same disk and in the same run:
#   * a plain copy of the data directory with cp -r and sync (the baseline:
#     what the disk and page cache give),
#   * a first (full) backup,
#   * a second backup after 30 s more load (incremental),
#   * the restore of the second set, chains verified, with --rebuild.
#
#   deploy/backup-bench.sh                  # 10,000,000 records
#   GRIDCASE_BACKUP_BENCH_RECORDS=2000000 deploy/backup-bench.sh
#
# GRIDCASE_BENCH_DIR keeps everything somewhere else than a temporary
# directory (it must be on the disk you want to measure; it needs about
# four times the data directory: ~8 GB for 10M records).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${GRIDCASE_BUILD_DIR:-$root/build}"
records_wanted="${GRIDCASE_BACKUP_BENCH_RECORDS:-10000000}"
work="${GRIDCASE_BENCH_DIR:-$(mktemp -d /tmp/gridcase-backup-bench.XXXXXX)}"
mkdir -p "$work"
"$root/deploy/dev.sh" build

port_file="$work/port"
"$build_dir/services/server/gridcased" --development --data-dir "$work/data" \
  --listen 127.0.0.1:0 --port-file "$port_file" --partitions 4 --no-huge-pages \
  --workflows "$root/deploy/workflows" >"$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$port_file" ] && break; sleep 0.1; done
address="127.0.0.1:$(cat "$port_file")"
cli=("$build_dir/services/cli/gridcase" --server "$address")
bench=("$build_dir/services/bench/gridcase-bench" --server "$address" --mode stream --warmup 0
  --no-baselines)

records() {
  "${cli[@]}" stats | python3 -c 'import json, sys
print(sum(int(p.get("records", 0)) for p in json.load(sys.stdin)["partitions"]))'
}
seconds() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$@"; }

while :; do
  "${bench[@]}" --duration 60 >/dev/null 2>>"$work/bench.log"
  n="$(records)"
  echo "loaded: $n records" >&2
  [ "$n" -ge "$records_wanted" ] && break
done
echo "data directory: $(du -sh "$work/data" | cut -f1)"

start=$(date +%s.%N)
"${cli[@]}" admin backup --to "$work/backups" >"$work/backup1.json" 2>"$work/backup1.log"
echo "full backup: $(seconds "$start" "$(date +%s.%N)") s; $(tail -1 "$work/backup1.log")"
"${bench[@]}" --duration 30 >/dev/null 2>>"$work/bench.log"
start=$(date +%s.%N)
"${cli[@]}" admin backup --to "$work/backups" >"$work/backup2.json" 2>"$work/backup2.log"
echo "incremental backup: $(seconds "$start" "$(date +%s.%N)") s; $(tail -1 "$work/backup2.log")"
kill -TERM "$server"
wait "$server" || true

start=$(date +%s.%N)
cp -r "$work/data" "$work/copy" && sync
echo "baseline cp -r + sync of the data directory: $(seconds "$start" "$(date +%s.%N)") s"
rm -rf "$work/copy"

start=$(date +%s.%N)
"$build_dir/services/cli/gridcase" admin restore --from "$work/backups" --to "$work/restored" \
  --master-key "$work/data/keys/master.key" --rebuild >"$work/restore.json" 2>"$work/restore.log"
echo "restore with --rebuild: $(seconds "$start" "$(date +%s.%N)") s"
cat "$work/restore.json"
echo "kept in $work (remove it when done)"
