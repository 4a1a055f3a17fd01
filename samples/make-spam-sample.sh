#!/bin/bash
# samples/make-spam-sample.sh - make samples/spam.log and samples/spam.rspamd.log
# from a real, private Postfix with a real rspamd as its milter.
#
# Starts rspamd (tests/lib/rspamd.sh) and the Postfix harness
# (tests/lib/postfix.sh) in a temporary folder, then, each in its own
# authenticated SMTP session: 6 spam messages from alice@example.com
# (GTUBE: rspamd's reject, refused by Postfix at end of data with 554 5.7.1),
# and 2 clean messages from bob@example.com. Waits until the queue settles
# and rspamd logged every scan, stops everything and writes
#   samples/spam.log         Postfix's maillog_file of the run
#   samples/spam.rspamd.log  rspamd's log of the run (the scan lines are
#                            the verdicts relayguard reads)
# `make demo` collects them beside samples/relay.log: alice passes the
# default spam_lock_threshold (5 in 10m) and is locked by analyze.
# Timestamps and queue IDs differ between runs; the kinds of lines do not.
#
# Usage: samples/make-spam-sample.sh [OUTDIR]    (root; about 15 s)
# Environment: RG_KEEP=1 keeps the temporary folder.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
out=${1:-$here}
# shellcheck source=tests/lib/postfix.sh
. "$top/tests/lib/postfix.sh"
# shellcheck source=tests/lib/rspamd.sh
. "$top/tests/lib/rspamd.sh"

work=$(mktemp -d /tmp/rg-spam-sample.XXXXXX) || exit 1
chmod 755 "$work"
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    pf_stop
    rs_stop
    if [ "${RG_KEEP:-0}" = 1 ]; then echo "make-spam-sample: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap "exit 130" INT TERM HUP

rs_start "$work/rs" || exit 1
PF_MILTER=inet:127.0.0.1:$RS_PORT pf_start "$work/pf" || exit 1
nscan0=$(grep -c 'rspamd_task_write_log' "$RS_LOG")
rc=0
/usr/bin/python3 - "$top/tests/lib" "$PF_PORT" <<'PY' || rc=1
import sys
sys.path.insert(0, sys.argv[1])
import send
port = int(sys.argv[2])
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
plain = ("Hello,\r\n\r\nthe minutes of Tuesday's meeting are below; the next one is on "
         "Thursday at ten in the small room.\r\n\r\nRegards\r\n")
cases = [("alice@example.com", "alice-pw", "cheap offer %d" % i, "Buy now.\r\n\r\n" + GTUBE + "\r\n", True)
         for i in range(1, 7)]
cases += [("bob@example.com", "bob-pw", "minutes %d" % i, plain, False) for i in range(1, 3)]
bad = 0
for n, (user, pw, subj, body, spam) in enumerate(cases):
    rcpt = "dave@example.org"
    data = send.build_message(user, [rcpt], subject=subj, body=body,
                              message_id="<rg-spam-%d@client.example.test>" % n)
    r = send.send_session("127.0.0.1", port, helo="client.example.test", from_ip="127.0.0.5",
                          auth=(user, pw), messages=[{"sender": user, "recipients": [rcpt], "data": data}])
    res = r["results"][0] if r.get("results") else None
    code = res and res.get("data") and res["data"][0]
    if (spam and code != 554) or (not spam and code != 250):
        print("make-spam-sample: %s %r: unexpected answer %r" % (user, subj, r), file=sys.stderr)
        bad = 1
sys.exit(bad)
PY
pf_wait_settled 30 || rc=1
# rspamd logs a scan when it answers end-of-data: wait for all eight
for _ in $(seq 1 100); do
    [ $(( $(grep -c 'rspamd_task_write_log' "$RS_LOG") - nscan0 )) -ge 8 ] && break
    sleep 0.1
done
mkdir -p "$out"
cp "$PF_LOG" "$out/spam.log"
cp "$RS_LOG" "$out/spam.rspamd.log"
pf_stop
rs_stop
echo "make-spam-sample: wrote $out/spam.log ($(wc -l < "$out/spam.log") lines) and $out/spam.rspamd.log ($(wc -l < "$out/spam.rspamd.log") lines)" >&2
[ $rc = 0 ] || echo "make-spam-sample: some traffic did not go as planned (see above)" >&2
exit $rc
