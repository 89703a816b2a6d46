#!/usr/bin/env bash
# tests/bench/run.sh — Wattle's benchmark suite, one command (docs/performance.md).
#
#   tests/bench/run.sh            full run: 1M live access tokens, 3 × 5 s per scenario (~9 min)
#   tests/bench/run.sh --quick    CI smoke: 1k tokens, 1 s per scenario; fails when a scenario
#                                 answers anything but 2xx or serves no request. Never asserts
#                                 on speed.
#
# What it does: builds a Release binary in build/bench and the helpers (seed.c: bulk loader
# linking wattle_core; trivial.c: a fixed-response h2o server), seeds a store, starts
# `wattle serve` (rate limits off, log_level warn, 2 threads, login throttle high) and drives
# each scenario with wrk + scenario.lua. It prints requests/s, p50/p99 latency (medians of the
# repeated runs), the server's CPU use, the CPU other processes took meanwhile, and the
# server's RssAnon/RssFile, next to the trivial server measured in the same run (ratios).
# It also times the store alone (seed.c --lookup, --commit-probe, --fsync-probe).
# Everything it writes goes under build/bench/run/ (results.md holds the table).
#
# Options:
#   --quick              CI smoke mode (see above)
#   --tokens N           live access tokens in the main store (default 1000000; quick 1000)
#   --small-tokens N     full mode also measures validation on a second store of N tokens
#                        (default 1000; 0 skips it)
#   --pool N             codes, refresh tokens and revocable tokens to seed, each (codes:
#                        twice as many when code_high runs)
#                        (default 600000; quick 30000). A scenario that runs out says so.
#   --duration S         seconds per run (default 5; quick 1)
#   --repeat R           runs per scenario; figures are medians (default 3; quick 1)
#   --connections C      wrk connections (default 32; quick 8)
#   --wrk-threads T      wrk threads (default 2)
#   --scenarios LIST     comma-separated subset of: validation,forward_auth,control,
#                        introspection,code,code_high,refresh,client_credentials,cc_high,
#                        revocation,consent,mixed
#   --control MB:HOPS    the control (full mode): a trivial server that also follows HOPS
#                        random pointers through MB MiB per request, driven with forward-auth's
#                        requests (default 512:6, about what a 1M-token lookup adds here)
#   --profile            also `perf record -g` the server during the first run of validation
#                        and client_credentials (build/bench/run/perf-*.data)
#   --no-pin             leave the event loops unpinned: `"pin_threads": false` for Wattle and
#                        TRIVIAL_PIN=0 for the trivial server and the control (by default both
#                        pin loop i to the i-th allowed CPU). A wattle binary older than
#                        pin_threads (--wattle, ab.sh) runs unpinned without this option and
#                        refuses the config with it (unknown key "pin_threads")
#   --no-build           use the binaries already in build/bench
#   --wattle PATH        benchmark this wattle binary instead of build/bench/wattle (the
#                        helpers still come from build/bench); tests/bench/ab.sh uses it
#   --run-dir DIR        where the stores, logs and results go (default build/bench/run; wiped)
#   -h, --help
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BUILD="$ROOT/build/bench"
RUN="$BUILD/run"

QUICK=0
TOKENS=""
SMALL_TOKENS=1000
POOL=""
DURATION=""
REPEAT=""
CONNS=""
WRK_THREADS=2
SCENARIOS="validation,forward_auth,control,introspection,code,code_high,refresh,client_credentials,cc_high,revocation,consent,mixed"
CONTROL="512:6"
PROFILE=0
PIN=1
BUILD_IT=1
WATTLE_GIVEN=""
HIGH_CONNS=256 # cc_high, code_high: client_credentials and code exchange with this many
               # connections (more requests share each commit)

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --tokens) TOKENS="$2"; shift ;;
    --small-tokens) SMALL_TOKENS="$2"; shift ;;
    --pool) POOL="$2"; shift ;;
    --duration) DURATION="$2"; shift ;;
    --repeat) REPEAT="$2"; shift ;;
    --connections) CONNS="$2"; shift ;;
    --wrk-threads) WRK_THREADS="$2"; shift ;;
    --scenarios) SCENARIOS="$2"; shift ;;
    --control) CONTROL="$2"; shift ;;
    --profile) PROFILE=1 ;;
    --no-build) BUILD_IT=0 ;;
    --no-pin) PIN=0 ;;
    --run-dir) RUN="$(mkdir -p "$2" && cd "$2" && pwd)"; shift ;;
    --wattle) WATTLE_GIVEN="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 1 ;;
  esac
  shift
done

if [ "$QUICK" = 1 ]; then
  : "${TOKENS:=1000}" "${POOL:=30000}" "${DURATION:=1}" "${REPEAT:=1}" "${CONNS:=8}"
  SMALL_TOKENS=0
  SCENARIOS="${SCENARIOS//,cc_high/}"
  SCENARIOS="${SCENARIOS//,code_high/}"
  SCENARIOS="${SCENARIOS//,mixed/}"
  SCENARIOS="${SCENARIOS//,control/}"
else
  : "${TOKENS:=1000000}" "${POOL:=600000}" "${DURATION:=5}" "${REPEAT:=3}" "${CONNS:=32}"
fi

say() { printf '%s\n' "$*" >&2; }
die() { say "run.sh: $*"; exit 2; }
want() { case ",$SCENARIOS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

# ---------------------------------------------------------------- tools

if ! command -v wrk >/dev/null; then
  say "wrk is not installed; installing the Debian package"
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
  elif command -v sudo >/dev/null; then
    sudo apt-get install -y wrk >/dev/null || { sudo apt-get update >/dev/null && sudo apt-get install -y wrk >/dev/null; }
  fi
  command -v wrk >/dev/null || die "cannot install wrk (apt-get install wrk)"
fi
for t in curl cmake cc pkg-config; do command -v "$t" >/dev/null || die "$t is required"; done

# ---------------------------------------------------------------- build

SEED="$BUILD/tests/bench/wattle_bench_seed"
TRIVIAL="$BUILD/tests/bench/wattle_bench_trivial"
WATTLE="$BUILD/wattle"
if [ -n "$WATTLE_GIVEN" ]; then
  [ -x "$WATTLE_GIVEN" ] || { echo "run.sh: --wattle $WATTLE_GIVEN is not an executable file" >&2; exit 1; }
  WATTLE="$(cd "$(dirname "$WATTLE_GIVEN")" && pwd)/$(basename "$WATTLE_GIVEN")"
fi
BUILD_NOTE=""

build() {
  local extra=()
  # The top level includes tests/bench when WATTLE_BENCH is ON (see tests/bench/CMakeLists.txt).
  local integrated=0
  grep -q 'tests/bench' "$ROOT/CMakeLists.txt" && integrated=1
  [ "$integrated" = 1 ] && extra+=(-DWATTLE_BENCH=ON)
  local jobs; jobs="$(nproc 2>/dev/null || echo 2)"
  say "building the Release binary in build/bench"
  # CMAKE_C_FLAGS= drops a workaround an earlier run may have cached (see below).
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS= "${extra[@]}" >"$BUILD/bench-cmake.log" 2>&1 ||
    { cat "$BUILD/bench-cmake.log" >&2; die "cmake configure failed"; }
  local targets=(wattle)
  [ "$integrated" = 1 ] && targets+=(wattle_bench_seed wattle_bench_trivial)
  if ! cmake --build "$BUILD" -j"$jobs" --target "${targets[@]}" >"$BUILD/bench-build.log" 2>&1; then
    # gcc -O3 finds -Wformat-truncation cases that -O0/-O2 builds do not (src/config.c
    # key_path); with -Werror the Release build then fails. Retry with that one warning kept
    # a warning, and say so.
    if grep -q 'Werror=format-truncation' "$BUILD/bench-build.log"; then
      BUILD_NOTE="Release build needed -Wno-error=format-truncation (src/config.c key_path; see docs/performance.md)"
      say "NOTE: $BUILD_NOTE"
      cmake -S "$ROOT" -B "$BUILD" -DCMAKE_C_FLAGS=-Wno-error=format-truncation >>"$BUILD/bench-cmake.log" 2>&1
      cmake --build "$BUILD" -j"$jobs" --target "${targets[@]}" >"$BUILD/bench-build.log" 2>&1 ||
        { tail -30 "$BUILD/bench-build.log" >&2; die "build failed (log: $BUILD/bench-build.log)"; }
    else
      tail -30 "$BUILD/bench-build.log" >&2
      die "build failed (log: $BUILD/bench-build.log)"
    fi
  fi
  if [ "$integrated" = 0 ]; then
    # Not wired into the top-level CMakeLists.txt yet: build the helpers directly.
    mkdir -p "$BUILD/tests/bench"
    local pc="libh2o-evloop libjwt jansson lmdb libcurl openssl"
    # shellcheck disable=SC2046
    cc -std=gnu11 -O2 -g -Wall -Wextra -Wno-unused-parameter -DH2O_USE_LIBUV=0 -D_GNU_SOURCE \
      -I"$ROOT/src" $(pkg-config --cflags $pc) -o "$SEED" "$HERE/seed.c" \
      "$BUILD/libwattle_core.a" $(pkg-config --libs $pc) -lpthread || die "cannot build seed.c"
    # shellcheck disable=SC2046
    cc -std=gnu11 -O2 -g -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE \
      $(pkg-config --cflags libh2o-evloop) -o "$TRIVIAL" "$HERE/trivial.c" \
      $(pkg-config --libs libh2o-evloop) -lpthread || die "cannot build trivial.c"
  fi
}

mkdir -p "$BUILD"
[ "$BUILD_IT" = 1 ] && build
for b in "$WATTLE" "$SEED" "$TRIVIAL"; do [ -x "$b" ] || die "missing $b (run without --no-build)"; done

# ---------------------------------------------------------------- processes

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && wait "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
  local p=$1
  while ! port_free "$p"; do p=$((p + 1)); done
  echo "$p"
}

wait_http() { # URL PID
  local i
  for i in $(seq 1 200); do
    kill -0 "$2" 2>/dev/null || return 1
    curl -s -o /dev/null "$1" && return 0
    sleep 0.05
  done
  return 1
}

stop_pid() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local keep=() p
  for p in "${PIDS[@]:-}"; do [ "$p" != "$1" ] && keep+=("$p"); done
  PIDS=("${keep[@]:-}")
}

# RssAnon and RssFile of a process, in kB: "ANON FILE".

# ---------------------------------------------------------------- a store and a server

PORT="$(pick_port 18480)"
TPORT="$(pick_port $((PORT + 1)))"
BASE="http://127.0.0.1:$PORT"
# Only ever wipe a directory this script made (it leaves a marker in it).
if [ -d "$RUN" ] && [ -n "$(ls -A "$RUN")" ] && [ ! -e "$RUN/.wattle-bench-run" ]; then
  die "$RUN is not empty and was not made by run.sh; choose another --run-dir"
fi
rm -rf "$RUN"
mkdir -p "$RUN"
touch "$RUN/.wattle-bench-run"

write_config() { # DIR
  cat >"$1/wattle.json" <<EOF
{
  "issuer": "$BASE",
  "listen": "127.0.0.1:$PORT",
  "data_dir": "data",
  "threads": 2,$([ "$PIN" = 0 ] && printf '\n  "pin_threads": false,')
  "log_level": "warn",
  "rate_limit": {"token": 0, "revoke": 0, "introspect": 0, "register": 0},
  "login_throttle": {"per_user_address": 1000000, "per_address": 1000000, "window": 1}
}
EOF
}

seed_store() { # DIR ACCESS POOL
  mkdir -p "$1"
  write_config "$1"
  local codes="$3"
  want code_high && codes=$((2 * $3)) # half for code, half for code_high
  say "seeding $1: $2 access tokens, $codes codes, $3 refresh tokens, $3 revocable tokens"
  if ! "$SEED" -c "$1/wattle.json" --out "$1/seed" --access "$2" --codes "$codes" --refresh "$3" \
    --revoke "$3" 2>&1 | sed 's/^/  /' >&2; then
    die "seeding failed"
  fi
  SEED_DU="$(du -sm "$1/data" | cut -f1)"
}

SERVER_PID=""
start_server() { # DIR
  (cd "$1" && exec "$WATTLE" serve -c wattle.json >"$1/server.out" 2>"$1/server.err") &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_http "$BASE/healthz" "$SERVER_PID" || { cat "$1/server.err" >&2; die "wattle did not start"; }
}

# ---------------------------------------------------------------- measuring

SCENARIO_LUA="$HERE/scenario.lua"
# shellcheck source=tests/bench/measure.sh
. "$HERE/measure.sh"

# probe NAME curl-args...: one request by curl before the load. Sets PROBE to the status.
probe() {
  local name=$1
  shift
  PROBE="$(curl -s -o "$RUN/probe-$name.body" -w '%{http_code}' "$@" || echo 000)"
}

# skip_unless_2xx NAME: after probe; "n/a (404)" when the endpoint is not there yet.
skip_unless_2xx() {
  case "$PROBE" in
    2??) return 0 ;;
    404) R[$1.status]="n/a (404)"; say "  $1: n/a (404: the endpoint is not implemented yet)"; return 1 ;;
    *) R[$1.status]="fail"; FAILS+=("$1: probe answered HTTP $PROBE ($(head -c 300 "$RUN/probe-$1.body"))")
       say "  $1: probe answered HTTP $PROBE: $(head -c 300 "$RUN/probe-$1.body")"; return 1 ;;
  esac
}


# ---------------------------------------------------------------- 1. the trivial baseline

[ "$PIN" = 0 ] && export TRIVIAL_PIN=0

LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
say "trivial h2o server on 127.0.0.1:$TPORT (2 threads); load average $LOAD_START"
"$TRIVIAL" "$TPORT" 2 >/dev/null &
TRIV_PID=$!
PIDS+=("$TRIV_PID")
wait_http "http://127.0.0.1:$TPORT/" "$TRIV_PID" || die "the trivial server did not start"
sleep 0.3
R[trivial.anon_idle]="$(rss "$TRIV_PID" | cut -d' ' -f1)"
run_wrk trivial "$TRIV_PID" "http://127.0.0.1:$TPORT/" path=/
# From here on every Wattle run is preceded by a run against the trivial server (same wrk
# settings): the "× trivial" ratios are medians of those adjacent pairs.
PAIR_URL="http://127.0.0.1:$TPORT/"

# ---------------------------------------------------------------- 2. the main store

MAIN="$RUN/main"
seed_store "$MAIN" "$TOKENS" "$POOL"
R[main.du_mb]="$SEED_DU"
R[fsync]="$("$SEED" --fsync-probe "$MAIN/data" 2>/dev/null || true)"
# shellcheck disable=SC1091
. "$MAIN/seed/bench.env"
APP_BASIC="$(printf '%s:%s' "$CLIENT_ID" "$CLIENT_SECRET" | base64 -w0)"
RS_BASIC="$(printf '%s:%s' "$RS_ID" "$RS_SECRET" | base64 -w0)"
REDIRECT_ENC="$(urlenc "$REDIRECT_URI")"
SCOPE_ENC="$(urlenc "$SCOPE")"
AUTHZ_QUERY="response_type=code&client_id=$CLIENT_ID&redirect_uri=$REDIRECT_ENC&code_challenge=$CHALLENGE&code_challenge_method=S256&scope=$SCOPE_ENC&state=bench"

# Pools: a single-use file keeps its last entry for the probe and is split in $REPEAT parts,
# one per run; validation walks a shuffled sample spread over the whole key range (at most
# 500k, so that wrk loads it quickly).
prepare_pools() { # DIR
  local d="$1/seed" f n
  if want code_high && [ -s "$d/codes.txt" ]; then
    n="$(wc -l <"$d/codes.txt")"
    tail -n "$((n / 2))" "$d/codes.txt" >"$d/codes_high.txt"
    head -n "$((n - n / 2))" "$d/codes.txt" >"$d/codes.half" && mv "$d/codes.half" "$d/codes.txt"
  fi
  for f in codes codes_high refresh revoke; do
    [ -s "$d/$f.txt" ] || continue
    tail -n 1 "$d/$f.txt" >"$d/$f.probe"
    head -n -1 "$d/$f.txt" >"$d/$f.wrk"
    n="$(wc -l <"$d/$f.wrk")"
    [ "$n" -ge "$REPEAT" ] || continue
    (cd "$d" && split -n "l/$REPEAT" --numeric-suffixes=1 -a 1 "$f.wrk" "$f.wrk.")
  done
  n="$(wc -l <"$d/access.txt")"
  [ "$n" -gt 500000 ] && n=500000
  shuf -n "$n" "$d/access.txt" >"$d/access.wrk"
}
prepare_pools "$MAIN"

start_server "$MAIN"
sleep 1
R[wattle.anon_idle]="$(rss "$SERVER_PID" | cut -d' ' -f1)"
R[wattle.file_idle]="$(rss "$SERVER_PID" | cut -d' ' -f2)"
say "wattle on $BASE: idle RssAnon $(mb "${R[wattle.anon_idle]}") MB, RssFile $(mb "${R[wattle.file_idle]}") MB"

# Store-level validation (no HTTP): tokens_check_access in process, random tokens.
lookup() { "$SEED" -c "$1/wattle.json" --lookup "$1/seed/access.txt" --count 1000000 2>/dev/null |
  sed -n 's/.*ns_per_op=\([0-9]*\).*/\1/p'; }
[ "$QUICK" = 0 ] && R[lookup.main]="$(lookup "$MAIN")"

DIR="$MAIN"
scenario_validation() { # NAME
  local at; at="$(head -n 1 "$DIR/seed/access.wrk")"
  probe "$1" -H "Authorization: Bearer $at" "$BASE/mcp"
  skip_unless_2xx "$1" || return 0
  if [ "$QUICK" = 0 ]; then # warm the map and the page cache
    wrk -t"$WRK_THREADS" -c"$CONNS" -d2s -s "$HERE/scenario.lua" "$BASE" -- path=/mcp \
      pool="$DIR/seed/access.wrk" mode=cycle auth='Bearer @T@' nthreads="$WRK_THREADS" >/dev/null 2>&1 || true
  fi
  PROFILE_THIS=1 run_wrk "$1" "$SERVER_PID" "$BASE" path=/mcp pool="$DIR/seed/access.wrk" \
    mode=cycle auth='Bearer @T@'
}

want validation && scenario_validation validation

if want forward_auth; then
  at="$(head -n 1 "$MAIN/seed/access.wrk")"
  probe forward_auth -H "Authorization: Bearer $at" -H "X-Original-URI: /mcp" \
    "$BASE/oauth/forward-auth"
  if skip_unless_2xx forward_auth; then
    run_wrk forward_auth "$SERVER_PID" "$BASE" path=/oauth/forward-auth \
      pool="$MAIN/seed/access.wrk" mode=cycle auth='Bearer @T@' 'xh=X-Original-URI: /mcp'
  fi
fi

# The control: the trivial server again, but each request first follows HOPS dependent random
# pointers through MB MiB of memory (trivial.c), driven with forward-auth's very requests. It is
# what that much memory latency per request, and nothing else, does to a server's rate and tail
# on this machine: compare its p99 × trivial with validation's at this store size.
if want control && [ "$QUICK" = 0 ]; then
  [[ "$CONTROL" =~ ^[0-9]+:[0-9]+$ ]] || die "--control takes MB:HOPS, e.g. 512:6 (got $CONTROL)"
  CPORT="$(pick_port $((TPORT + 1)))"
  "$TRIVIAL" "$CPORT" 2 "${CONTROL%%:*}" "${CONTROL##*:}" >"$RUN/control.out" 2>&1 &
  CTL_PID=$!
  PIDS+=("$CTL_PID")
  wait_http "http://127.0.0.1:$CPORT/" "$CTL_PID" || die "the control server did not start: $(cat "$RUN/control.out")"
  R[control.chase_ns]="$(sed -n 's/^chase_ns_per_request=//p' "$RUN/control.out")"
  say "control: trivial server + ${CONTROL##*:} random reads over ${CONTROL%%:*} MiB per request (${R[control.chase_ns]} ns)"
  run_wrk control "$CTL_PID" "http://127.0.0.1:$CPORT" path=/oauth/forward-auth \
    pool="$MAIN/seed/access.wrk" mode=cycle auth='Bearer @T@' 'xh=X-Original-URI: /mcp'
  stop_pid "$CTL_PID"
fi

if want introspection; then
  at="$(head -n 1 "$MAIN/seed/access.wrk")"
  probe introspection -u "$RS_ID:$RS_SECRET" --data-urlencode "token=$at" "$BASE/oauth/introspect"
  if skip_unless_2xx introspection; then
    run_wrk introspection "$SERVER_PID" "$BASE" method=POST path=/oauth/introspect \
      pool="$MAIN/seed/access.wrk" mode=cycle auth="Basic $RS_BASIC" body='token=@T@'
  fi
fi

COUNT_SYNCS=1
if want code; then
  probe code -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=authorization_code \
    -d "code=$(cat "$MAIN/seed/codes.probe")" -d "code_verifier=$VERIFIER" \
    -d "redirect_uri=$REDIRECT_ENC" "$BASE/oauth/token"
  if skip_unless_2xx code; then
    PROFILE_THIS=1 run_wrk code "$SERVER_PID" "$BASE" method=POST path=/oauth/token pool="$MAIN/seed/codes.wrk" \
      mode=once auth="Basic $APP_BASIC" \
      body="grant_type=authorization_code&code=@T@&code_verifier=$VERIFIER&redirect_uri=$REDIRECT_ENC"
  fi
fi
if want code_high; then
  probe code_high -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=authorization_code \
    -d "code=$(cat "$MAIN/seed/codes_high.probe")" -d "code_verifier=$VERIFIER" \
    -d "redirect_uri=$REDIRECT_ENC" "$BASE/oauth/token"
  if skip_unless_2xx code_high; then
    saved="$CONNS"
    CONNS="$HIGH_CONNS"
    run_wrk code_high "$SERVER_PID" "$BASE" method=POST path=/oauth/token \
      pool="$MAIN/seed/codes_high.wrk" mode=once auth="Basic $APP_BASIC" \
      body="grant_type=authorization_code&code=@T@&code_verifier=$VERIFIER&redirect_uri=$REDIRECT_ENC"
    CONNS="$saved"
  fi
fi

if want refresh; then
  probe refresh -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=refresh_token \
    -d "refresh_token=$(cat "$MAIN/seed/refresh.probe")" "$BASE/oauth/token"
  if skip_unless_2xx refresh; then
    run_wrk refresh "$SERVER_PID" "$BASE" method=POST path=/oauth/token \
      pool="$MAIN/seed/refresh.wrk" mode=once auth="Basic $APP_BASIC" \
      body='grant_type=refresh_token&refresh_token=@T@'
  fi
fi

if want client_credentials || want cc_high; then
  probe client_credentials -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials \
    "$BASE/oauth/token"
  if skip_unless_2xx client_credentials; then
    want client_credentials && PROFILE_THIS=1 run_wrk client_credentials "$SERVER_PID" "$BASE" \
      method=POST path=/oauth/token auth="Basic $APP_BASIC" body='grant_type=client_credentials'
    if want cc_high; then
      saved="$CONNS"
      CONNS="$HIGH_CONNS"
      run_wrk cc_high "$SERVER_PID" "$BASE" method=POST path=/oauth/token \
        auth="Basic $APP_BASIC" body='grant_type=client_credentials'
      CONNS="$saved"
    fi
  fi
fi

if want revocation; then
  probe revocation -u "$CLIENT_ID:$CLIENT_SECRET" -d "token=$(cat "$MAIN/seed/revoke.probe")" \
    "$BASE/oauth/revoke"
  if skip_unless_2xx revocation; then
    run_wrk revocation "$SERVER_PID" "$BASE" method=POST path=/oauth/revoke \
      pool="$MAIN/seed/revoke.wrk" mode=once auth="Basic $APP_BASIC" body='token=@T@'
  fi
fi
COUNT_SYNCS=

if want consent; then
  probe consent "$BASE/oauth/authorize?$AUTHZ_QUERY"
  if skip_unless_2xx consent; then
    run_wrk consent "$SERVER_PID" "$BASE" path="/oauth/authorize?$AUTHZ_QUERY"
  fi
fi

# ---------------------------------------------------------------- 3. mixed: logins vs validation

# The login burst posts the consent form with the right password: each login is a full scrypt
# hash (N=2^15, r=8: 32 MiB) on a hashing worker, then a code, a session and the consent
# written by the store writer (303). It runs beside the validation load.
if want mixed && [ "$QUICK" = 0 ]; then
  MIX_NAME=validation
  MIX_ARGS=(path=/mcp pool="$MAIN/seed/access.wrk" mode=cycle auth='Bearer @T@')
  R[mixed.probe]="$MIX_NAME"
  jar="$RUN/cookies.txt"
  curl -s -c "$jar" -o "$RUN/consent.html" "$BASE/oauth/authorize?$AUTHZ_QUERY"
  packed="$(sed -n 's/.*name="request" value="\([^"]*\)".*/\1/p' "$RUN/consent.html" | head -1)"
  csrf="$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$RUN/consent.html" | head -1)"
  LOGIN_BID="$(awk '$6 == "wattle_bid" {print $7}' "$jar" | tail -1)"
  LOGIN_BODY="request=$packed&csrf=$csrf&decision=allow&username=$BENCH_USER&password=$(urlenc "$BENCH_PASSWORD")"
  probe login -X POST -b "wattle_bid=$LOGIN_BID" -H 'Content-Type: application/x-www-form-urlencoded' \
    --data-raw "$LOGIN_BODY" "$BASE/oauth/authorize"
  login_probe="$PROBE"
  probe mixed -H "Authorization: Bearer $(head -n 1 "$MAIN/seed/access.wrk")" "$BASE/mcp"
  if [ "$PROBE" != 200 ]; then
    say "  mixed: the validation probe answered HTTP $PROBE (expected 200); skipped"
    R[mixed_alone.status]="fail"
    FAILS+=("mixed: the validation probe answered HTTP $PROBE")
  elif [ "$login_probe" = 303 ] && [ -n "$packed" ] && [ -n "$csrf" ] && [ -n "$LOGIN_BID" ]; then
    say "mixed run: $MIX_NAME alone, then with logins in flight"
    run_wrk mixed_alone "$SERVER_PID" "$BASE" "${MIX_ARGS[@]}"
    LOGINS=1 run_wrk mixed_logins1 "$SERVER_PID" "$BASE" "${MIX_ARGS[@]}"
    LOGINS=2 run_wrk mixed_logins2 "$SERVER_PID" "$BASE" "${MIX_ARGS[@]}"
  else
    say "  mixed: the login probe answered HTTP $login_probe (expected 303); skipped"
    R[mixed_alone.status]="skipped (login probe answered HTTP $login_probe)"
  fi
fi

stop_pid "$SERVER_PID"

# ---------------------------------------------------------------- 4. validation on a small store

if [ "$QUICK" = 0 ] && [ "$SMALL_TOKENS" -gt 0 ] && want validation; then
  SMALL="$RUN/small"
  seed_store "$SMALL" "$SMALL_TOKENS" 1
  prepare_pools "$SMALL"
  R[lookup.small]="$(lookup "$SMALL")"
  if [ "${R[validation.status]:-}" = ok ]; then
    start_server "$SMALL"
    DIR="$SMALL"
    scenario_validation validation_small
    stop_pid "$SERVER_PID"
  fi
fi

# ---------------------------------------------------------------- 5. group commit without HTTP

# The writer alone (no server running): client threads in process, each submitting one
# client_credentials issuance and waiting until it is durable, on a fresh store.
COMMIT_DIR="$RUN/commit"
mkdir -p "$COMMIT_DIR"
cp "$MAIN/wattle.json" "$COMMIT_DIR/wattle.json"
for c in 16 32; do
  [ "$QUICK" = 1 ] && [ "$c" = 32 ] && continue
  rm -rf "$COMMIT_DIR/data"
  line="$("$SEED" -c "$COMMIT_DIR/wattle.json" --commit-probe "$([ "$QUICK" = 1 ] && echo 1 || echo 5)" \
    --clients "$c" 2>"$COMMIT_DIR/probe.err")" || die "the commit probe failed: $(cat "$COMMIT_DIR/probe.err") $line"
  R[commit.$c]="$(sed -n 's/.*ops_per_s=\([0-9]*\) ops_per_commit=\([0-9.]*\) commit_us=\([0-9]*\).*/\1\/s (\2 per commit, one every \3 µs)/p' <<<"$line")"
  say "  commit probe, $c clients: ${R[commit.$c]}"
done
rm -rf "$COMMIT_DIR/data"

# The baseline again: how much did the machine drift during the run?
PAIR_URL=
[ "$QUICK" = 0 ] && run_wrk trivial_after "$TRIV_PID" "http://127.0.0.1:$TPORT/" path=/
stop_pid "$TRIV_PID"
LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- 5. report

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if (b > 0) printf "%.2f", a/b; else printf "-"}'; }

# The baseline: the median over every trivial run of the session (start and end).
allruns() { printf '%s\n' ${R[trivial.$1]:-0} ${R[trivial_after.$1]:-} | grep . | median; }
TR="$(allruns runs)"
T50="$(allruns p50s)"
T99="$(allruns p99s)"

OUT="$RUN/results.md"
{
  echo "Wattle benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), nproc $(nproc), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
  echo
  echo "mode $([ "$QUICK" = 1 ] && echo quick || echo full): wrk -t$WRK_THREADS -c$CONNS, $REPEAT × ${DURATION} s per scenario (medians); store: $TOKENS live access tokens + $(want code_high && echo "$((2 * POOL)) codes (half for 256 connections)" || echo "$POOL codes"), $POOL refresh grants, $POOL revocable tokens (data.mdb ${R[main.du_mb]:-?} MB); load average $LOAD_START at start, $LOAD_END at end; event loops $([ "$PIN" = 1 ] && echo "pinned one per CPU (Wattle's pin_threads and the trivial server's the same way)" || echo "unpinned (--no-pin)")${BUILD_NOTE:+; $BUILD_NOTE}${WATTLE_GIVEN:+; wattle binary $WATTLE}"
  echo
  echo "| scenario | req/s | × trivial | p50 ms | × trivial | p99 ms | × trivial | trivial req/s (paired) | server CPU % | other load % | RssAnon end / max MB | RssFile MB | ops per commit | runs: req/s (other load) |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  for name in trivial validation validation_small forward_auth control introspection code code_high refresh client_credentials cc_high revocation consent mixed_alone mixed_logins1 mixed_logins2 trivial_after; do
    st="${R[$name.status]:-}"
    [ -z "$st" ] && continue
    label="$name"
    case "$name" in
      trivial) label="trivial h2o server (baseline)" ;;
      trivial_after) label="trivial h2o server, end of run" ;;
      validation) label="validation: GET /mcp, $TOKENS tokens" ;;
      validation_small) label="validation: GET /mcp, $SMALL_TOKENS tokens" ;;
      forward_auth) label="validation: forward-auth (no body)" ;;
      control) label="control: trivial server + ${CONTROL##*:} random memory reads per request (${R[control.chase_ns]:-?} ns), forward-auth's requests" ;;
      introspection) label="introspection" ;;
      code) label="code exchange" ;;
      code_high) label="code exchange, $HIGH_CONNS connections" ;;
      refresh) label="refresh rotation" ;;
      client_credentials) label="client_credentials" ;;
      cc_high) label="client_credentials, $HIGH_CONNS connections" ;;
      revocation) label="revocation" ;;
      consent) label="consent page GET" ;;
      mixed_alone) label="mixed: ${R[mixed.probe]:-} alone" ;;
      mixed_logins1) label="mixed: ${R[mixed.probe]} + logins, 1 in flight (${R[mixed_logins1.logins]:-?} logins/s)" ;;
      mixed_logins2) label="mixed: ${R[mixed.probe]} + logins, 2 in flight (${R[mixed_logins2.logins]:-?} logins/s)" ;;
    esac
    if [ "$st" != ok ] && [ "$st" != fail ]; then
      echo "| $label | $st | | | | | | | | | | | | |"
      continue
    fi
    syncs="${R[$name.syncs]:-}"
    opc=""
    [ -n "$syncs" ] && opc="$(awk -v r="${R[$name.requests]}" -v s="$syncs" 'BEGIN{printf "%.1f", r/s}')"
    note="${R[$name.note]:-}"
    [ "$st" = fail ] && note="FAILED ${note}"
    cells="$(row_cells "$name" "$(ratio "${R[$name.rps]}" "$TR")" "$(ratio "${R[$name.p50_us]}" "$T50")" \
      "$(ratio "${R[$name.p99_us]}" "$T99")")"
    echo "| $label | $cells | $(mb "${R[$name.anon_end]}") / $(mb "${R[$name.anon_max]}") | $(mb "${R[$name.file_end]}") | $opc | ${R[$name.runs_other]}${note:+ $note} |"
  done
  echo
  echo "Idle after start on the seeded store: RssAnon $(mb "${R[wattle.anon_idle]:-0}") MB, RssFile $(mb "${R[wattle.file_idle]:-0}") MB (trivial server: RssAnon $(mb "${R[trivial.anon_idle]:-0}") MB)."
  if [ -n "${R[lookup.main]:-}" ]; then
    echo "Store-level validation (tokens_check_access in process, random tokens, reader renewed and reset per lookup): ${R[lookup.main]} ns with $TOKENS tokens${R[lookup.small]:+, ${R[lookup.small]} ns with $SMALL_TOKENS tokens}."
  fi
  if [ -n "${R[commit.16]:-}" ]; then
    echo "Store-level group commit (no HTTP: client threads in process, each submitting one client_credentials issuance and waiting until it is durable, fresh store): 16 clients ${R[commit.16]}${R[commit.32]:+; 32 clients ${R[commit.32]}}."
  fi
  if [ -n "${R[fsync]:-}" ]; then
    echo "Disk (what one LMDB commit waits for, measured in the data directory): $(sed 's/FSYNC //; s/_us=/ µs=/g; s/=/ /g' <<<"${R[fsync]}")."
  fi
  echo "× trivial: each run of a scenario is preceded by a run of the same wrk settings and the very same requests (method, path, headers, body, token pool) against the trivial server, which stays up all along; the ratio is the median over the runs of (scenario / adjacent trivial run). The trivial rows themselves are compared with the median of all trivial runs at the start and the end ($(printf '%.0f' "$TR") req/s, p50 $(ms "$T50") ms, p99 $(ms "$T99") ms)."
  echo "server CPU: % of one core; other load: % of the whole machine used by other processes (not the server, not wrk) during the runs."
} >"$OUT"
echo
cat "$OUT"
echo
echo "(table in $OUT; wrk logs in $RUN)"

if [ "${#FAILS[@]}" -gt 0 ]; then
  echo
  echo "FAILED:"
  printf '  %s\n' "${FAILS[@]}"
  exit 1
fi
exit 0
