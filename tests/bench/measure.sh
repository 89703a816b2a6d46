# tests/bench/measure.sh — how the benchmark scripts measure a server with wrk: sourced by
# tests/bench/run.sh (Wattle) and tests/bench/peer/peer.sh (the peer, oidc-provider), so that
# both tables come from the very same pairing, medians and CPU accounting.
#
# The caller sets, before calling run_wrk: RUN (the run directory), REPEAT, DURATION, CONNS,
# WRK_THREADS, QUICK (0 or 1), PROFILE (0 or 1), SCENARIO_LUA (path of scenario.lua) and
# PAIR_URL (the trivial server, or empty); and defines say(). Results go to the associative
# array R (R[NAME.rps], R[NAME.r_rps], …) and failures to FAILS. Optional, per call:
# COUNT_SYNCS (count fdatasync with perf stat), PROFILE_THIS (perf record the first run) and
# LOGINS=N with BASE, LOGIN_BID and LOGIN_BODY (a login burst beside each run; run.sh only).

# RssAnon and RssFile of PID, in kB.
rss() { awk '/^RssAnon:/{a=$2} /^RssFile:/{f=$2} END{print a+0, f+0}' "/proc/$1/status" 2>/dev/null || echo "0 0"; }
mb() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }
# Microseconds as milliseconds, for the tables.
ms() { awk -v u="$1" 'BEGIN{printf "%.3f", u/1000}'; }

# The cells every results row has, in run.sh's and peer.sh's tables alike, from R[NAME.*]:
#   req/s | × trivial | p50 ms | × trivial | p99 ms | × trivial | trivial req/s (paired) | server CPU % | other load %
# The ratios and the paired trivial rate are those of the paired runs; a row without paired runs
# shows RR R50 R99 instead (empty if not given) and no paired rate.
row_cells() { # NAME [RR R50 R99]
  local n="$1" rr="${2:-}" r50="${3:-}" r99="${4:-}" tp=""
  if [ -n "${R[$n.r_rps]:-}" ]; then
    rr="$(printf '%.2f' "${R[$n.r_rps]}")"; r50="$(printf '%.2f' "${R[$n.r_p50]}")"
    r99="$(printf '%.2f' "${R[$n.r_p99]}")"; tp="$(printf '%.0f' "${R[$n.t_rps]}")"
  fi
  printf '%s | %s | %s | %s | %s | %s | %s | %s | %s' "$(printf '%.0f' "${R[$n.rps]}")" "$rr" \
    "$(ms "${R[$n.p50_us]}")" "$r50" "$(ms "${R[$n.p99_us]}")" "$r99" "$tp" "${R[$n.cpu]}" "${R[$n.other]}"
}

urlenc() { local s="$1" o="" c i; for ((i = 0; i < ${#s}; i++)); do c="${s:i:1}"
  case "$c" in [a-zA-Z0-9._~-]) o+="$c" ;; *) o+="$(printf '%%%02X' "'$c")" ;; esac; done; echo "$o"; }

declare -A R # results: R[name.key]
FAILS=()
HZ="$(getconf CLK_TCK)"

median() { sort -g | awk '{v[NR]=$1} END{if (NR == 0) print 0; else if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
# CPU ticks: "busy total" of the machine, utime+stime of a process, and of this shell's waited-for
# children (from a file written by `times`, which must run in this shell, not a subshell).
machine_ticks() { awk '/^cpu /{b=$2+$3+$4+$7+$8+$9; print b, b+$5+$6; exit}' /proc/stat; }
proc_ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
child_ticks() { awk -v hz="$HZ" 'NR==2 {split($1,u,/[ms]/); split($2,s,/[ms]/); printf "%d\n", (u[1]*60+u[2]+s[1]*60+s[2])*hz}' "$1"; }

# run_wrk NAME PID URL [scenario.lua args...]: runs wrk $REPEAT times (a single-use pool=FILE
# becomes FILE.1, FILE.2, … one per run), samples the RSS of PID, and stores the medians of
# req/s, p50 and p99, the server's CPU use and the machine's CPU use by other processes.
# LOGINS=N in the environment runs a login burst of N in flight beside every run.
run_wrk() {
  local name=$1 pid=$2 url=$3
  shift 3
  local samp="$RUN/rss-$name.txt" perfstat="$RUN/perfstat-$name.txt" rep once=0 a
  for a in "$@"; do [ "$a" = mode=once ] && once=1; done
  : >"$samp"
  local rps=() p50=() p99=() cpu=() other=() logins=() requests=0 syncs=0 bad="" exhausted=0
  local r_rps=() r_p50=() r_p99=() t_rps=()
  for ((rep = 1; rep <= REPEAT; rep++)); do
    local log="$RUN/wrk-$name.$rep.log" args=() targs=() tline=""
    for a in "$@"; do
      if [ "$once" = 1 ] && [ "${a#pool=}" != "$a" ]; then args+=("$a.$rep"); else args+=("$a"); fi
    done
    args+=("nthreads=$WRK_THREADS")
    if [ -n "${PAIR_URL:-}" ]; then
      # The baseline, measured right before this run (background load drifts over minutes),
      # with the very same requests: same method, path, headers, body and pool of tokens, so
      # wrk does the same work on both sides and the ratio compares the servers alone. The
      # trivial server answers its fixed body to all of them; a single-use pool is walked
      # round and round, since nothing is used up there.
      for a in "${args[@]}"; do [ "$a" = mode=once ] && targs+=(mode=cycle) || targs+=("$a"); done
      wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 10s -s "$SCENARIO_LUA" \
        "$PAIR_URL" -- "${targs[@]}" >"$RUN/wrk-$name.trivial.$rep.log" 2>&1 || true
      tline="$(grep '^RESULT ' "$RUN/wrk-$name.trivial.$rep.log" | tail -1)"
    fi
    [ "$QUICK" = 1 ] && args+=("strict=1")
    (while kill -0 "$pid" 2>/dev/null; do rss "$pid"; sleep 0.2; done) >>"$samp" &
    local sampler=$! perfpid="" recpid="" lp=""
    if [ "$QUICK" = 0 ] && [ -n "${COUNT_SYNCS:-}" ] && command -v perf >/dev/null; then
      perf stat -x, -e 'syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync' -p "$pid" \
        -o "$perfstat.$rep" 2>/dev/null &
      perfpid=$!
    fi
    if [ "$PROFILE" = 1 ] && [ -n "${PROFILE_THIS:-}" ] && [ "$rep" = 1 ]; then
      perf record -g -F 999 -p "$pid" -o "$RUN/perf-$name.data" >/dev/null 2>&1 &
      recpid=$!
    fi
    if [ -n "${LOGINS:-}" ]; then
      wrk -t1 -c"$LOGINS" -d"$((DURATION + 1))s" --timeout 20s -s "$SCENARIO_LUA" "$BASE" -- \
        method=POST path=/oauth/authorize cookie="wattle_bid=$LOGIN_BID" body="$LOGIN_BODY" \
        nthreads=1 >"$RUN/wrk-$name-logins.$rep.log" 2>&1 &
      lp=$!
      sleep 0.5
    fi
    local m0 s0 c0 m1 s1 c1
    times >"$RUN/.times0"
    m0="$(machine_ticks)"; s0="$(proc_ticks "$pid")"
    wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 10s -s "$SCENARIO_LUA" "$url" \
      -- "${args[@]}" >"$log" 2>&1 || true
    m1="$(machine_ticks)"; s1="$(proc_ticks "$pid")"
    times >"$RUN/.times1"
    c0="$(child_ticks "$RUN/.times0")"; c1="$(child_ticks "$RUN/.times1")"
    [ -n "$perfpid" ] && { kill -INT "$perfpid" 2>/dev/null; wait "$perfpid" 2>/dev/null || true; }
    [ -n "$recpid" ] && { kill -INT "$recpid" 2>/dev/null; wait "$recpid" 2>/dev/null || true; }
    if [ -n "$lp" ]; then
      wait "$lp" 2>/dev/null || true
      logins+=("$(sed -n 's/^RESULT .* rps=\([0-9.]*\).*/\1/p' "$RUN/wrk-$name-logins.$rep.log")")
    fi
    kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
    local line; line="$(grep '^RESULT ' "$log" | tail -1)"
    if [ -z "$line" ]; then
      say "  $name: wrk gave no result (log: $log)"; tail -5 "$log" >&2
      bad="wrk failed"; continue
    fi
    local -A W=()
    local kv
    for kv in ${line#RESULT }; do W[${kv%%=*}]="${kv#*=}"; done
    rps+=("${W[rps]}"); p50+=("${W[p50_us]}"); p99+=("${W[p99_us]}")
    if [ -n "$tline" ]; then
      local -A TW=()
      for kv in ${tline#RESULT }; do TW[${kv%%=*}]="${kv#*=}"; done
      t_rps+=("${TW[rps]}")
      r_rps+=("$(awk -v a="${W[rps]}" -v b="${TW[rps]}" 'BEGIN{print (b > 0) ? a/b : 0}')")
      r_p50+=("$(awk -v a="${W[p50_us]}" -v b="${TW[p50_us]}" 'BEGIN{print (b > 0) ? a/b : 0}')")
      r_p99+=("$(awk -v a="${W[p99_us]}" -v b="${TW[p99_us]}" 'BEGIN{print (b > 0) ? a/b : 0}')")
    fi
    requests=$((requests + W[requests]))
    # machine: busy and total ticks; the server's and wrk's (our children's) share is ours
    local mb0=${m0% *} mt0=${m0#* } mb1=${m1% *} mt1=${m1#* }
    local dt=$((mt1 - mt0)) ds=$((s1 - s0)) dc=$((c1 - c0)) db=$((mb1 - mb0))
    local ncpu; ncpu="$(nproc)"
    cpu+=("$(awk -v s="$ds" -v t="$dt" -v n="$ncpu" 'BEGIN{if (t > 0) printf "%.0f", 100*s*n/t; else print 0}')")
    other+=("$(awk -v b="$db" -v s="$ds" -v c="$dc" -v t="$dt" 'BEGIN{o=b-s-c; if (o < 0) o=0; if (t > 0) printf "%.0f", 100*o/t; else print 0}')")
    [ "${W[requests]}" -gt 0 ] || bad="no request was served"
    [ "${W[status_errors]}" = 0 ] || bad="${W[status_errors]} responses were 4xx/5xx"
    [ "${W[non2xx]}" = 0 ] || bad="${W[non2xx]} responses were not 2xx"
    [ "${W[errors]}" = 0 ] || bad="${bad:+$bad; }${W[errors]} socket errors/timeouts"
    [ "${W[exhausted]}" != 0 ] && exhausted=1
    if [ -f "$perfstat.$rep" ]; then
      syncs=$((syncs + $(awk -F, '/syscalls:sys_enter_f/ {s+=$1} END{print s+0}' "$perfstat.$rep")))
    fi
  done
  local end; end="$(rss "$pid")"
  echo "$end" >>"$samp" # the maximum includes the end
  R[$name.status]="ok"
  if [ "${#rps[@]}" = 0 ]; then
    R[$name.status]="fail"; FAILS+=("$name: $bad"); return 0
  fi
  R[$name.rps]="$(printf '%s\n' "${rps[@]}" | median)"
  R[$name.p50_us]="$(printf '%s\n' "${p50[@]}" | median)"
  R[$name.p99_us]="$(printf '%s\n' "${p99[@]}" | median)"
  R[$name.cpu]="$(printf '%s\n' "${cpu[@]}" | median)"
  R[$name.other]="$(printf '%s\n' "${other[@]}" | median)"
  R[$name.runs]="$(printf '%.0f ' "${rps[@]}")"
  local i
  R[$name.runs_other]=""
  for i in "${!rps[@]}"; do R[$name.runs_other]+="$(printf '%.0f' "${rps[$i]}") (${other[$i]}%) "; done
  R[$name.p50s]="${p50[*]}"
  R[$name.p99s]="${p99[*]}"
  if [ "${#r_rps[@]}" -gt 0 ]; then
    R[$name.r_rps]="$(printf '%s\n' "${r_rps[@]}" | median)"
    R[$name.r_p50]="$(printf '%s\n' "${r_p50[@]}" | median)"
    R[$name.r_p99]="$(printf '%s\n' "${r_p99[@]}" | median)"
    R[$name.t_rps]="$(printf '%s\n' "${t_rps[@]}" | median)"
  fi
  R[$name.requests]="$requests"
  [ "${#logins[@]}" -gt 0 ] && R[$name.logins]="$(printf '%s\n' "${logins[@]}" | median)"
  R[$name.anon_end]="${end% *}"
  R[$name.file_end]="${end#* }"
  R[$name.anon_max]="$(awk 'BEGIN{m=0} {if ($1>m) m=$1} END{print m}' "$samp")"
  [ "$syncs" -gt 0 ] && R[$name.syncs]="$syncs"
  if [ -n "$bad" ]; then
    R[$name.status]="fail"
    FAILS+=("$name: $bad (logs: $RUN/wrk-$name.*.log)")
  fi
  [ "$exhausted" = 1 ] && R[$name.note]="pool ran out: rate is a lower bound (raise --pool)"
  say "$(printf '  %-20s %8.0f req/s  p50 %7.3f ms  p99 %7.3f ms  server CPU %3s%%  other load %3s%%  RssAnon %s MB%s  %s' "$name" \
    "${R[$name.rps]}" "$(awk -v u="${R[$name.p50_us]}" 'BEGIN{print u/1000}')" \
    "$(awk -v u="${R[$name.p99_us]}" 'BEGIN{print u/1000}')" "${R[$name.cpu]}" "${R[$name.other]}" \
    "$(mb "${R[$name.anon_end]}")" "${R[$name.r_rps]:+  (× trivial: ${R[$name.r_rps]})}" "${bad:-}")"
  return 0
}
