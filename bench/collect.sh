#!/bin/bash
# bench/collect.sh - how fast `relayguard collect --once` stores a log,
# beside `relayguard parse` on the same file in the same run; database size
# per million lines; peak RSS of both. Target: collect at least half of
# parse's lines per second.
#
# Usage: bench/collect.sh [--lines N]      (default 1000000; the log comes
#                                           from bench/parse.sh's generator)
# Environment: RELAYGUARD (default build/relayguard).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rg=${RELAYGUARD:-$top/build/relayguard}
lines=1000000
while [ $# -gt 0 ]; do
    case $1 in
    --lines) lines=$2; shift 2 ;;
    *) sed -n '/^# Usage:/,/^# Environment/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64 ;;
    esac
done
"$top/scripts/install-deps" bench >/dev/null
read -r LOG REPS PER < <("$top/bench/parse.sh" --generate-only --lines "$lines")
total=$((REPS * PER))
work=$(mktemp -d /tmp/rg-bench-collect.XXXXXX)
trap 'rm -rf "$work"' EXIT
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
measure() {    # measure NAME CMD...: sets SECS and RSS (KiB)
    local name=$1 t0 t1; shift
    t0=$EPOCHREALTIME
    /usr/bin/time -f '%M' -o "$work/time.$name" "$@" > "$work/out.$name"
    t1=$EPOCHREALTIME
    SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    RSS=$(tail -n 1 "$work/time.$name")
}
measure parse "$rg" -c "$work/rg.ini" parse "$LOG"
p_s=$SECS p_rss=$RSS
measure collect "$rg" -c "$work/rg.ini" collect --once --quiet
c_s=$SECS c_rss=$RSS
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
size=$(( $(stat -c %s "$work/rg.db") + $(stat -c %s "$work/rg.db-wal" 2>/dev/null || echo 0) ))
rows=$(sqlite3 "$work/rg.db" "SELECT count(*) FROM messages")
echo "log: $LOG ($total lines)"
printf '%-9s %9s %12s %9s\n' tool seconds lines/s "rss MiB"
printf '%-9s %9s %12s %9.1f\n' parse "$p_s" "$(rate "$total" "$p_s")" "$(awk -v k="$p_rss" 'BEGIN{print k/1024}')"
printf '%-9s %9s %12s %9.1f\n' collect "$c_s" "$(rate "$total" "$c_s")" "$(awk -v k="$c_rss" 'BEGIN{print k/1024}')"
echo "collect is $(awk -v a="$p_s" -v b="$c_s" 'BEGIN { printf "%.2f", a / b }') x parse's speed (target >= 0.5)"
echo "database: $(awk -v b="$size" 'BEGIN { printf "%.1f", b / 1048576 }') MiB, $(awk -v b="$size" -v n="$total" 'BEGIN { printf "%.1f", b / 1048576 / n * 1000000 }') MiB per million lines; $rows message rows; parse wrote $(wc -l < "$work/out.parse") records"
