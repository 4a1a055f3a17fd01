#!/bin/bash
# golden.sh - samples/NAME.log (from the project's own Postfix runs) through
# relayguard parse must give samples/NAME.jsonl exactly; and the sample's
# own manifest of what was sent must be found in it.
set -u
RG=${RELAYGUARD:-build/relayguard}
cd "$TOP" || exit 1
shopt -s nullglob
logs=(samples/*.log)
[ ${#logs[@]} -gt 0 ] || { echo "FAIL: golden: no samples/*.log"; exit 1; }
for log in "${logs[@]}"; do
    ref=${log%.log}.jsonl
    if [ ! -f "$ref" ]; then
        echo "FAIL: golden: $log: no $ref (make golden-update)"
        continue
    fi
    if diff -u "$ref" <("$RG" parse --year 2026 --tz UTC --sessions "$log") > /tmp/rg-golden.$$ 2>&1; then
        echo "PASS: golden: $log"
    else
        echo "FAIL: golden: $log differs from $ref: $(head -c 600 /tmp/rg-golden.$$ | tr '\n' ' ')"
    fi
    rm -f /tmp/rg-golden.$$
    # the same file gzipped and on standard input gives the same records
    if cmp -s <("$RG" parse --year 2026 --tz UTC --sessions "$log") \
              <(gzip -c "$log" | "$RG" parse --year 2026 --tz UTC --sessions); then
        echo "PASS: golden: $log as gzip on standard input"
    else
        echo "FAIL: golden: $log as gzip on standard input differs"
    fi
    # split in two in the middle of a second, named newest first: the same
    half=$(( $(wc -l < "$log") / 2 ))
    head -n "$half" "$log" > /tmp/rg-golden.$$.a; tail -n +"$((half + 1))" "$log" > /tmp/rg-golden.$$.b
    if cmp -s <("$RG" parse --year 2026 --tz UTC --sessions "$log") \
              <("$RG" parse --year 2026 --tz UTC --sessions /tmp/rg-golden.$$.b /tmp/rg-golden.$$.a); then
        echo "PASS: golden: $log split in two and named newest first"
    else
        echo "FAIL: golden: $log split in two and named newest first differs"
    fi
    rm -f /tmp/rg-golden.$$.a /tmp/rg-golden.$$.b
    man=${log%.log}.sent.json
    if [ -f "$man" ]; then
        "$RG" parse --year 2026 --tz UTC --sessions "$log" > /tmp/rg-golden.$$.jsonl
        /usr/bin/python3 tests/lib/check_parse.py "$man" /tmp/rg-golden.$$.jsonl | sed "s/^\(PASS\|FAIL\|SKIP\): /\1: golden: $(basename "$log"): /"
        rm -f /tmp/rg-golden.$$.jsonl
    fi
done

# The front end in its own thread (the default with two CPUs) and one
# thread give the same bytes: records, sessions and counters. The input is
# big enough to fill the batch ring several times over (collector/
# pipeline.c: 8 batches of 256 lines) and the 1 MiB buffer of the line reader (a batch must not point into it), in three files named newest first
# (one gzipped, one without its last newline) plus the rspamd log (its
# symbol lists are decoded text: scratch memory that a batch must own),
# with a line cut at the maximum length and lines that are no log lines.
t=$(mktemp -d /tmp/rg-golden-threads.XXXXXX)
for i in $(seq 1 200); do
    cat samples/relay.log samples/spam.log
    [ "$i" = 100 ] && { printf 'not a log line\n\001\377\n'; head -c 20000 /dev/zero | tr '\0' x; echo; }
done > "$t/all"
n=$(wc -l < "$t/all")
head -n $((n / 3)) "$t/all" > "$t/log.2"
sed -n "$((n / 3 + 1)),$((2 * n / 3))p" "$t/all" | gzip > "$t/log.1.gz"
tail -n +$((2 * n / 3 + 1)) "$t/all" | head -c -1 > "$t/log"
for i in $(seq 1 10); do cat samples/spam.rspamd.log; done > "$t/rspamd.log"
files=("$t/log" "$t/log.1.gz" "$t/log.2" "$t/rspamd.log")
args=(parse --year 2026 --tz UTC --sessions --stats --json)
# check_two WHAT RC SAID CUT ONE - $t/two.out and .err (two threads, -vv,
# exit RC) against ONE.out and .err (one thread): the two-thread run says
# SAID of its front end, the one-thread run has over 1,000 records and CUT
# lines cut at the maximum length, and both give the same records and
# counters. WHAT names the case.
check_two() {
    local what=$1 rc=$2 said=$3 cut=$4 one=$5
    grep -v '^relayguard: parse: ' "$t/two.err" > "$t/two.stats"
    if [ "$rc" != 0 ] || ! grep -q "parse: two threads (the front end in its own, $said" "$t/two.err"; then
        echo "FAIL: golden: $what: two threads: exit $rc, $(grep 'two threads' "$t/two.err" | head -c 300)$(head -c 300 "$one.err" | tr '\n' ' ')"
    elif [ "$(wc -l < "$one.out")" -lt 1000 ] || ! grep -q "cut at the maximum length $cut\$" "$one.err"; then
        echo "FAIL: golden: $what: one thread: $(wc -l < "$one.out") records, $(grep 'cut at' "$one.err")"
    elif cmp -s "$t/two.out" "$one.out" && cmp -s "$t/two.stats" "$one.err"; then
        echo "PASS: golden: $what"
    else
        echo "FAIL: golden: $what: two threads and one differ: $(diff "$t/two.stats" "$one.err" | head -c 300 | tr '\n' ' ') $(cmp "$t/two.out" "$one.out")"
    fi
}
"$RG" -vv "${args[@]}" --threads 2 "${files[@]}" > "$t/two.out" 2> "$t/two.err"; rc2=$?
"$RG" "${args[@]}" --threads 1 "${files[@]}" > "$t/one.out" 2> "$t/one.err" || rc2=1
check_two "parse --threads 2 and --threads 1 give the same records and counters ($n lines, 4 files)" \
    $rc2 'copying the lines of its inputs into the batches' 1 "$t/one"

# One input: the front end reads into the batches' own bytes (collector/
# pipeline.c: front_lent, lr_lend), so a line lies where read(2) or zlib
# put it, and one that a read cut in two is copied into the next batch
# with the rest of what was read. The same bytes as one thread: a plain
# file (with CRLF lines, a line cut at the maximum length, lines that are
# no log lines, no last newline), the same gzipped, on standard input, and
# with a maximum line length too long for a batch to hold two (then the
# lines are copied, and -vv says so).
tail -n +$((n / 2)) "$t/all" | sed '5000,5100s/$/\r/' | head -c -1 > "$t/one"
gzip -c "$t/one" > "$t/one.gz"
printf '[parse]\nmax_line_length = 40000\n' > "$t/long.ini"
"$RG" "${args[@]}" --threads 1 "$t/one" > "$t/one1.out" 2> "$t/one1.err"
for how in file gz stdin long; do
    case $how in
    file) "$RG" -vv "${args[@]}" --threads 2 "$t/one" ;;
    gz) "$RG" -vv "${args[@]}" --threads 2 "$t/one.gz" ;;
    stdin) "$RG" -vv "${args[@]}" --threads 2 < "$t/one.gz" ;;
    long) "$RG" -vv -c "$t/long.ini" "${args[@]}" --threads 2 "$t/one" ;;
    esac > "$t/two.out" 2> "$t/two.err"
    rc=$?
    if [ "$how" = long ]; then
        "$RG" -c "$t/long.ini" "${args[@]}" --threads 1 "$t/one" > "$t/long1.out" 2> "$t/long1.err" || rc=1
        # the 20,000-byte line is under 40,000
        check_two "parse of one input ($how), its lines too long to read into a batch: copied, gives the records and counters of one thread" \
            $rc 'copying the lines into the batches: they may be too long' 0 "$t/long1"
    else
        check_two "parse of one input ($how), read into the batches, gives the records and counters of one thread" \
            $rc 'reading into the batches' 1 "$t/one1"
    fi
done

# Without --threads: one thread for a small input (no thread to start);
# on a big one, two if the other CPU answers a probe, sharing the parsing
# as a cache line's round trip between the CPUs says (collector/pipeline.c:
# threads_for; common/cpuprobe.c), and the log says which and why; the
# same bytes either way. With one CPU allowed
# (taskset) one thread, without measuring.
cat "$t/all" "$t/all" > "$t/big"
"$RG" "${args[@]}" --threads 1 "$t/big" > "$t/big1.out" 2> "$t/big1.err"
"$RG" -vv "${args[@]}" samples/relay.log > /dev/null 2> "$t/small.err"
"$RG" -vv "${args[@]}" "$t/big" > "$t/def.out" 2> "$t/def.err"
if ! grep -q 'parse: [0-9]* bytes of input: one thread' "$t/small.err" \
    || ! grep -q '^relayguard: parse: one thread' "$t/small.err"; then
    echo "FAIL: golden: parse of a small input without --threads: $(grep 'parse:' "$t/small.err" | head -c 300 | tr '\n' ' ')"
elif [ "$(nproc)" -ge 2 ] && ! grep -q 'parse: two threads' "$t/def.err" \
    && ! grep -Eq 'parse: (the |a cache line.s )?round trip between two CPUs.*: one thread' "$t/def.err"; then
    echo "FAIL: golden: parse of a big input without --threads says neither two threads nor the round trip: $(grep 'parse:' "$t/def.err" | head -c 300 | tr '\n' ' ')"
elif ! cmp -s "$t/def.out" "$t/big1.out"; then
    echo "FAIL: golden: parse without --threads and with --threads 1 differ: $(cmp "$t/def.out" "$t/big1.out")"
else
    echo "PASS: golden: parse without --threads: one thread for a small input, the CPUs' round trip decides for a big one ($(grep -o 'took [0-9]* ns\|had no answer\|could not be measured' "$t/def.err" | head -1)), the same records"
fi
taskset -c 0 "$RG" -vv "${args[@]}" "$t/big" > "$t/cpu0.out" 2> "$t/cpu0.err"
if grep -q 'round trip\|two threads' "$t/cpu0.err" || ! grep -q '^relayguard: parse: one thread' "$t/cpu0.err" \
    || ! cmp -s "$t/cpu0.out" "$t/big1.out"; then
    echo "FAIL: golden: parse on one CPU (taskset -c 0): $(grep 'parse:' "$t/cpu0.err" | head -c 300 | tr '\n' ' ') $(cmp "$t/cpu0.out" "$t/big1.out")"
else
    echo "PASS: golden: parse on one CPU (taskset -c 0) runs one thread without measuring, the same records"
fi
rm -rf "$t"
exit 0
