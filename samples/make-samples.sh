#!/bin/bash
# samples/make-samples.sh - make samples/relay.log from a real, private Postfix.
#
# Starts the harness of tests/lib/postfix.sh in a temporary folder, sends the
# fixed test traffic (tests/lib/traffic.py: SASL users on both listeners, IP
# users, identity headers, bounces, deferrals, NOQUEUE rejects, a failed login,
# HOLD/REJECT/DISCARD header rules, postsuper -h/-H/-d), waits until the queue
# settles, stops everything and writes
#   samples/relay.log        the maillog_file of the run
#   samples/relay.sent.json  the manifest: what was sent and what the log
#                            should say about each message and session
# Timestamps and queue IDs differ between runs; the kinds of lines do not.
#
# Usage: samples/make-samples.sh [OUTDIR]     (root; about 10 s)
# Environment: RG_KEEP=1 keeps the temporary folder.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
out=${1:-$here}
# shellcheck source=tests/lib/postfix.sh
. "$top/tests/lib/postfix.sh"
# shellcheck source=tests/lib/traffic.sh
. "$top/tests/lib/traffic.sh"

work=$(mktemp -d /tmp/rg-samples.XXXXXX) || exit 1
chmod 755 "$work"
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    pf_stop
    if [ "${RG_KEEP:-0}" = 1 ]; then echo "make-samples: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap "exit 130" INT TERM HUP

pf_start "$work/pf" || exit 1
rc=0
rg_traffic "$work/relay.sent.json" || rc=1
mkdir -p "$out"
# copy before stopping: what "postfix stop" gets logged varies from run to run
cp "$PF_LOG" "$out/relay.log"
pf_stop
cp "$work/relay.sent.json" "$out/relay.sent.json"
echo "make-samples: wrote $out/relay.log ($(wc -l < "$out/relay.log") lines) and $out/relay.sent.json" >&2
[ $rc = 0 ] || echo "make-samples: some traffic did not go as planned (see above)" >&2
exit $rc
