#!/bin/bash
# tests/suites/collect_crash.sh - `relayguard collect --once` killed with
# SIGKILL at random moments, across log rotations, must store exactly what
# one uninterrupted run stores.
#
# Builds a big log (RG_CRASH_LINES, default 300000 lines) by repeating
# samples/relay.log with fresh queue IDs and advancing times (the generator
# of bench/parse.sh, read from that file; nothing is cached in the repo),
# cuts it into RG_CRASH_CHUNKS chunks (default 24) and feeds them one after
# the other into a live file (a third of them in pieces cut at random bytes,
# while the collector runs, so that it sees half-written lines), while `collect --once` (batch_lines = 500) is
# started again and again and killed with SIGKILL after a random delay of
# 0..N ms. N is measured on this machine, for each chunk: 1.3 times what
# an uninterrupted run over the same chunk (the replay's) took just before,
# at least RG_CRASH_MAXDELAY (default 100); it grows by half after every 3
# starts in a row that all were killed, so a loaded machine only makes the
# suite slower, and kills land in start-up, restore, batches and the final
# commit alike. Every 4th chunk the file is rotated
# the way logrotate's compress + delaycompress does it (maillog -> maillog.1,
# maillog.1 -> maillog.2.gz, maillog.N.gz -> maillog.N+1.gz, new empty
# maillog), every 10th twice in a row, often before the collector caught
# up, so that restarts land in renamed and compressed files. At the end the
# collector is restarted (still killed at random) until a run completes
# with every line consumed.
#
# The log spans about 32 hours of log time (a pass of the sample a minute)
# and max_message_age is 12h: the messages the sample leaves open are
# evicted to the store after 2 hours of silence (collector/assemble.c's
# evict) and ended there as stale by the sweep (store_finish_stale), so
# kills land in both.
#
# References:
#   one run   a database primed on the first chunk only, then ONE collect
#             --once over the final files (all rotations at once)
#   replay    the same chunks and rotations in another directory, one
#             uninterrupted collect --once after each chunk
#   parse     relayguard parse --sessions over all the final files, merged
#             (open rows compared without complete/aborted: see
#             tests/lib/collect_check.py)
# The killed database's dump (`relayguard dump`: the JSON rebuilt from the
# stored rows, sorted), its sessions,
# and its counts (sessions, NOQUEUE rejects, verdicts, lines) must equal
# those of the references.
#
# Environment: RELAYGUARD, RG_SEED (replay the same schedule and delays; the
# kills themselves still race the clock), RG_KEEP=1 keeps the temp folder,
# RG_CRASH_LINES, RG_CRASH_CHUNKS, RG_CRASH_MAXDELAY, RG_CRASH_MIN_KILLS (50).
# About 20-40 s.
set -u
top=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
RELAYGUARD=${RELAYGUARD:-$top/build/relayguard}
suite=collect_crash
LINES=${RG_CRASH_LINES:-300000}
CHUNKS=${RG_CRASH_CHUNKS:-24}
MAXDELAY=${RG_CRASH_MAXDELAY:-100}
MIN_KILLS=${RG_CRASH_MIN_KILLS:-50}
CHECK=$top/tests/lib/collect_check.py

if [ ! -x "$RELAYGUARD" ]; then
    echo "FAIL: $suite: no relayguard binary at $RELAYGUARD (run make)"
    exit 1
fi
if ! command -v sqlite3 >/dev/null; then
    echo "FAIL: $suite: no sqlite3 command (scripts/install-deps test)"
    exit 1
fi

work=$(mktemp -d /tmp/rg-collect-crash.XXXXXX) || exit 1
wpid=
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    # only the suite's own shell: a child (feed's, a subshell) that a
    # signal reaches before it has reset the traps it was forked with
    # would run them, and remove $work under the running suite
    [ "$BASHPID" = "$$" ] || return 0
    [ -n "$wpid" ] && kill "$wpid" 2>/dev/null
    wait 2>/dev/null
    if [ "${RG_KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap "exit 130" INT TERM HUP

# the binary may be rebuilt while the suite runs: use a copy
cp "$RELAYGUARD" "$work/relayguard" || exit 1
RELAYGUARD=$work/relayguard

seed=${RG_SEED:-$(( (RANDOM << 15 | RANDOM) % 1000000 ))}
echo "seed $seed (replay with RG_SEED=$seed tests/run $suite)"
RANDOM=$seed
t_start=$SECONDS

# ---- the log ---------------------------------------------------------------

sed -n "/<<'PY'\$/,/^PY\$/p" "$top/bench/parse.sh" | sed '1d;$d' > "$work/gen.py"
if ! grep -q 'def fresh' "$work/gen.py"; then
    echo "FAIL: $suite: could not find the log generator (the <<'PY' block) in bench/parse.sh"
    exit 1
fi
if ! python3 "$work/gen.py" "$top/samples/relay.log" "$LINES" "$work/full.log" 60 2026 \
        >/dev/null 2>"$work/gen.err"; then
    echo "FAIL: $suite: the generator failed: $(head -c 300 "$work/gen.err")"
    exit 1
fi
total=$(wc -l < "$work/full.log")
(cd "$work" && split -d -a 3 -n "l/$CHUNKS" full.log chunk.) || exit 1
chunks=("$work"/chunk.*)
echo "log: $total lines, $(du -m "$work/full.log" | cut -f1) MiB, ${#chunks[@]} chunks ($(cat "$work/gen.err"))"

mkconf() {    # mkconf INI DB LOG
    cat > "$1" <<EOF
[global]
database = $2
[parse]
year = 2026
timezone = UTC
max_message_age = 12h
[collect]
batch_lines = 500
[source pf]
type = file
path = $3
EOF
}
mkdir -p "$work/crash" "$work/replay"
mkconf "$work/crash.ini" "$work/crash.db" "$work/crash/maillog"
mkconf "$work/one.ini" "$work/one.db" "$work/crash/maillog"
mkconf "$work/replay.ini" "$work/replay.db" "$work/replay/maillog"

# rotate DIR - logrotate's "compress, delaycompress, create, rotate 99"
rotate() {
    local d=$1 i n=0
    for f in "$d"/maillog.*.gz; do
        [ -e "$f" ] || continue
        i=${f#"$d"/maillog.}; i=${i%.gz}
        [ "$i" -gt "$n" ] && n=$i
    done
    for ((i = n; i >= 2; i--)); do
        mv "$d/maillog.$i.gz" "$d/maillog.$((i + 1)).gz"
    done
    if [ -e "$d/maillog.1" ]; then
        mv "$d/maillog.1" "$d/maillog.2"
        gzip -9 "$d/maillog.2"          # keeps the mtime; .2 is gone after
    fi
    mv "$d/maillog" "$d/maillog.1"
    : > "$d/maillog"
}

# feed FILE LIVE - append FILE to LIVE in 2..4 pieces cut at random bytes,
# a few ms apart (run in the background)
feed() {
    local f=$1 live=$2 size off=0 len k pieces
    size=$(stat -c %s "$f")
    pieces=$((2 + RANDOM % 3))
    for ((k = 1; k <= pieces; k++)); do
        if [ $k = "$pieces" ]; then len=$((size - off))
        else len=$(( (size - off) * 2 * (RANDOM % 100) / (100 * (pieces - k + 1)) ))
            [ $len -gt $((size - off)) ] && len=$((size - off))
        fi
        tail -c +$((off + 1)) "$f" | head -c "$len" >> "$live"
        off=$((off + len))
        sleep "0.0$((RANDOM % 10))"
    done
}

lines_of() {    # lines_of DB - the source's line count (0 before the first commit)
    sqlite3 "$1" "SELECT coalesce(sum(lines), 0) FROM sources" 2>/dev/null || echo 0
}

# ---- the killed runs ---------------------------------------------------------

attempts=0 hits=0 hits_work=0 completed=0 bad_exit=0
: > "$work/collect.err"
# attempt - start collect --once, SIGKILL it after a random delay; sets RC.
# hits counts the kills of a running collector, hits_work those of a run
# that had already committed some of its work (the database moved on).
# attempt [MAX]: the delay is at most MAX ms (default RG_CRASH_MAXDELAY);
# run_ms is how long the last run that was not killed took
run_ms=0
# cur_max is the kill delay's current bound: 1.3 times the measured length
# of an uninterrupted run over the same work (set per chunk below), at least
# RG_CRASH_MAXDELAY; after every 3 starts in a row that were all killed it
# grows by half, whether they made progress or not (each kill may commit a
# batch or two while the whole run needs many more), so that on a slow or
# loaded machine runs still complete.
cur_max=$MAXDELAY unfinished=0 raised=0
attempt() {
    local max=${1:-$cur_max} ms before t0
    ms=$((RANDOM % (max + 1)))
    before=$(lines_of "$work/crash.db")
    [ "$ms" = 0 ] && ms=1      # (timeout 0 would never kill)
    t0=$EPOCHREALTIME
    # killed by timeout(1) (status 137) after the delay, if still running:
    # no background child of this shell (one killed before it exec'd
    # would run this shell's traps), no sleep to race with. The subshell
    # takes bash's "Killed" notice (timeout's KILL reaches timeout too).
    ( timeout -s KILL "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))" \
        "$RELAYGUARD" -c "$work/crash.ini" collect --once --quiet \
        2>>"$work/collect.err" ) 2>/dev/null
    RC=$?
    attempts=$((attempts + 1))
    if [ $RC = 137 ]; then
        # timeout's KILL reaches timeout itself, so it does not wait for
        # the collector: that one may still be exiting (its memory being
        # unmapped) when the next starts. Its lock goes with its last
        # descriptor; wait for that, not for a guessed delay.
        if ! flock -w 120 "$work/crash.db.lock" true; then
            echo "the killed collector's lock was still held 120 s later (attempt $attempts)" >> "$work/collect.err"
        fi
        hits=$((hits + 1))
        if [ "$(lines_of "$work/crash.db")" != "$before" ]; then
            hits_work=$((hits_work + 1))
        fi
        unfinished=$((unfinished + 1))
        if [ $unfinished -ge 3 ] && [ "$cur_max" -lt 600000 ]; then
            cur_max=$((cur_max * 3 / 2)); unfinished=0; raised=$((raised + 1))
        fi
    else
        unfinished=0
        completed=$((completed + 1))
        run_ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
        if [ $RC != 0 ]; then
            bad_exit=$((bad_exit + 1))
            echo "collect --once exited with status $RC (attempt $attempts)" >> "$work/collect.err"
        fi
    fi
}
# bound MS - the kill bound for work an uninterrupted run did in MS ms
bound() {
    cur_max=$(( $1 * 13 / 10 ))
    [ "$cur_max" -lt "$MAXDELAY" ] && cur_max=$MAXDELAY
    unfinished=0
}
# timed NAME - one uninterrupted collect --once of NAME.ini; sets T_MS
timed() {
    local t0=$EPOCHREALTIME
    "$RELAYGUARD" -c "$work/$1.ini" collect --once --quiet 2>>"$work/$1.err"
    T_MS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
}

fed=0
rotations=0
replay_fed=0
for ((k = 0; k < ${#chunks[@]}; k++)); do
    c=${chunks[$k]}
    n=$(wc -l < "$c")
    # the replay first: the same chunk, one uninterrupted run, whose
    # length on this machine sets the kill bound for this chunk
    cat "$c" >> "$work/replay/maillog"
    replay_fed=$((replay_fed + n))
    timed replay
    # behind: the killed runs have more than this chunk to do
    bound $((T_MS + ${behind_ms:-0}))
    if [ $k = 0 ]; then
        cat "$c" >> "$work/crash/maillog"
        # the one-run reference starts from here: the first chunk read
        timed one
        echo "a first run over one chunk took $T_MS ms: kills within 0..$cur_max ms, more while no run completes"
    elif [ $((RANDOM % 3)) = 0 ]; then
        # written while the collector runs (and is killed), in pieces
        feed "$c" "$work/crash/maillog" & wpid=$!
    else
        cat "$c" >> "$work/crash/maillog"
    fi
    # restart after every kill until a run completes after the chunk is
    # all there; before a rotation, sometimes leave the collector behind
    # (after its first kill), so that the next start must find its file
    # renamed or compressed
    behind=0
    if [ $(( (k + 1) % 4 )) = 0 ] && [ $((RANDOM % 2)) = 0 ]; then behind=1; fi
    for ((a = 0; a < 60; a++)); do
        attempt
        [ $behind = 1 ] && [ $RC = 137 ] && break
        if [ $RC != 137 ] && [ -n "$wpid" ] && ! kill -0 "$wpid" 2>/dev/null; then
            wait "$wpid"; wpid=
            continue    # one more run after the last piece
        fi
        [ $RC != 137 ] && [ -z "$wpid" ] && break
    done
    if [ -n "$wpid" ]; then wait "$wpid"; wpid=; fi
    fed=$((fed + n))
    # left behind: the next chunk's runs also do this one's work
    if [ $RC = 137 ]; then behind_ms=$T_MS; else behind_ms=0; fi
    r=0
    if [ $(( (k + 1) % 4 )) = 0 ]; then r=1; fi
    if [ $(( (k + 1) % 10 )) = 0 ]; then r=2; fi
    for ((j = 0; j < r; j++)); do
        rotate "$work/crash"; rotate "$work/replay"
        rotations=$((rotations + 1))
    done
done
# the end: restart (still killing at random) until a run completes with
# everything consumed, and at least MIN_KILLS kills have hit (the last ones
# land in the start-up, the restore of the open state, the last commit or
# the pruning: within the time such a run takes, so that they hit it)
final_ok=0
for ((a = 0; a < 400; a++)); do
    if [ "$final_ok" = 1 ] && [ "$run_ms" -gt 0 ] && [ "$run_ms" -lt "$cur_max" ]; then
        attempt "$run_ms"
    else
        attempt
    fi
    if [ $RC = 0 ] && [ "$(lines_of "$work/crash.db")" = "$fed" ]; then
        final_ok=1
        [ $hits -ge "$MIN_KILLS" ] && break
    fi
done
# the references: the replay until consumed, the one run once
for ((a = 0; a < 5; a++)); do
    [ "$(lines_of "$work/replay.db")" = "$fed" ] && break
    "$RELAYGUARD" -c "$work/replay.ini" collect --once --quiet 2>>"$work/replay.err"
done
t0=$EPOCHREALTIME
"$RELAYGUARD" -c "$work/one.ini" collect --once --quiet 2>>"$work/one.err"; one_rc=$?
t1=$EPOCHREALTIME
one_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')

files=$(cd "$work/crash" && ls -1 | tr '\n' ' ')
echo "fed $fed lines in ${#chunks[@]} chunks, $rotations rotations; files now: $files"
echo "collect --once started $attempts times: $hits killed while running (SIGKILL; $hits_work of them after the run had committed a batch), $completed ran to the end (${bad_exit} with an error status); the kill bound was raised $raised times by half while no run completed; last bound $cur_max ms"

# ---- checks ---------------------------------------------------------------

if [ "$hits" -ge "$MIN_KILLS" ]; then
    echo "PASS: $suite: $hits kills hit a running collector (at least $MIN_KILLS)"
else
    echo "FAIL: $suite: only $hits kills hit a running collector (want $MIN_KILLS; the collector is too fast for RG_CRASH_MAXDELAY=$MAXDELAY ms?)"
fi
if [ $final_ok = 1 ]; then
    echo "PASS: $suite: restarted until a run completed with all $fed lines consumed"
else
    echo "FAIL: $suite: no run completed with all lines consumed after 400 more starts (database says $(lines_of "$work/crash.db") of $fed lines)"
fi
if [ $bad_exit = 0 ] && ! grep -q . "$work/collect.err"; then
    echo "PASS: $suite: no run that was not killed failed or warned"
else
    echo "FAIL: $suite: collector errors or warnings: $(grep -m3 . "$work/collect.err" | tr '\n' '|')"
fi
one_lines=$(lines_of "$work/one.db")
if [ $one_rc = 0 ] && [ "$one_lines" = "$fed" ] && ! grep -q . "$work/one.err"; then
    echo "PASS: $suite: one uninterrupted run read the final files through $rotations rotations (${one_s}s, $one_lines lines)"
else
    echo "FAIL: $suite: the one uninterrupted run over the final files: status $one_rc, $one_lines of $fed lines: $(grep -m3 . "$work/one.err" | tr '\n' '|')"
fi

dump() {    # dump DB OUT - the messages dump, and the sessions
    "$RELAYGUARD" dump messages --database "$1" | LC_ALL=C sort > "$2.messages"
    "$RELAYGUARD" dump sessions --database "$1" | LC_ALL=C sort > "$2.sessions"
    "$RELAYGUARD" dump messages --open --database "$1" | LC_ALL=C sort -k 2 > "$2.open"
}
dump "$work/crash.db" "$work/crash"
dump "$work/one.db" "$work/one"
dump "$work/replay.db" "$work/replay"
for ref in one replay; do
    case $ref in one) what="one uninterrupted run" ;; replay) what="uninterrupted replay" ;; esac
    for part in messages sessions open; do
        if cmp -s "$work/crash.$part" "$work/$ref.$part"; then
            echo "PASS: $suite: $part dump of the killed runs equals the $what ($(wc -l < "$work/crash.$part") rows)"
        else
            d=$(diff "$work/$ref.$part" "$work/crash.$part" | grep -c '^[<>]')
            echo "FAIL: $suite: $part dump of the killed runs differs from the $what ($(wc -l < "$work/crash.$part") vs $(wc -l < "$work/$ref.$part") rows, $d lines differ; first: $(diff "$work/$ref.$part" "$work/crash.$part" | grep -m2 '^[<>]' | cut -c1-300 | tr '\n' ' ')"
        fi
    done
    a=$(python3 "$CHECK" counts "$work/crash.db")
    b=$(python3 "$CHECK" counts "$work/$ref.db")
    for f in sessions noqueue verdicts messages lines; do
        va=$(tr ' ' '\n' <<<"$a" | sed -n "s/^$f=//p"); vb=$(tr ' ' '\n' <<<"$b" | sed -n "s/^$f=//p")
        if [ "$va" = "$vb" ]; then
            echo "PASS: $suite: $f count equals the $what ($va)"
        else
            echo "FAIL: $suite: $f count: killed runs $va, $what $vb"
        fi
    done
done

# every line of the final files, through parse, stored exactly once. The
# files go to parse oldest first: parse merges by time, and lines of the
# same second in two files come in the order of the arguments.
ordered=$(cd "$work/crash" && ls maillog.*.gz 2>/dev/null | sort -t. -k2,2nr | tr '\n' ' ')
[ -e "$work/crash/maillog.1" ] && ordered="$ordered maillog.1"
# shellcheck disable=SC2086
(cd "$work/crash" && "$RELAYGUARD" -c "$work/one.ini" parse --sessions --year 2026 --tz UTC $ordered maillog) \
    > "$work/parse.jsonl" 2>"$work/parse.err"
if python3 "$CHECK" vs-parse "$work/crash.db" "$work/parse.jsonl" "killed runs vs parse" > "$work/vs-parse.out"; then
    echo "PASS: $suite: $(head -n 1 "$work/vs-parse.out")"
else
    cat "$work/vs-parse.out"
    echo "FAIL: $suite: $(head -n 1 "$work/vs-parse.out")"
fi
echo "counts: $(python3 "$CHECK" counts "$work/crash.db")"
echo "took $((SECONDS - t_start)) s"
exit 0
