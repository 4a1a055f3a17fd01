#!/bin/bash
# bench/collect.sh - how fast `relayguard collect --once` stores a log,
# beside `relayguard parse` on the same file in the same run; database size
# per million lines next to the log's; peak RSS of both; start-up with
# about 10,000 open messages. Targets (issue 9): collect at most 2x parse's
# time, at most 64 MiB of database per million lines, RSS under 64 MiB,
# start-up (start to the first line read) under 50 ms with 10,000 open.
#
# Start-up: a log of --open-lines lines (default 320000: the generator's
# log leaves about 10,000 messages open, deferred or held, at its end) is
# collected, then `collect -vv --once` is run 5 times with nothing new,
# and 5 times on a copy of that database without open messages (the
# fixed part): the medians of what it logs ("started in N ms (M ms of CPU
# since the process started)": from the command's start to the sources
# opened at their positions, the open state restored and the first line
# read; "timing: restore"), and of the whole run's wall and CPU time
# (process start to exit, prune included).
#
# parse and collect run in turn --runs times (each collect into a new
# database), so that a load that comes and goes on a shared machine falls
# on both; the medians are printed.
#
# Usage: bench/collect.sh [--lines N] [--open-lines N] [--runs N] [--startup-only]
#                                 (the logs come from bench/parse.sh's generator)
# Environment: RELAYGUARD (default build/relayguard).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rg=${RELAYGUARD:-$top/build/relayguard}
lines=1000000
open_lines=320000
runs=3
startup_only=0
while [ $# -gt 0 ]; do
    case $1 in
    --lines) lines=$2; shift 2 ;;
    --open-lines) open_lines=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --startup-only) startup_only=1; shift ;;
    *) sed -n '/^# Usage:/,/^# Environment/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64 ;;
    esac
done
"$top/scripts/install-deps" bench >/dev/null
work=$(mktemp -d /tmp/rg-bench-collect.XXXXXX)
trap 'rm -rf "$work"' EXIT
startup() {    # the start-up with the open messages of a log's end
read -r OLOG _ _ < <("$top/bench/parse.sh" --generate-only --lines "$open_lines")
cat > "$work/open.ini" <<INI
[global]
database = $work/open.db
[parse]
year = 2026
timezone = UTC
[source postfix]
path = $OLOG
INI
"$rg" -c "$work/open.ini" collect --once --quiet
nopen=$(sqlite3 "$work/open.db" "SELECT count(*) FROM open_msgs")
# the same database and position without open messages: the fixed part
cp "$work/open.db" "$work/none.db"
sqlite3 "$work/none.db" "DELETE FROM open_msgs"
sed "s#^database = .*#database = $work/none.db#" "$work/open.ini" > "$work/none.ini"
med() { printf '%s\n' "$@" | sort -n | sed -n 3p; }
for db in open none; do
    ms=() pcpu=() rs=() wall=() cpu=()
    for i in 1 2 3 4 5; do
        t0=$EPOCHREALTIME
        /usr/bin/time -f '%U %S' -o "$work/time.open" "$rg" -vv -c "$work/$db.ini" collect --once --quiet 2> "$work/err.open"
        t1=$EPOCHREALTIME
        ms+=("$(sed -n 's/.*started in \([0-9.]*\) ms.*/\1/p' "$work/err.open")")
        m=$(sed -n 's/.*started in [0-9.]* ms (\([0-9.]*\) ms of CPU.*/\1/p' "$work/err.open")
        pcpu+=("${m:-n/a}")
        rs+=("$(sed -n 's/.*timing: restore \([0-9.]*\) s.*/\1/p' "$work/err.open" | awk '{ printf "%.1f", $1 * 1000 }')")
        cpu+=("$(awk '{ printf "%.0f", ($1 + $2) * 1000 }' "$work/time.open")")
        wall+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')")
    done
    [ $db = open ] && n=$nopen || n=0
    echo "start-up with $n open messages: $(med "${ms[@]}") ms from the command's start to the first line read (target < 50 at 10,000; runs: ${ms[*]}), of it the restore $(med "${rs[@]}") ms; $(med "${pcpu[@]}") ms of CPU from the process's start (runs: ${pcpu[*]}); a whole run with nothing new $(med "${wall[@]}") ms (runs: ${wall[*]}), $(med "${cpu[@]}") ms of CPU"
done
}
if [ "$startup_only" = 1 ]; then
    startup
    exit 0
fi
read -r LOG REPS PER < <("$top/bench/parse.sh" --generate-only --lines "$lines")
total=$((REPS * PER))
cat > "$work/rg.ini" <<INI
[global]
database = $work/rg.db
[parse]
year = 2026
timezone = UTC
[source postfix]
path = $LOG
INI
cat "$LOG" > /dev/null
measure() {    # measure NAME CMD...: sets SECS, CPU (user + sys) and RSS (KiB)
    local name=$1 t0 t1; shift
    # the previous run's output (parse's JSON, collect's database) written
    # back now: the kernel's writeback in the middle of the next run made
    # collect 0.61-0.76 s against 0.61-0.62 after a sync (2026-12-05);
    # the output file removed first, not truncated inside the timed run
    rm -f "$work/out.$name"
    sync
    t0=$EPOCHREALTIME
    /usr/bin/time -f '%U %S %M' -o "$work/time.$name" "$@" > "$work/out.$name"
    t1=$EPOCHREALTIME
    SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    read -r u sy RSS < <(tail -n 1 "$work/time.$name")
    CPU=$(awk -v a="$u" -v b="$sy" 'BEGIN { printf "%.2f", a + b }')
}
med() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
# the CPUs' cache-line round trip (bench/pingpong.c): parse's two threads
# gain from the second only when it is short, collect's writer thread
# little either way
cc -O2 -pthread -o "$work/pingpong" "$top/bench/pingpong.c" "$top/common/cpuprobe.c" 2> /dev/null || true
roundtrip() { if [ -x "$work/pingpong" ]; then "$work/pingpong"; else echo "n/a"; fi; }
rt0=$(roundtrip)
ps=() pc=() pr=() cs=() cc=() cr=() ratio=() p1s=() p1c=()
for i in $(seq "$runs"); do
    rm -f "$work/rg.db" "$work/rg.db-wal" "$work/rg.db-shm" "$work/rg.db.lock"
    measure parse "$rg" -c "$work/rg.ini" parse "$LOG"
    ps+=("$SECS") pc+=("$CPU") pr+=("$RSS")
    # parse in one thread too: two threads cost more CPU than one, which
    # would flatter the CPU ratio
    measure parse1 "$rg" -c "$work/rg.ini" parse --threads 1 "$LOG"
    p1s+=("$SECS") p1c+=("$CPU")
    measure collect "$rg" -c "$work/rg.ini" collect --once --quiet
    cs+=("$SECS") cc+=("$CPU") cr+=("$RSS")
    ratio+=("$(awk -v a="${pc[-1]}" -v b="$CPU" 'BEGIN { printf "%.2f", b / a }')")
done
p_s=$(med "${ps[@]}") p_cpu=$(med "${pc[@]}") p_rss=$(med "${pr[@]}")
c_s=$(med "${cs[@]}") c_cpu=$(med "${cc[@]}") c_rss=$(med "${cr[@]}")
p1_s=$(med "${p1s[@]}") p1_cpu=$(med "${p1c[@]}")
echo "a cache line's round trip between two CPUs: $rt0 before, $(roundtrip) after"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $runs rounds; CPU seconds parse: ${pc[*]}; collect: ${cc[*]}; collect/parse CPU by round: ${ratio[*]}"
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
size=$(( $(stat -c %s "$work/rg.db") + $(stat -c %s "$work/rg.db-wal" 2>/dev/null || echo 0) ))
rows=$(sqlite3 "$work/rg.db" "SELECT count(*) FROM messages")
echo "log: $LOG ($total lines)"
printf '%-9s %9s %9s %12s %9s\n' tool seconds cpu lines/s "rss MiB"
printf '%-9s %9s %9s %12s %9.1f\n' parse "$p_s" "$p_cpu" "$(rate "$total" "$p_s")" "$(awk -v k="$p_rss" 'BEGIN{print k/1024}')"
printf '%-9s %9s %9s %12s %9.1f\n' collect "$c_s" "$c_cpu" "$(rate "$total" "$c_s")" "$(awk -v k="$c_rss" 'BEGIN{print k/1024}')"
printf '%-9s %9s %9s %12s\n' parse-t1 "$p1_s" "$p1_cpu" "$(rate "$total" "$p1_s")"
echo "collect takes $(awk -v a="$p_s" -v b="$c_s" 'BEGIN { printf "%.2f", b / a }') x parse's time, $(awk -v a="$p_cpu" -v b="$c_cpu" 'BEGIN { printf "%.2f", b / a }') x its CPU time (target <= 2)"
echo "against parse --threads 1: $(awk -v a="$p1_s" -v b="$c_s" 'BEGIN { printf "%.2f", b / a }') x its time, $(awk -v a="$p1_cpu" -v b="$c_cpu" 'BEGIN { printf "%.2f", b / a }') x its CPU time"
lsize=$(stat -c %s "$LOG")
echo "database: $(awk -v b="$size" 'BEGIN { printf "%.1f", b / 1048576 }') MiB, $(awk -v b="$size" -v n="$total" 'BEGIN { printf "%.1f", b / 1048576 / n * 1000000 }') MiB per million lines (target <= 64; the log: $(awk -v b="$lsize" 'BEGIN { printf "%.1f", b / 1048576 }') MiB, $(awk -v b="$lsize" -v n="$total" 'BEGIN { printf "%.1f", b / 1048576 / n * 1000000 }') MiB per million lines); $rows message rows; parse wrote $(wc -l < "$work/out.parse") records"

startup
