#!/usr/bin/env bash
# gridcase developer entry point, for a fresh Debian 12 machine or a used one.
#
#   deploy/dev.sh serve   install what is missing, build, start gridcased
#   deploy/dev.sh test    install what is missing, build, run every test
#   deploy/dev.sh fuzz    install what is missing, build the fuzz targets
#                         (clang, sanitizers; GRIDCASE_FUZZ_BUILD_DIR, default
#                         ./build-fuzz) and run each for 20 s (ctest -L fuzz)
#   deploy/dev.sh build   install what is missing, build
#   deploy/dev.sh setup   install what is missing
#
# Environment: GRIDCASE_LISTEN (127.0.0.1:7070), GRIDCASE_DATA (./data),
# GRIDCASE_BUILD_DIR (./build), GRIDCASE_JOBS (nproc).
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

run_tests() {
  build
  log "running the test suite (soak tests excluded: ctest -L soak runs them)"
  ctest --test-dir "$build_dir" --output-on-failure -LE soak -j "$jobs"
}

# The fuzz targets (tests/fuzz) under clang with AddressSanitizer and
# UndefinedBehaviorSanitizer, the tests of what they found, and a short run
# of each from its seeds.
fuzz() {
  setup
  local fuzz_dir="${GRIDCASE_FUZZ_BUILD_DIR:-$root/build-fuzz}"
  log "configuring the fuzz targets in $fuzz_dir"
  cmake -S "$root" -B "$fuzz_dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGRIDCASE_FUZZ=ON >/dev/null
  log "building them with $jobs jobs"
  cmake --build "$fuzz_dir" -j "$jobs" --target fuzzers fuzz_regression_test
  log "running each for 20 s (ctest -L fuzz; tests/fuzz/run.sh runs them longer)"
  ctest --test-dir "$fuzz_dir" --output-on-failure -L 'fuzz|unit' -j "$jobs"
}

case "${1:-}" in
  setup) setup ;;
  build) build ;;
  serve) serve ;;
  test) run_tests ;;
  fuzz) fuzz ;;
  *) echo "usage: $0 setup|build|serve|test|fuzz" >&2; exit 2 ;;
esac
