#!/usr/bin/env bash
# tests/bench/ab.sh — before and after: alternating benchmark runs of two revisions of Wattle
# (docs/performance.md, "Measuring a change").
#
#   tests/bench/ab.sh REV_A REV_B [--rounds N] [-- run.sh options…]
#
# Builds a Release `wattle` for each git revision (a detached worktree per revision under
# build/bench/ab/, the same CMake flags as run.sh), builds the helpers from the working tree,
# then runs tests/bench/run.sh A, B, A, B, … (N rounds, default 2), each on a freshly seeded
# store, and prints one line per scenario and run: req/s, × trivial, p50, p99 and p99 × trivial
# (the ratio the tail target is stated in). On this shared
# 2-vCPU machine one run moves by 5–15% from the next, so a change is shown by alternating runs,
# not by one before and one after. The stores come from the working tree's bulk loader, so both
# revisions must read its store schema (schema 2: from commit b3a79c7 on).
#
# run.sh options default to: --scenarios code,client_credentials --tokens 1000000 --pool 20000
# --small-tokens 0 --repeat 3. Runs go under build/bench/ab/run-<round>-<A|B>/.
#
# Example (the restartable-ops change of the fourth session):
#   tests/bench/ab.sh feed4b4~1 feed4b4 -- --scenarios client_credentials
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
AB="$ROOT/build/bench/ab"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "ab.sh: $*" >&2; exit 2; }

ROUNDS=2
REVS=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --rounds) [ $# -ge 2 ] || die "--rounds needs a number"; ROUNDS="$2"; shift ;;
    --) shift; break ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) REVS+=("$1") ;;
  esac
  shift
done
[ "${#REVS[@]}" = 2 ] || die "give two git revisions, e.g. HEAD~1 HEAD (see --help)"
case "$ROUNDS" in ''|*[!0-9]*|0) die "--rounds must be a positive number" ;; esac
RUN_OPTS=("$@")
[ "${#RUN_OPTS[@]}" -gt 0 ] ||
  RUN_OPTS=(--scenarios code,client_credentials --tokens 1000000 --pool 20000 --small-tokens 0 --repeat 3)

mkdir -p "$AB"
jobs="$(nproc 2>/dev/null || echo 2)"
BINS=()
for rev in "${REVS[@]}"; do
  sha="$(git -C "$ROOT" rev-parse --verify --quiet "$rev^{commit}")" || die "$rev is not a commit here"
  short="${sha:0:12}"
  tree="$AB/src-$short"
  out="$AB/build-$short"
  if [ ! -x "$out/wattle" ]; then
    echo "building wattle at $rev ($short)" >&2
    [ -d "$tree" ] || git -C "$ROOT" worktree add --detach --quiet "$tree" "$sha"
    cmake -S "$tree" -B "$out" -DCMAKE_BUILD_TYPE=Release >"$out.cmake.log" 2>&1 ||
      { tail -20 "$out.cmake.log" >&2; die "cmake failed for $rev"; }
    cmake --build "$out" -j"$jobs" --target wattle >"$out.build.log" 2>&1 ||
      { tail -20 "$out.build.log" >&2; die "build failed for $rev (log: $out.build.log)"; }
    git -C "$ROOT" worktree remove --force "$tree"
  fi
  BINS+=("$out/wattle")
done

# The helpers (bulk loader, trivial server) from the working tree, built once.
"$HERE/run.sh" --quick --scenarios validation --run-dir "$AB/helpers" >/dev/null 2>&1 ||
  die "run.sh --quick failed while building the helpers (see $AB/helpers)"

printf '%-6s %-4s %-14s %-34s %10s %9s %9s %9s %9s\n' round side revision scenario req/s "× triv" "p50 ms" "p99 ms" "p99 ×"
for round in $(seq 1 "$ROUNDS"); do
  for side in A B; do
    i=0; [ "$side" = B ] && i=1
    dir="$AB/run-$round-$side"
    "$HERE/run.sh" --no-build --wattle "${BINS[$i]}" --run-dir "$dir" "${RUN_OPTS[@]}" >"$dir.log" 2>&1 ||
      die "run.sh failed for ${REVS[$i]} (log: $dir.log)"
    # results.md rows: | scenario | req/s | × trivial | p50 | × | p99 | × | …
    grep '^| ' "$dir/results.md" | grep -v -e '^| scenario' -e '^| trivial' |
      awk -F'|' -v r="$round" -v s="$side" -v rev="${REVS[$i]}" '{
        gsub(/^ +| +$/, "", $2); printf "%-6s %-4s %-14s %-34.34s %10s %9s %9s %9s %9s\n", r, s, rev, $2, $3, $4, $5, $7, $8 }'
  done
done
