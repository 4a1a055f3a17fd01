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
exit 0
