#!/usr/bin/env bash
# gridcase developer entry point, for a fresh Debian 12 machine or a used one.
#
#   deploy/dev.sh serve   install what is missing, build, start gridcased
#   deploy/dev.sh test    install what is missing, then in stages, each timed:
#                           plain    build (g++) and run every test
#                           address  build under ASan+UBSan (clang) with the
#                                    fuzz targets, run every test and a 20 s
#                                    smoke run of each fuzz target
#                           thread   build under TSan (clang), run the suites
#                                    that race threads against each other
#                         a stage that fails does not stop the next; the
#                         command fails if any did
#   deploy/dev.sh fuzz    the address build, then only the fuzz smoke runs
#   deploy/dev.sh build   install what is missing, build (plain)
#   deploy/dev.sh setup   install what is missing
#
# Environment: GRIDCASE_LISTEN (127.0.0.1:7070), GRIDCASE_DATA (./data),
# GRIDCASE_BUILD_DIR (./build; the sanitizer builds beside it, with -asan
# and -tsan), GRIDCASE_JOBS (nproc), GRIDCASE_TEST_STAGES (default "plain
# address thread"; e.g. "plain" alone).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${GRIDCASE_BUILD_DIR:-$root/build}"
jobs="${GRIDCASE_JOBS:-$(nproc)}"

# Debian 12 packages the build, the tests and the tools need.
packages=(
  g++ cmake ninja-build pkg-config ccache mold python3 clang clang-format
  clang-14 libclang-rt-14-dev
  librocksdb-dev libgrpc++-dev libgrpc-dev protobuf-compiler-grpc
  libprotobuf-dev protobuf-compiler libabsl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  librdkafka-dev libcli11-dev libspdlog-dev nlohmann-json3-dev libssl-dev libjemalloc-dev
  prometheus-cpp-dev libcpp-httplib-dev prometheus python3-yaml
  systemd openssl libfaketime
)
# The independent client test (tests/node) needs node and npm; a machine
# that has them from elsewhere (a newer node that bundles npm) keeps them.
node_packages=(nodejs npm)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

setup() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
      || missing+=("$p")
  done
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    missing+=("${node_packages[@]}")
  fi
  if [ ${#missing[@]} -eq 0 ]; then
    log "all ${#packages[@]} packages present, and node and npm"
    return
  fi
  log "installing ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
}

build() {
  setup
  log "configuring in $build_dir"
  cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  log "building with $jobs jobs"
  cmake --build "$build_dir" -j "$jobs"
}

serve() {
  build
  local listen="${GRIDCASE_LISTEN:-127.0.0.1:7070}"
  local data="${GRIDCASE_DATA:-$root/data}"
  log "starting gridcased on $listen (data in $data); Ctrl-C stops it cleanly"
  log "try: $build_dir/services/cli/gridcase --server $listen health"
  exec "$build_dir/services/server/gridcased" --development --listen "$listen" \
    --data-dir "$data" --workflows "$root/deploy/workflows"
}

configure_sanitized() {  # DIR KIND [cmake args...]
  local dir="$1" kind="$2"
  shift 2
  # -O1 and line tables only: what the sanitizers' reports need, and a
  # much quicker build than RelWithDebInfo's -O2 -g. Assertions stay on.
  cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 \
    -DCMAKE_BUILD_TYPE=Sanitize -DCMAKE_CXX_FLAGS_SANITIZE="-O1 -gline-tables-only" \
    -DGRIDCASE_SANITIZE="$kind" "$@" >/dev/null
}

address_build() {
  log "configuring ASan+UBSan with the fuzz targets in $build_dir-asan"
  configure_sanitized "$build_dir-asan" address -DGRIDCASE_FUZZ=ON
  log "building with $jobs jobs"
  cmake --build "$build_dir-asan" -j "$jobs"
}

thread_build() {
  log "configuring TSan in $build_dir-tsan"
  configure_sanitized "$build_dir-tsan" thread
  log "building with $jobs jobs"
  cmake --build "$build_dir-tsan" -j "$jobs"
}

plain_stage() {
  build
  log "running the test suite (soak tests excluded: ctest -L soak runs them)"
  ctest --test-dir "$build_dir" --output-on-failure -LE soak -j "$jobs"
}

address_stage() {
  address_build
  log "running the test suite and the fuzz smoke runs under ASan+UBSan"
  ctest --test-dir "$build_dir-asan" --output-on-failure -LE soak -j "$jobs"
}

thread_stage() {
  thread_build
  log "running the threaded suites under TSan"
  ctest --test-dir "$build_dir-tsan" --output-on-failure -LE soak -j "$jobs"
}

run_tests() {
  setup
  local stages="${GRIDCASE_TEST_STAGES:-plain address thread}"
  local summary=() failed=0 stage start rc
  for stage in $stages; do
    case "$stage" in
      plain | address | thread) ;;
      *) echo "unknown stage '$stage' (plain, address, thread)" >&2; exit 2 ;;
    esac
  done
  for stage in $stages; do
    log "stage $stage"
    start=$SECONDS
    rc=0
    # A process of its own, so that errexit stops the stage at its first
    # failure (it would not inside a function called before `||`).
    "$root/deploy/dev.sh" stage "$stage" || rc=$?
    summary+=("$(printf '%-8s %-6s %4d:%02d' "$stage" "$([ $rc -eq 0 ] && echo ok || echo FAILED)" \
      $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60)))")
    [ $rc -eq 0 ] || failed=1
  done
  log "stages (minutes:seconds)"
  printf '  %s\n' "${summary[@]}" >&2
  return $failed
}

# The address build, then each fuzz target for 20 s from its seeds
# (tests/fuzz/run.sh --build-dir BUILD-asan runs them longer).
fuzz() {
  setup
  address_build
  log "running each fuzz target for 20 s (ctest -L fuzz)"
  ctest --test-dir "$build_dir-asan" --output-on-failure -L fuzz -j "$jobs"
}

case "${1:-}" in
  setup) setup ;;
  build) build ;;
  serve) serve ;;
  test) run_tests ;;
  fuzz) fuzz ;;
  stage) "${2:?stage}_stage" ;;  # one stage of test, without setup
  *) echo "usage: $0 setup|build|serve|test|fuzz" >&2; exit 2 ;;
esac
