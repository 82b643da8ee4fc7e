#!/usr/bin/env bash
# Runs the fuzz targets of a GRIDCASE_FUZZ build, each for a while, from a
# copy of its committed seeds (so what it finds stays out of the source
# tree), with its dictionary, and prints what each did. Fails if any target
# finds a crash, a leak, a timeout or a broken invariant; the input is kept
# in BUILD/fuzz-artifacts/.
#
#   tests/fuzz/run.sh [--seconds N] [--timeout T] [--build-dir BUILD]
#                     [--jobs J] [NAME...]
#
# NAME is a target without its _fuzz (expr, definition, ...); none: every
# target built. N defaults to 30 seconds a target, T (seconds one input may
# take before it counts as a hang) to 30, BUILD to build-asan at the top of
# the tree, J (targets run at once) to 1. On a loaded machine an hour's run
# wants a larger T: a wall-clock timeout there is the load, not a finding.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seconds=30
timeout=30
build="$root/build-asan"
jobs=1
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --timeout) timeout="$2"; shift 2 ;;
    --build-dir) build="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
  esac
done
bin_dir="$build/tests/fuzz"
if [ ${#names[@]} -eq 0 ]; then
  for bin in "$bin_dir"/*_fuzz; do
    [ -x "$bin" ] && names+=("$(basename "$bin" _fuzz)")
  done
fi
if [ ${#names[@]} -eq 0 ]; then
  echo "no fuzz targets in $bin_dir: configure with -DGRIDCASE_FUZZ=ON and build 'fuzzers'" >&2
  exit 2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/gridcase-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# One target: its log in $work/NAME.log, its status in $work/NAME.rc.
run_one() {
  local name="$1"
  local bin="$bin_dir/${name}_fuzz"
  local corpus="$work/corpus-$name"
  mkdir -p "$corpus"
  if [ ! -x "$bin" ]; then
    echo "no $bin" >"$work/$name.log"
    echo 2 >"$work/$name.rc"
    return
  fi
  [ -d "$here/corpus/$name" ] && cp -r "$here/corpus/$name/." "$corpus/"
  local dict=()
  [ -f "$here/$name.dict" ] && dict=("-dict=$here/$name.dict")
  local rc=0
  "$bin" "${dict[@]}" -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$name-" "$corpus" \
    >"$work/$name.log" 2>&1 || rc=$?
  echo "$rc" >"$work/$name.rc"
}

pids=()
for name in "${names[@]}"; do
  run_one "$name" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}"
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid"; done

failed=0
printf '%-15s %12s %9s %7s %7s %7s  %s\n' target execs exec/s cov ft corpus result
for name in "${names[@]}"; do
  log="$work/$name.log"
  rc="$(cat "$work/$name.rc")"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
  cov="$( (grep -o 'cov: [0-9]*' "$log" || true) | tail -1 | cut -d' ' -f2)"
  ft="$( (grep -o 'ft: [0-9]*' "$log" || true) | tail -1 | cut -d' ' -f2)"
  units="$( (grep -o 'corp: [0-9]*' "$log" || true) | tail -1 | cut -d' ' -f2)"
  result=ok
  if [ "$rc" != 0 ]; then
    result="FAILED (exit $rc)"
    failed=1
  fi
  printf '%-15s %12s %9s %7s %7s %7s  %s\n' "$name" "${execs:--}" "${rate:--}" "${cov:--}" \
    "${ft:--}" "${units:--}" "$result"
  if [ "$rc" != 0 ]; then
    echo "---- $name: the end of its log ($log) ----"
    tail -40 "$log"
    echo "---- inputs kept in $artifacts ----"
  fi
done
exit "$failed"
