#!/usr/bin/env bash
# tests/bench/peer/peer.sh — measures the peer, node oidc-provider 9.13 with in-memory storage
# (tests/bench/peer/server.mjs), next to the trivial h2o server, the way tests/bench/run.sh
# measures Wattle (docs/performance.md, "The peer, measured here: oidc-provider").
#
#   tests/bench/peer/peer.sh             3 × 5 s per scenario, wrk -t2 -c32 (about 4 minutes)
#
# What it does: installs the pinned oidc-provider (npm ci, from package-lock.json) if
# node_modules is missing, builds the trivial server (build/bench/tests/bench/
# wattle_bench_trivial) if it is missing, starts it (2 threads) on 127.0.0.1:18491 and
# server.mjs on 127.0.0.1:18490. server.mjs mints, before it listens, the access tokens, codes,
# refresh tokens and revocable tokens the scenarios use, through oidc-provider's own models. Each
# scenario's first request is sent by curl and must be answered 2xx; then, for each of the
# repeats, wrk runs tests/bench/scenario.lua against the trivial server and right after it
# against the peer with the very same requests (as run.sh's run_wrk does; a single-use pool is
# walked round and round on the trivial side). A 1 s warm-up against the peer precedes each
# scenario (node compiles its hot paths as they run). It prints req/s, p50, p99 (medians of the
# runs), their ratios to the paired trivial runs, node's CPU use, the CPU other processes took,
# and node's RssAnon and RssFile from /proc. Everything goes under build/bench/peer/ (wiped);
# results.md holds the table.
#
# Options:
#   --duration S         seconds per run (default 5)
#   --repeat R           runs per scenario; figures are medians (default 3)
#   --connections C      wrk connections (default 32)
#   --wrk-threads T      wrk threads (default 2)
#   --scenarios LIST     comma-separated subset of: introspection,code,refresh,client_credentials,
#                        revocation
#   --access N           access tokens minted for introspection (default 100000)
#   --pool N             codes, refresh tokens and revocable tokens minted per run, each
#                        (default 40000; revocable tokens: twice as many; plus a quarter run for
#                        the warm-up). A scenario that runs out says so: its rate is then over
#                        the time it ran.
#   --port P             the peer's port (default 18490; the trivial server uses P+1)
#   --run-dir DIR        where the pools, logs and results go (default build/bench/peer; wiped)
#   -h, --help
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BENCH="$(cd "$HERE/.." && pwd)"
ROOT="$(cd "$BENCH/../.." && pwd)"
RUN="$ROOT/build/bench/peer"
TRIVIAL="$ROOT/build/bench/tests/bench/wattle_bench_trivial"

DURATION=5
REPEAT=3
CONNS=32
WRK_THREADS=2
SCENARIOS="introspection,code,refresh,client_credentials,revocation"
ACCESS=100000
POOL=40000
PORT=18490

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift ;;
    --repeat) REPEAT="$2"; shift ;;
    --connections) CONNS="$2"; shift ;;
    --wrk-threads) WRK_THREADS="$2"; shift ;;
    --scenarios) SCENARIOS="$2"; shift ;;
    --access) ACCESS="$2"; shift ;;
    --pool) POOL="$2"; shift ;;
    --port) PORT="$2"; shift ;;
    --run-dir) RUN="$(mkdir -p "$2" && cd "$2" && pwd)"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "peer.sh: unknown option $1 (see --help)" >&2; exit 1 ;;
  esac
  shift
done
TPORT=$((PORT + 1))

say() { printf '%s\n' "$*" >&2; }
die() { say "peer.sh: $*"; exit 2; }
want() { case ",$SCENARIOS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

# ---------------------------------------------------------------- tools

for t in node npm wrk curl base64 split; do command -v "$t" >/dev/null || die "$t is required"; done
if [ ! -d "$HERE/node_modules/oidc-provider" ]; then
  say "installing the pinned oidc-provider (npm ci in tests/bench/peer)"
  (cd "$HERE" && npm ci --no-audit --no-fund >/dev/null) || die "npm ci failed"
fi
OP_VERSION="$(node -p "require('$HERE/node_modules/oidc-provider/package.json').version")"

if [ ! -x "$TRIVIAL" ]; then
  # The trivial server, compiled the way run.sh compiles it when the top-level CMakeLists.txt
  # does not build the bench helpers (running run.sh --quick for it would also bind its own
  # ports, 18480/18481).
  for t in cc pkg-config; do command -v "$t" >/dev/null || die "$t is required to build trivial.c"; done
  say "building $TRIVIAL"
  mkdir -p "$(dirname "$TRIVIAL")"
  # shellcheck disable=SC2046
  cc -std=gnu11 -O2 -g -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE \
    $(pkg-config --cflags libh2o-evloop) -o "$TRIVIAL" "$BENCH/trivial.c" \
    $(pkg-config --libs libh2o-evloop) -lpthread || die "cannot build trivial.c"
fi

# ---------------------------------------------------------------- processes

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$PORT" "$TPORT"; do port_free "$p" || die "port $p is in use (choose another with --port)"; done

if [ -d "$RUN" ] && [ -n "$(ls -A "$RUN")" ] && [ ! -e "$RUN/.wattle-bench-peer" ]; then
  die "$RUN is not empty and was not made by peer.sh; choose another --run-dir"
fi
rm -rf "$RUN"
mkdir -p "$RUN/seed"
touch "$RUN/.wattle-bench-peer"

# ---------------------------------------------------------------- measuring: run.sh's own

QUICK=0 PROFILE=0 PAIR_URL=""
SCENARIO_LUA="$BENCH/scenario.lua"
# shellcheck source=tests/bench/measure.sh
. "$BENCH/measure.sh"

# probe NAME curl-args...: one request before the load; it must be answered 2xx.
probe() {
  local name=$1 code
  shift
  code="$(curl -s -o "$RUN/probe-$name.body" -w '%{http_code}' "$@" || echo 000)"
  case "$code" in
    2??) return 0 ;;
    *) R[$name.status]=fail; FAILS+=("$name: probe answered HTTP $code ($(head -c 300 "$RUN/probe-$name.body"))")
       say "  $name: probe answered HTTP $code: $(head -c 300 "$RUN/probe-$name.body")"; return 1 ;;
  esac
}

# warm NAME URL [scenario.lua args...]: 1 s against the peer, not measured.
warm() {
  local name=$1 url=$2
  shift 2
  wrk -t"$WRK_THREADS" -c"$CONNS" -d1s --timeout 10s -s "$BENCH/scenario.lua" "$url" -- "$@" \
    nthreads="$WRK_THREADS" >"$RUN/wrk-$name.warm.log" 2>&1 || true
}


# ---------------------------------------------------------------- the servers

LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
DATE_START="$(date -u '+%Y-%m-%d %H:%M UTC')"
say "load average $LOAD_START"

"$TRIVIAL" "$TPORT" 2 >/dev/null &
TRIV_PID=$!
PIDS+=("$TRIV_PID")
TBASE="http://127.0.0.1:$TPORT"

# Pools: $POOL per run (revocation: twice that), a quarter of it for the warm-up, one for the probe.
NCODES=0 NREFRESH=0 NREVOKE=0
want code && NCODES=$((REPEAT * POOL + POOL / 4 + 1))
want refresh && NREFRESH=$((REPEAT * POOL + POOL / 4 + 1))
want revocation && NREVOKE=$((2 * (REPEAT * POOL + POOL / 4) + 1))
NACCESS="$ACCESS"
want introspection || NACCESS=0
say "starting oidc-provider $OP_VERSION on 127.0.0.1:$PORT (node $(node --version)); minting $NACCESS access tokens, $NCODES codes, $NREFRESH refresh tokens, $NREVOKE revocable tokens"
(cd "$HERE" && NODE_ENV=production exec node server.mjs "$PORT" --seed-access "$NACCESS" \
  --seed-codes "$NCODES" --seed-refresh "$NREFRESH" --seed-revoke "$NREVOKE" --out "$RUN/seed" \
  >"$RUN/node.out" 2>"$RUN/node.err") &
NODE_PID=$!
PIDS+=("$NODE_PID")
for _ in $(seq 1 1200); do
  kill -0 "$NODE_PID" 2>/dev/null || { cat "$RUN/node.err" >&2; die "server.mjs exited"; }
  grep -q ' ready ' "$RUN/node.err" 2>/dev/null && break
  sleep 0.1
done
grep -q ' ready ' "$RUN/node.err" || { cat "$RUN/node.err" >&2; die "server.mjs did not start in 120 s"; }
curl -s -o /dev/null "$TBASE/" || die "the trivial server did not start"
sed 's/^/  /' "$RUN/node.err" >&2
BASE="http://127.0.0.1:$PORT"
sleep 1
R[node.idle]="$(rss "$NODE_PID")"
R[node.seed_ms]="$(sed -n 's/.* in \([0-9]*\) ms .*/\1/p' "$RUN/node.err")"
say "node idle after minting: RssAnon $(mb "${R[node.idle]% *}") MB, RssFile $(mb "${R[node.idle]#* }") MB"

# shellcheck disable=SC1091
. "$RUN/seed/bench.env"
APP_BASIC="$(printf '%s:%s' "$CLIENT_ID" "$CLIENT_SECRET" | base64 -w0)"
RS_BASIC="$(printf '%s:%s' "$RS_ID" "$RS_SECRET" | base64 -w0)"
REDIRECT_ENC="$(urlenc "$REDIRECT_URI")"

# A single-use pool: the last entry for the probe, the first quarter-run's worth for the warm-up,
# then one part per run (FILE.wrk.1 … FILE.wrk.R).
for f in codes refresh revoke; do
  d="$RUN/seed"
  [ -s "$d/$f.txt" ] || continue
  n="$(wc -l <"$d/$f.txt")"
  tail -n 1 "$d/$f.txt" >"$d/$f.probe"
  w=$(((n - 1) / (4 * REPEAT + 1)))
  head -n "$w" "$d/$f.txt" >"$d/$f.warm"
  head -n -1 "$d/$f.txt" | tail -n +"$((w + 1))" >"$d/$f.wrk"
  (cd "$d" && split -n "l/$REPEAT" --numeric-suffixes=1 -a 1 "$f.wrk" "$f.wrk.")
done

# ---------------------------------------------------------------- scenarios

say "trivial h2o server on $TBASE (2 threads), baseline GET /"
run_wrk trivial "$TRIV_PID" "$TBASE/" path=/
PAIR_URL="$TBASE/" # from here on, every run comes right after a trivial run with its requests

S="$RUN/seed"
if want introspection; then
  if probe introspection -u "$RS_ID:$RS_SECRET" --data-urlencode "token=$(head -n 1 "$S/access.txt")" \
    "$BASE/token/introspection" && grep -q '"active":true' "$RUN/probe-introspection.body"; then
    a=(method=POST path=/token/introspection pool="$S/access.txt" mode=cycle auth="Basic $RS_BASIC" body='token=@T@')
    warm introspection "$BASE" "${a[@]}"
    run_wrk introspection "$NODE_PID" "$BASE" "${a[@]}"
  elif [ "${R[introspection.status]:-}" != fail ]; then
    R[introspection.status]=fail; FAILS+=("introspection: the probe token is not active")
  fi
fi

CODE_BODY="grant_type=authorization_code&code=@T@&code_verifier=$VERIFIER&redirect_uri=$REDIRECT_ENC"
if want code; then
  if probe code -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=authorization_code \
    -d "code=$(cat "$S/codes.probe")" -d "code_verifier=$VERIFIER" -d "redirect_uri=$REDIRECT_ENC" \
    "$BASE/token"; then
    warm code "$BASE" method=POST path=/token pool="$S/codes.warm" mode=once auth="Basic $APP_BASIC" body="$CODE_BODY"
    run_wrk code "$NODE_PID" "$BASE" method=POST path=/token pool="$S/codes.wrk" mode=once \
      auth="Basic $APP_BASIC" body="$CODE_BODY"
  fi
fi

if want refresh; then
  if probe refresh -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=refresh_token \
    -d "refresh_token=$(cat "$S/refresh.probe")" "$BASE/token"; then
    a=(method=POST path=/token auth="Basic $APP_BASIC" body='grant_type=refresh_token&refresh_token=@T@')
    warm refresh "$BASE" pool="$S/refresh.warm" mode=once "${a[@]}"
    run_wrk refresh "$NODE_PID" "$BASE" pool="$S/refresh.wrk" mode=once "${a[@]}"
  fi
fi

if want client_credentials; then
  if probe client_credentials -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials "$BASE/token"; then
    a=(method=POST path=/token auth="Basic $APP_BASIC" body='grant_type=client_credentials')
    warm client_credentials "$BASE" "${a[@]}"
    run_wrk client_credentials "$NODE_PID" "$BASE" "${a[@]}"
  fi
fi

if want revocation; then
  if probe revocation -u "$CLIENT_ID:$CLIENT_SECRET" -d "token=$(cat "$S/revoke.probe")" "$BASE/token/revocation"; then
    a=(method=POST path=/token/revocation auth="Basic $APP_BASIC" body='token=@T@')
    warm revocation "$BASE" pool="$S/revoke.warm" mode=once "${a[@]}"
    run_wrk revocation "$NODE_PID" "$BASE" pool="$S/revoke.wrk" mode=once "${a[@]}"
  fi
fi

LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- report

OUT="$RUN/results.md"
{
  echo "oidc-provider $OP_VERSION (node $(node --version), in-memory Map adapter) — $DATE_START, nproc $(nproc), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
  echo
  echo "wrk -t$WRK_THREADS -c$CONNS, $REPEAT × ${DURATION} s per scenario (medians), each run right after a run against the trivial h2o server (2 threads) with the same requests; minted before the load: $NACCESS access tokens, $NCODES codes, $NREFRESH refresh tokens, $NREVOKE revocable tokens, each in its own grant (revocable: client_credentials tokens) in $(awk -v m="${R[node.seed_ms]:-0}" 'BEGIN{printf "%.1f", m/1000}') s; node idle after minting: RssAnon $(mb "${R[node.idle]% *}") MB, RssFile $(mb "${R[node.idle]#* }") MB; load average $LOAD_START at start, $LOAD_END at end"
  echo
  echo "| scenario | req/s | × trivial | p50 ms | × trivial | p99 ms | × trivial | trivial req/s (paired) | server CPU % | other load % | RssAnon end / max MB | RssFile MB | runs: req/s (other load) |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  for name in trivial introspection code refresh client_credentials revocation; do
    st="${R[$name.status]:-}"
    [ -z "$st" ] && continue
    case "$name" in
      trivial) label="trivial h2o server, GET /" ;;
      introspection) label="introspection" ;;
      code) label="code exchange (PKCE S256)" ;;
      refresh) label="refresh rotation" ;;
      client_credentials) label="client_credentials" ;;
      revocation) label="revocation" ;;
    esac
    if [ -z "${R[$name.rps]:-}" ]; then
      echo "| $label | FAILED | | | | | | | | | | | |"
      continue
    fi
    note="${R[$name.note]:-}"
    [ "$st" = fail ] && note="FAILED ${note}"
    if [ "$name" = trivial ]; then an="" rf=""; else
      an="$(mb "${R[$name.anon_end]}") / $(mb "${R[$name.anon_max]}")"
      rf="$(mb "${R[$name.file_end]}")"
    fi
    echo "| $label | $(row_cells "$name") | $an | $rf | ${R[$name.runs_other]}${note:+ $note} |"
  done
  echo
  echo "× trivial: the median over the runs of (peer ÷ the trivial run right before it, with the same requests). server CPU: the server process's utime + stime as a percentage of one core (node runs JavaScript on one thread, plus its GC and I/O threads). RssAnon / RssFile: /proc/PID/status of the node process at the end of the scenario (RssAnon also the most sampled every 0.2 s during it); the minted pools and every token issued so far stay in memory."
} >"$OUT"

echo
cat "$OUT"
echo
echo "(table in $OUT; wrk logs in $RUN)"
if [ "${#FAILS[@]}" -gt 0 ]; then
  say "FAILED:"
  printf '  %s\n' "${FAILS[@]}" >&2
  exit 1
fi
