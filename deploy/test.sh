#!/usr/bin/env bash
# The README's second command: installs what is missing, builds, and runs every test —
# the Criterion unit tests and the end-to-end tests against the real binary, first in a normal
# build and then in an AddressSanitizer + UndefinedBehaviorSanitizer build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/deploy/deps.sh" --test
jobs=$(nproc)
# The npm packages the interoperability tests drive (pinned by their package-lock.json).
for d in tests/e2e/js tests/e2e/interop tests/e2e/mcp tests/e2e/browser; do
  [ -f "$root/$d/package-lock.json" ] && command -v npm >/dev/null &&
    npm ci --prefix "$root/$d" --no-audit --no-fund --loglevel=error
done
for kind in debug asan; do
  dir="$root/build/$kind"
  flags=(-DCMAKE_BUILD_TYPE=Debug)
  [ "$kind" = asan ] && flags+=(-DWATTLE_SANITIZE=ON)
  echo "== $kind: build" >&2
  cmake -S "$root" -B "$dir" "${flags[@]}" >/dev/null
  cmake --build "$dir" -j"$jobs" >/dev/null
  echo "== $kind: unit tests" >&2
  (cd "$dir" && ctest --output-on-failure -j"$jobs")
  echo "== $kind: end-to-end tests" >&2
  WATTLE_BIN="$dir/wattle" WATTLE_SANITIZED=$([ "$kind" = asan ] && echo 1 || echo 0) \
    python3 -m unittest discover -s "$root/tests/e2e" -p 'test_*.py' -v
done
echo "== benchmark smoke run (every scenario must answer 2xx; speed is not checked)" >&2
bash "$root/tests/bench/run.sh" --quick
echo "== all tests passed" >&2
