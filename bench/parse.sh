#!/bin/bash
# bench/parse.sh - how fast relayguard parses, and in how much memory.
#
# Builds a big log in genuine Postfix format by repeating the project's own
# sample (samples/relay.log, real Postfix output) with fresh queue IDs and
# advancing timestamps, then runs on that one file
#   relayguard parse FILE > out      the thing measured
#   grep -c status= FILE > out       a lower bound: reading the file at all
#   pflogsumm FILE > out             the usual Postfix log summarizer
# under /usr/bin/time and prints lines per second and peak RSS of each, with
# the targets (relayguard at least 1/3 of grep's lines/s; peak RSS < 64 MiB),
# and checks relayguard's record count against repetitions x records of one
# pass of the sample.
#
# Usage: bench/parse.sh [--lines N] [--source LOG] [--shift SECONDS] [--year Y]
#                       [--config INI]
#        bench/parse.sh --flat [...]   relayguard alone on 10^5, 10^6 and
#                                      10^7 lines: peak RSS of each
#        bench/parse.sh --generate-only [--lines N]   print "LOG PASSES LINES"
# Environment: RELAYGUARD (the binary, default build/relayguard).
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

# measure NAME CMD... - run CMD under /usr/bin/time with stdout to a file;
# sets SECS (wall clock, microsecond clock of bash) and RSS (KiB)
measure() {
    local name=$1 t0 t1 tf
    shift
    tf=$out/time.$name
    t0=$EPOCHREALTIME
    /usr/bin/time -f '%e %M' -o "$tf" "$@" > "$out/out.$name" || {
        echo "bench/parse.sh: $name failed (exit $?)" >&2; cat "$tf" >&2; return 1; }
    t1=$EPOCHREALTIME
    SECS=$(python3 -c 'import sys; print("%.3f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$t0" "$t1")
    RSS=$(awk 'END { print $2 }' "$tf")
}

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
    for n in 100000 1000000 10000000; do
        logfile "$n"
        total=$((REPS * PER))
        cat "$LOG" > /dev/null    # from the page cache, like the others
        # --stats (on stderr) tells how many messages were still open at the end
        measure flat "$rg" "${rgargs[@]}" --stats "$LOG" 2> "$out/stats.flat"
        recs=$(wc -l < "$out/out.flat")
        inc=$(grep -c '"complete":false' "$out/out.flat" || true)
        stale=$(grep -c '"stale":true' "$out/out.flat" || true)
        open=$(grep -o 'open messages [0-9]*, open sessions [0-9]*' "$out/stats.flat" | sed 's/open //g' || true)
        printf '%-10s %8s %9s %12s %10s %9s %9s %10s %9s %s\n' "$total" "$REPS" "$SECS" \
            "$(rate "$total" "$SECS")" "$(mib "$RSS")" "$recs" "$((REPS * per_pass))" "$inc" "$stale" "${open:-?}"
        rm -f "$out/out.flat"
    done
    echo "target: peak RSS < 64 MiB at every size, and about the same at 10^6 and 10^7"
    exit 0
fi

# --- the comparison -------------------------------------------------------

per_pass=$(records_per_pass)
logfile "$lines"
total=$((REPS * PER))
echo "log: $LOG"
echo "     $total lines = $REPS passes x $PER lines of $(basename "$source"), $(du -m "$LOG" | cut -f1) MiB"
cat "$LOG" > /dev/null    # warm the page cache so that no tool pays for the disk

measure relayguard "$rg" "${rgargs[@]}" "$LOG"
rg_s=$SECS rg_rss=$RSS
measure grep grep -c status= "$LOG"
gr_s=$SECS gr_rss=$RSS
measure pflogsumm pflogsumm "$LOG"
pf_s=$SECS pf_rss=$RSS

rg_rate=$(rate "$total" "$rg_s")
gr_rate=$(rate "$total" "$gr_s")
pf_rate=$(rate "$total" "$pf_s")
ok() { if [ "$1" = 1 ]; then echo ok; else echo MISSED; fi; }
rate_ok=$(awk -v a="$rg_rate" -v b="$gr_rate" 'BEGIN { print (a * 3 >= b) ? 1 : 0 }')
rss_ok=$(awk -v k="$rg_rss" 'BEGIN { print (k < 64 * 1024) ? 1 : 0 }')

echo
printf '%-11s %9s %12s %9s   %s\n' tool seconds lines/s "rss MiB" target
printf '%-11s %9s %12s %9s   %s\n' relayguard "$rg_s" "$rg_rate" "$(mib "$rg_rss")" \
    "lines/s >= grep/3 = $(awk -v g="$gr_rate" 'BEGIN { printf "%.0f", g / 3 }'): $(ok "$rate_ok"); rss < 64 MiB: $(ok "$rss_ok")"
printf '%-11s %9s %12s %9s   %s\n' grep "$gr_s" "$gr_rate" "$(mib "$gr_rss")" \
    "(reference; $(cat "$out/out.grep") lines with status=)"
printf '%-11s %9s %12s %9s   %s\n' pflogsumm "$pf_s" "$pf_rate" "$(mib "$pf_rss")" "(comparison)"
echo "relayguard is $(awk -v a="$rg_rate" -v b="$gr_rate" 'BEGIN { printf "%.2f", a / b }') x grep, $(awk -v a="$rg_rate" -v b="$pf_rate" 'BEGIN { printf "%.1f", a / b }') x pflogsumm"

recs=$(wc -l < "$out/out.relayguard")
inc=$(grep -c '"complete":false' "$out/out.relayguard" || true)
stale=$(grep -c '"stale":true' "$out/out.relayguard" || true)
expected=$((REPS * per_pass))
echo
echo "records: relayguard wrote $recs; expected $expected = $REPS passes x $per_pass records of one pass: $( [ "$recs" = "$expected" ] && echo ok || echo MISMATCH)"
echo "         of them complete:false $inc (stale, dropped after max_message_age: $stale)"
# A missed target is a figure to report, not a failure of the run; a wrong
# record count is: the measurement would not be of a working parser.
[ "$recs" = "$expected" ]
