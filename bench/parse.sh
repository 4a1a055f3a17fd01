#!/bin/bash
# bench/parse.sh - how fast relayguard parses, and in how much memory.
#
# Builds a big log in genuine Postfix format by repeating the project's own
# sample (samples/relay.log, real Postfix output) with fresh queue IDs and
# advancing timestamps, then runs on that one file, side by side, RUNS times
# each in turn, every other round in the reverse order (medians are
# reported)
#   relayguard parse FILE > out          the thing measured
#   relayguard parse --stats FILE        the same without JSON
#   grep -c status= FILE > out           a lower bound: reading the file at all
# and once pflogsumm FILE > out (the usual Postfix log summarizer), with
# wall-clock and CPU seconds (user + system: the machine may be shared),
# peak RSS, the targets (parse at most 3x grep's time, --stats
# at most 2x; peak RSS < 64 MiB), heap allocations per line (an LD_PRELOAD
# counter, bench/malloc_count.c), and checks relayguard's record count
# against repetitions x records of one pass of the sample.
#
# Usage: bench/parse.sh [--lines N] [--runs N] [--base BIN] [--source LOG]
#                       [--shift SECONDS] [--year Y] [--config INI] [--one-thread]
#        bench/parse.sh --flat [...]   relayguard alone on 10^5, 10^6 and
#                                      10^7 lines: peak RSS of each
#        bench/parse.sh --profile [...] instructions per line (perf stat, or
#                                      valgrind's callgrind on 10^5 lines)
#        bench/parse.sh --generate-only [--lines N]   print "LOG PASSES LINES"
# Environment: RELAYGUARD (the binary, default build/relayguard).
# --base BIN measures another binary (an older commit) in the same rounds;
# --one-thread also relayguard parse --threads 1 (the front end not in a
# thread of its own).
#
# Generated logs are cached in bench/out/ (gitignored), keyed by line count
# (and regenerated when the sample, the shift or the generator changed).
# See bench/README.md.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/bench/out
rg=${RELAYGUARD:-$top/build/relayguard}
lines=1000000
flat=0
source=$top/samples/relay.log
shift_s=60
year=2026
config=
runs=5
base=
one=0
GEN_VERSION=1

usage() {
    sed -n '/^# Usage:/,/^# Environment/p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 64
}
while [ $# -gt 0 ]; do
    case $1 in
    --lines) lines=$(python3 -c 'import sys; print(int(float(sys.argv[1])))' "$2"); shift 2 ;;
    --flat) flat=1; shift ;;
    --generate-only) flat=gen; shift ;;
    --profile) flat=profile; shift ;;
    --runs) runs=$2; shift 2 ;;
    --base) base=$2; shift 2 ;;
    --one-thread) one=1; shift ;;
    --source) source=$2; shift 2 ;;
    --shift) shift_s=$2; shift 2 ;;
    --year) year=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "bench/parse.sh: unknown argument '$1'" >&2; usage ;;
    esac
done
case $lines in ''|*[!0-9]*) echo "bench/parse.sh: --lines wants a number" >&2; exit 64 ;; esac
[ "$lines" -ge 1 ] || { echo "bench/parse.sh: --lines must be at least 1" >&2; exit 64; }

# --- what the benchmark needs --------------------------------------------

if [ ! -f "$source" ]; then
    echo "bench/parse.sh: no sample log $source (make it with samples/make-samples.sh," >&2
    echo "  or pass --source with another real Postfix log)" >&2
    exit 66
fi
if [ ! -x /usr/bin/time ] || ! command -v pflogsumm >/dev/null; then
    "$top/scripts/install-deps" bench
fi
if [ ! -x "$rg" ]; then
    make -C "$top" --no-print-directory build/relayguard >&2
fi
mkdir -p "$out"
rgargs=(parse --year "$year" --tz UTC)
[ -n "$config" ] && rgargs=(-c "$config" "${rgargs[@]}")

# --- the generator ---------------------------------------------------------

# gen N FILE - write at least N lines (whole passes of the sample) to FILE
gen() {
    python3 - "$source" "$1" "$2" "$shift_s" "$year" <<'PY'
import calendar, re, sys, time

src, want, dest, shift, year = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
MON = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
HDR = re.compile(r'^([A-Z][a-z]{2}) ([ 0-9]\d) (\d\d):(\d\d):(\d\d) (\S+) ([^\s\[]+)\[(\d+)\]: (.*)$')
QID_AT = re.compile(r'^([0-9A-F]{6,15}): ')
QID_REF = re.compile(r'(?:queued as |notification: |queue_id=|orig_queue_id=)([0-9A-F]{6,15})\b')
# long-lived daemons keep their pid from pass to pass; the others get new ones
KEEP_PID = {"master", "qmgr", "anvil", "tlsmgr", "scache", "postscreen", "verify"}

recs, qids, dropped = [], set(), 0
with open(src, encoding="utf-8", errors="surrogateescape") as f:
    for line in f:
        m = HDR.match(line.rstrip("\n"))
        if not m:
            dropped += 1          # not a classic syslog line: no time to shift
            continue
        mon, day, H, M, S, host, prog, pid, msg = m.groups()
        t = calendar.timegm((year, MON.index(mon) + 1, int(day), int(H), int(M), int(S)))
        recs.append((t, day[0] == " ", host, prog, int(pid), msg))
        q = QID_AT.match(msg)
        if q:
            qids.add(q.group(1))
        qids.update(QID_REF.findall(msg))
if not recs:
    sys.exit("gen: no syslog lines in %s" % src)
if dropped:
    print("gen: skipped %d lines without a classic syslog header" % dropped, file=sys.stderr)
for a, b in zip(recs, recs[1:]):
    if b[0] < a[0]:
        print("gen: warning: the sample's own timestamps go backwards", file=sys.stderr)
        break

per = len(recs)
reps = -(-want // per)
t0, span = recs[0][0], recs[-1][0] - recs[0][0]
ystart = calendar.timegm((year, 1, 1, 0, 0, 0))
yend = calendar.timegm((year + 1, 1, 1, 0, 0, 0)) - 1
if shift <= span:
    shift = span + 1
# stay inside the year: start earlier if needed, then shift less if needed
base = t0
if base + (reps - 1) * shift + span > yend:
    base = yend - span - (reps - 1) * shift
    if base < ystart:
        base = ystart
        shift = (yend - ystart - span) // max(reps - 1, 1)
        if shift <= span:
            sys.exit("gen: %d passes of a %d s sample do not fit in one year" % (reps, span))
        print("gen: %d passes: shift cut to %d s to stay inside %d" % (reps, shift, year), file=sys.stderr)
delta0 = base - t0

# one pass as a %-template: times, queue IDs, pids and message-ids are fields
qre = re.compile(r'\b(' + '|'.join(sorted(map(re.escape, qids), key=len, reverse=True)) + r')\b') if qids else None
qlist = sorted(qids)
qidx = {q: i for i, q in enumerate(qlist)}
tlist = sorted({r[0] for r in recs})
tidx = {t: i for i, t in enumerate(tlist)}
plist = sorted({r[4] for r in recs if r[3].rsplit("/", 1)[-1] not in KEEP_PID})
pidx = {p: i for i, p in enumerate(plist)}
mre = re.compile(r'(message-id=<)')
parts = []
for t, spaced, host, prog, pid, msg in recs:
    msg = msg.replace("%", "%%")
    if qre is not None:
        msg = qre.sub(lambda m: "%%(q%d)s" % qidx[m.group(1)], msg)
    msg = mre.sub(r"\1%(mid)s", msg)
    p = "%%(p%d)s" % pidx[pid] if pid in pidx else str(pid)
    parts.append("%%(t%d%s)s %s %s[%s]: %s\n" % (tidx[t], "s" if spaced else "", host.replace("%", "%%"), prog.replace("%", "%%"), p, msg))
tmpl = "".join(parts)

# fresh IDs: a bijection of a counter onto [0, 16^len), so never a repeat
A = 0x9E3779B97F4A7C15
def fresh(n, length):
    return "%0*X" % (length, (n * A + 0x5DEECE66D) % (16 ** length))

counter = 0
with open(dest, "w", encoding="utf-8", errors="surrogateescape", buffering=1 << 20) as w:
    for rep in range(reps):
        d = {}
        off = delta0 + rep * shift
        for i, t in enumerate(tlist):
            g = time.gmtime(t + off)
            d["t%d" % i] = "%s %02d %02d:%02d:%02d" % (MON[g.tm_mon - 1], g.tm_mday, g.tm_hour, g.tm_min, g.tm_sec)
            d["t%ds" % i] = "%s %2d %02d:%02d:%02d" % (MON[g.tm_mon - 1], g.tm_mday, g.tm_hour, g.tm_min, g.tm_sec)
        for i, q in enumerate(qlist):
            d["q%d" % i] = fresh(counter, len(q))
            counter += 1
        for i, p in enumerate(plist):
            d["p%d" % i] = str(1000 + (p - 1000 + rep * 131) % 4000000)
        d["mid"] = "b%d." % rep
        w.write(tmpl % d)
first = time.gmtime(t0 + delta0)
last = time.gmtime(recs[-1][0] + delta0 + (reps - 1) * shift)
print("gen: %d passes x %d lines = %d lines, %d queue IDs a pass, every %d s, %s .. %s"
      % (reps, per, reps * per, len(qlist), shift, time.strftime("%b %d %H:%M:%S", first),
         time.strftime("%b %d %H:%M:%S %Y", last)), file=sys.stderr)
print(reps, per)
PY
}

# logfile N - the cached log of at least N lines; sets LOG, REPS, PER
logfile() {
    local n=$1 key
    LOG=$out/postfix-$n.log
    key="v$GEN_VERSION $(sha1sum < "$source" | cut -c1-40) shift=$shift_s year=$year"
    if [ -f "$LOG" ] && [ -f "$LOG.meta" ] && [ "$(head -n 1 "$LOG.meta")" = "$key" ]; then
        read -r REPS PER < <(sed -n 2p "$LOG.meta")
        return
    fi
    echo "generating $LOG ..." >&2
    rm -f "$LOG" "$LOG.meta"
    read -r REPS PER < <(gen "$n" "$LOG.tmp")
    mv "$LOG.tmp" "$LOG"
    printf '%s\n%s %s\n' "$key" "$REPS" "$PER" > "$LOG.meta"
}

# measure NAME CMD... - run CMD under /usr/bin/time with stdout to out.NAME
# and stderr to err.NAME; sets SECS (wall clock, bash's microsecond clock),
# CPU (user + system seconds, %U + %S) and RSS (peak, KiB, %M)
measure() {
    local name=$1 t0 t1 tf u s
    shift
    tf=$out/time.$name
    # the previous tool's output (100 MiB of JSON, a database) written
    # back now, not by the kernel in the middle of this one's run; and
    # this one's output file removed before, not truncated by the
    # redirection inside the timed run (freeing 100 MiB of written
    # blocks made `parse > file` 0.1 s slower)
    rm -f "$out/out.$name"
    sync
    t0=$EPOCHREALTIME
    /usr/bin/time -f '%U %S %M' -o "$tf" "$@" > "$out/out.$name" 2> "$out/err.$name" || {
        echo "bench/parse.sh: $name failed (exit $?)" >&2; cat "$tf" "$out/err.$name" >&2; return 1; }
    t1=$EPOCHREALTIME
    SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    read -r u s RSS < <(tail -n 1 "$tf")
    CPU=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
}

# median V... - the median of numbers
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }'; }

# records_per_pass - relayguard's records for one pass of the sample
records_per_pass() {
    logfile 1
    "$rg" "${rgargs[@]}" "$LOG" | wc -l
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "inf" }'; }

# --- --generate-only: make (or find) the log, print its path -------------

if [ "$flat" = gen ]; then
    logfile "$lines"
    echo "$LOG $REPS $PER"
    exit 0
fi

# --- --flat: memory against input size --------------------------------------

if [ "$flat" = 1 ]; then
    per_pass=$(records_per_pass)
    printf '%-10s %8s %9s %12s %10s %9s %9s %10s %9s %s\n' lines passes seconds lines/s \
        "rss MiB" records expected incomplete stale "open at end"
    # an older binary's --stats writes the JSON anyway and has no --json
    statsargs=(--stats)
    "$rg" parse --help 2>&1 | grep -q -- --json && statsargs+=(--json)
    for n in 100000 1000000 10000000; do
        logfile "$n"
        total=$((REPS * PER))
        cat "$LOG" > /dev/null    # from the page cache, like the others
        # --stats (on stderr) tells how many messages were still open at the end
        # --stats --json: the records, and (on stderr) how many messages
        # were still open at the end
        measure flat "$rg" "${rgargs[@]}" "${statsargs[@]}" "$LOG"
        recs=$(wc -l < "$out/out.flat")
        inc=$(grep -c '"complete":false' "$out/out.flat" || true)
        stale=$(grep -c '"stale":true' "$out/out.flat" || true)
        open=$(grep -o 'open messages [0-9]*, open sessions [0-9]*' "$out/err.flat" | sed 's/open //g' || true)
        printf '%-10s %8s %9s %12s %10s %9s %9s %10s %9s %s\n' "$total" "$REPS" "$SECS" \
            "$(rate "$total" "$SECS")" "$(mib "$RSS")" "$recs" "$((REPS * per_pass))" "$inc" "$stale" "${open:-?}"
        rm -f "$out/out.flat"
    done
    echo "target: peak RSS < 64 MiB at every size, and about the same at 10^6 and 10^7"
    exit 0
fi

# --- --profile: instructions per line --------------------------------------

if [ "$flat" = profile ]; then
    logfile "$lines"
    total=$((REPS * PER))
    bins=("$rg")
    [ -n "$base" ] && bins+=("$base")
    for b in "${bins[@]}"; do
        echo "== $b"
        if perf stat -e instructions,cache-misses true 2>&1 | grep -q '<not supported>' \
                || ! command -v perf >/dev/null; then
            # no hardware counters here (a VM): count with callgrind
            small=$lines; [ "$small" -gt 100000 ] && small=100000
            logfile "$small"
            n=$((REPS * PER))
            valgrind --tool=callgrind --cache-sim=yes --callgrind-out-file="$out/callgrind.out" \
                "$b" "${rgargs[@]}" "$LOG" > /dev/null 2> "$out/callgrind.err"
            ir=$(sed -n 's/.*I *refs: *//p' "$out/callgrind.err" | tr -d ,)
            d1=$(sed -n 's/.*D1  misses: *\([0-9,]*\).*/\1/p' "$out/callgrind.err" | tr -d ,)
            ll=$(sed -n 's/.*LL misses: *\([0-9,]*\).*/\1/p' "$out/callgrind.err" | tr -d ,)
            echo "callgrind, $n lines: $ir instructions, $(awk -v i="$ir" -v n="$n" 'BEGIN { printf "%.0f", i / n }') a line;" \
                "simulated cache misses a line: D1 $(awk -v i="$d1" -v n="$n" 'BEGIN { printf "%.1f", i / n }')," \
                "last level $(awk -v i="$ll" -v n="$n" 'BEGIN { printf "%.2f", i / n }')"
            callgrind_annotate "$out/callgrind.out" 2>/dev/null | sed -n '/^Ir/,$p' | sed -n '3,17p'
            logfile "$lines"
        else
            perf stat -e instructions,cycles,cache-misses,page-faults "$b" "${rgargs[@]}" "$LOG" 2>&1 > /dev/null \
                | grep -E 'instructions|cycles|cache-misses|page-faults'
        fi
    done
    exit 0
fi

# --- the comparison -------------------------------------------------------

per_pass=$(records_per_pass)
logfile "$lines"
total=$((REPS * PER))
echo "log: $LOG"
echo "     $total lines = $REPS passes x $PER lines of $(basename "$source"), $(du -m "$LOG" | cut -f1) MiB"
cat "$LOG" > /dev/null    # warm the page cache so that no tool pays for the disk

# the allocation counter (an LD_PRELOAD library)
mc=$out/malloc_count.so
if [ ! -f "$mc" ] || [ "$top/bench/malloc_count.c" -nt "$mc" ]; then
    cc -O2 -shared -fPIC -o "$mc" "$top/bench/malloc_count.c" -ldl
fi

# the CPUs' cache-line round trip (bench/pingpong.c): whether the two
# threads of a parse can hand lines over cheaply on this machine now
pp=$out/pingpong
if [ ! -x "$pp" ] || [ "$top/bench/pingpong.c" -nt "$pp" ] || [ "$top/common/cpuprobe.c" -nt "$pp" ]; then
    cc -O2 -pthread -o "$pp" "$top/bench/pingpong.c" "$top/common/cpuprobe.c" || pp=
fi
roundtrip() { if [ -n "$pp" ]; then "$pp"; else echo "n/a"; fi; }

tools=(parse stats grep)
[ -n "$base" ] && tools+=(base base_stats)
[ "$one" = 1 ] && tools+=(one one_stats)
declare -A W C R
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs); a cache line's round trip between two CPUs: $(roundtrip)"
# every other round in the reverse order: on a VM a run's time can depend
# on the run before it, and a fixed order would charge that to one tool
rtools=()
for ((k = ${#tools[@]} - 1; k >= 0; k--)); do rtools+=("${tools[k]}"); done
for i in $(seq "$runs"); do
    if [ $((i % 2)) = 1 ]; then order=("${tools[@]}"); else order=("${rtools[@]}"); fi
    for t in "${order[@]}"; do
        case $t in
        parse) measure "$t" "$rg" "${rgargs[@]}" "$LOG" ;;
        stats) measure "$t" "$rg" "${rgargs[@]}" --stats "$LOG" ;;
        grep) measure "$t" grep -c status= "$LOG" ;;
        base) measure "$t" "$base" "${rgargs[@]}" "$LOG" ;;
        base_stats) measure "$t" "$base" "${rgargs[@]}" --stats "$LOG" ;;
        one) measure "$t" "$rg" "${rgargs[@]}" --threads 1 "$LOG" ;;
        one_stats) measure "$t" "$rg" "${rgargs[@]}" --threads 1 --stats "$LOG" ;;
        esac
        W[$t]+=" $SECS" C[$t]+=" $CPU" R[$t]+=" $RSS"
    done
done
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg); the round trip: $(roundtrip)"
measure pflogsumm pflogsumm "$LOG"
pf_s=$SECS pf_c=$CPU pf_rss=$RSS

declare -A MW MC MR
for t in "${tools[@]}"; do
    # shellcheck disable=SC2086
    MW[$t]=$(median ${W[$t]}) MC[$t]=$(median ${C[$t]}) MR[$t]=$(median ${R[$t]})
done
allocs() {
    LD_PRELOAD=$mc "$@" "$LOG" 2>&1 > /dev/null | sed -n 's/^malloc_count: allocations \([0-9]*\).*/\1/p'
}
al_parse=$(allocs "$rg" "${rgargs[@]}")
[ -n "$base" ] && al_base=$(allocs "$base" "${rgargs[@]}")

ok() { if [ "$1" = 1 ]; then echo ok; else echo MISSED; fi; }
within() { awk -v a="$1" -v b="$2" -v k="$3" 'BEGIN { print (a <= k * b) ? 1 : 0 }'; }

echo
echo "medians of $runs rounds (each round runs every tool once, in turn, every other round in reverse); pflogsumm once"
printf '%-16s %9s %9s %12s %9s %10s %10s\n' tool "wall s" "cpu s" lines/s "rss MiB" "x grep" "x grep cpu"
for t in "${tools[@]}"; do
    label=$t
    case $t in
    parse) label="parse > file" ;; stats) label="parse --stats" ;; grep) label="grep -c status=" ;;
    base) label="base > file" ;; base_stats) label="base --stats" ;;
    one) label="1 thread > file" ;; one_stats) label="1 thread --stats" ;;
    esac
    printf '%-16s %9s %9s %12s %9s %10s %10s\n' "$label" "${MW[$t]}" "${MC[$t]}" "$(rate "$total" "${MW[$t]}")" \
        "$(mib "${MR[$t]}")" "$(ratio "${MW[$t]}" "${MW[grep]}")" "$(ratio "${MC[$t]}" "${MC[grep]}")"
done
printf '%-16s %9s %9s %12s %9s %10s %10s\n' pflogsumm "$pf_s" "$pf_c" "$(rate "$total" "$pf_s")" "$(mib "$pf_rss")" \
    "$(ratio "$pf_s" "${MW[grep]}")" "$(ratio "$pf_c" "${MC[grep]}")"
echo
echo "targets (wall clock, medians side by side):"
echo "  parse > file  <= 3 x grep: $(ratio "${MW[parse]}" "${MW[grep]}") x, $(ok "$(within "${MW[parse]}" "${MW[grep]}" 3)") (cpu: $(ratio "${MC[parse]}" "${MC[grep]}") x)"
echo "  parse --stats <= 2 x grep: $(ratio "${MW[stats]}" "${MW[grep]}") x, $(ok "$(within "${MW[stats]}" "${MW[grep]}" 2)") (cpu: $(ratio "${MC[stats]}" "${MC[grep]}") x)"
echo "  peak RSS < 64 MiB: $(mib "${MR[parse]}") MiB, $(ok "$(within "${MR[parse]}" 65536 0.99999)")"
echo "allocations (malloc, calloc, realloc) a line: parse $(ratio "$al_parse" "$total")${base:+, base $(ratio "$al_base" "$total")}"
if [ -s "$out/err.stats" ] && [ ! -s "$out/out.stats" ]; then
    echo "--stats wrote no JSON; it says: $(grep '^records:' "$out/err.stats")"
else
    echo "--stats wrote $(wc -c < "$out/out.stats") bytes on standard output"
fi

recs=$(wc -l < "$out/out.parse")
inc=$(grep -c '"complete":false' "$out/out.parse" || true)
stale=$(grep -c '"stale":true' "$out/out.parse" || true)
expected=$((REPS * per_pass))
echo
echo "records: relayguard wrote $recs; expected $expected = $REPS passes x $per_pass records of one pass: $( [ "$recs" = "$expected" ] && echo ok || echo MISMATCH)"
echo "         of them complete:false $inc (stale, dropped after max_message_age: $stale)"
if [ -n "$base" ]; then
    cmp -s "$out/out.parse" "$out/out.base" && echo "         the same bytes as $base's" || echo "         DIFFERENT from $base's"
fi
if [ "$one" = 1 ]; then
    cmp -s "$out/out.parse" "$out/out.one" && echo "         the same bytes as --threads 1" || echo "         DIFFERENT from --threads 1"
fi
# A missed target is a figure to report, not a failure of the run; a wrong
# record count is: the measurement would not be of a working parser.
[ "$recs" = "$expected" ]
