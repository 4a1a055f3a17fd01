#!/bin/bash
# tests/suites/parse_postfix.sh - integration test of `relayguard parse` on the
# log of a real, private Postfix (tests/lib/postfix.sh).
#
# Starts the harness once, sends the fixed traffic of tests/lib/traffic.py
# (its manifest says what each message and session should look like), waits
# for the queue to settle, runs `$RELAYGUARD parse --sessions $PF_LOG` and
# checks the JSON Lines with tests/lib/check_parse.py: one PASS/FAIL line per
# message, per smtpd refusal, per bounce notification and per session.
#
# Needs root and the packages of `scripts/install-deps test`.  About 10 s.
# Environment: RELAYGUARD (default build/relayguard), RG_KEEP=1 keeps the
# temporary folder (log, manifest, output) for a look afterwards.
set -u
top=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
RELAYGUARD=${RELAYGUARD:-$top/build/relayguard}
suite=parse_postfix

if [ ! -x "$RELAYGUARD" ]; then
    echo "FAIL: $suite: no relayguard binary at $RELAYGUARD (run make)"
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "SKIP: $suite: needs root to run a private Postfix"
    exit 0
fi
# shellcheck source=tests/lib/postfix.sh
. "$top/tests/lib/postfix.sh"
# shellcheck source=tests/lib/traffic.sh
. "$top/tests/lib/traffic.sh"

work=$(mktemp -d /tmp/rg-parse-postfix.XXXXXX) || exit 1
chmod 755 "$work"
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    pf_stop
    if [ "${RG_KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap "exit 130" INT TERM HUP

if ! pf_start "$work/pf" 2>"$work/pf_start.err"; then
    cat "$work/pf_start.err"
    echo "FAIL: $suite: the Postfix harness did not start (scripts/install-deps test?): $(head -n 1 "$work/pf_start.err")"
    exit 1
fi
if rg_traffic "$work/manifest.json" 2>"$work/traffic.err"; then
    echo "PASS: $suite: test traffic sent, queue settled ($(wc -l < "$PF_LOG") log lines)"
else
    cat "$work/traffic.err"
    echo "FAIL: $suite: test traffic did not go as planned: $(grep -m1 . "$work/traffic.err")"
fi
[ -s "$work/manifest.json" ] || { echo "FAIL: $suite: no manifest"; exit 1; }

timeout 60 "$RELAYGUARD" parse --sessions "$PF_LOG" >"$work/parse.jsonl" 2>"$work/parse.err"
rc=$?
if [ $rc -ne 0 ]; then
    echo "FAIL: $suite: relayguard parse --sessions exited with status $rc: $(head -c 300 "$work/parse.err")"
else
    echo "PASS: $suite: relayguard parse --sessions exits 0"
fi
/usr/bin/python3 "$top/tests/lib/check_parse.py" "$work/manifest.json" "$work/parse.jsonl"
