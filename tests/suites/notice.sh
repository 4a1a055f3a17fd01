#!/bin/bash
# notice.sh - relayguard's mail about the quarantine and the reports,
# end to end through a real Postfix 3.7 (STARTTLS and Dovecot SASL on its
# submission port, as in mail.sh) and rspamd 3.4 with the quarantine rule
# (as in quarantine.sh), delivered into Maildirs read with Python's email:
# - quarantine_response = rejected: a held message gets one RFC 3464
#   notice (multipart/report; report-type=delivery-status, Action: delayed,
#   Return-Path <>), to the user's own address or its report_to, never to a
#   forged envelope sender; a second one when it is deleted; nothing twice;
# - report --mail: the XLSX attached byte-identical to --output, a user's
#   report_to gets only its own rows (openpyxl), a period is queued once,
#   --skip-empty sends nothing empty.
set -u
top=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
suite=notice
RG0=${RELAYGUARD:-$top/build/relayguard}
[ -x "$RG0" ] || { echo "FAIL: $suite: no relayguard binary at $RG0"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: $suite: needs root to run a private Postfix"; exit 0; }
/usr/bin/python3 -c 'import openpyxl' 2>/dev/null || { echo "SKIP: $suite: python3-openpyxl is not installed (scripts/install-deps test)"; exit 0; }
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/rspamd.sh"
work=$(mktemp -d /tmp/rg-notice.XXXXXX); chmod 755 "$work"
cp "$RG0" "$work/relayguard"; RG=$work/relayguard
cleanup() { pf_stop; rs_stop; [ "${RG_KEEP:-0}" = 1 ] && echo "kept $work" >&2 || rm -rf "$work"; }
trap cleanup EXIT
trap "exit 130" INT TERM HUP
ok() { if [ "$1" = 0 ]; then echo "PASS: $suite: $2"; else echo "FAIL: $suite: $2${3:+: $3}"; fi; }
send() { /usr/bin/python3 "$top/tests/lib/send.py" --port "$PF_PORT" "$@" 2>&1; }
SPAM='hello RG-TEST-SPAM-TOKEN'   # scored 50 by a test rule (GTUBE skips postfilters)

# mailboxes: the admin, a reseller's customer contact, an innocent third
# party, and the users' own addresses
MB=$work/mailbox; mkdir -p "$MB"; chown nobody:nogroup "$MB"
cat > "$work/vmailbox" <<VM
admin@admin.example.test admin/
owner@admin.example.test owner/
victim@admin.example.test victim/
alice@example.com alice/
carol@example.net carol/
boss@example.com boss/
VM
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost" -keyout "$work/key.pem" \
    -out "$work/cert.pem" > /dev/null 2>&1
chmod 644 "$work/cert.pem" "$work/key.pem"

ini() {
    cat <<INI
[global]
database = $work/rg.db
map_directory = $work/maps
postfix_config_directory = ${PF_CONF:-$work}
admin_contact = admin@admin.example.test
hostname = relay
[parse]
timezone = UTC
[source postfix]
path = ${PF_LOG:-$work/none.log}
[source rspamd]
path = ${RS_LOG:-$work/none2.log}
[defaults]
auto_lock = no
lock_identities = no
abuse_reports = off
[user "alice@example.com"]
quarantine = yes
[user "bob@example.com"]
quarantine = yes
quarantine_response = accepted
[user "carol@example.net"]
quarantine = yes
report_to = owner@admin.example.test
[mail]
smtp_server = localhost:${PF_SUBMISSION_PORT:-25}
starttls = required
tls_verify = yes
tls_ca_file = $work/cert.pem
auth_user = relayguard@admin.example.test
auth_password_file = $work/pw
from = relayguard@admin.example.test
timeout = 10s
retry = 1s
INI
}
printf 'relayguard-pw\n' > "$work/pw"; chmod 600 "$work/pw"
ini > "$work/rg.ini"
mkdir -p "$work/rslocal"
"$RG" -c "$work/rg.ini" rspamd-config --quarantine > "$work/rslocal/rspamd.lua" || echo "FAIL: $suite: rspamd-config --quarantine"
cat >> "$work/rslocal/rspamd.lua" <<'LUA'

rspamd_config:register_symbol({
  name = 'RG_TEST_SPAM',
  score = 50.0,
  callback = function(task)
    local b = task:get_rawbody()
    return b ~= nil and tostring(b):find('RG-TEST-SPAM-TOKEN', 1, true) ~= nil
  end,
})
LUA
RS_LOCAL_FILES=$work/rslocal rs_start "$work/rs" 2> "$work/rs.err" || { cat "$work/rs.err"; echo "FAIL: $suite: rspamd did not start"; exit 1; }
PF_MILTER=inet:127.0.0.1:$RS_PORT PF_EXTRA_MAIN="virtual_mailbox_domains = admin.example.test, example.com, example.net;virtual_mailbox_base = $MB;virtual_mailbox_maps = texthash:$work/vmailbox;virtual_uid_maps = static:65534;virtual_gid_maps = static:65534;smtpd_tls_security_level = may;smtpd_tls_cert_file = $work/cert.pem;smtpd_tls_key_file = $work/key.pem" \
    pf_start "$work/pf" 2> "$work/pf.err" || { cat "$work/pf.err"; echo "FAIL: $suite: Postfix did not start"; exit 1; }
printf '%s\n' "$(cat "$PF_DIR/dovecot/users")" "relayguard@admin.example.test:{PLAIN}relayguard-pw::::::" > "$PF_DIR/dovecot/users.new"
mv "$PF_DIR/dovecot/users.new" "$PF_DIR/dovecot/users"; chown root:dovecot "$PF_DIR/dovecot/users"; chmod 640 "$PF_DIR/dovecot/users"
ini > "$work/rg.ini"
"$RG" -c "$work/rg.ini" check-config > /dev/null; ok $? "the test configuration is valid"
{ "$RG" -c "$work/rg.ini" init && "$RG" -c "$work/rg.ini" analyze; } > "$work/a0.out" 2>&1 || { cat "$work/a0.out"; echo "FAIL: $suite: first analyze"; }

count() { find "$MB/$1/new" "$MB/$1/cur" -type f 2>/dev/null | wc -l; }
# wait_box BOX N - until BOX holds N mails (Postfix's queue flushed meanwhile)
wait_box() {
    local i
    for i in $(seq 1 300); do
        [ "$(count "$1")" -ge "$2" ] && return 0
        postqueue -c "$PF_CONF" -f 2>/dev/null; sleep 0.1
    done
    return 1
}
# settle - relayguard's mail out, and Postfix done with it
settle() { "$RG" -c "$work/rg.ini" mail send > /dev/null 2>&1; pf_wait_settled > /dev/null 2>&1; }
collect() { pf_flush_log > /dev/null 2>&1; "$RG" -c "$work/rg.ini" collect --once --quiet; }
qid_of() { sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' <<<"$1"; }
boxes() { for b in admin owner victim alice carol boss; do printf '%s=%s ' "$b" "$(count $b)"; done; }

# ---- 1. held spam of rejected users: the notices
t0=$(( $(date -u +%s) - 60 ))
a1=$(send --auth alice@example.com:alice-pw --sender alice@example.com --to dave@example.org --subject "offer" --body "$SPAM")
qa=$(qid_of "$a1")
f1=$(send --auth alice@example.com:alice-pw --sender victim@admin.example.test --to dave@example.org --body "$SPAM")
qf=$(qid_of "$f1")
c1=$(send --auth carol@example.net:carol-pw --sender victim@admin.example.test --to erin@example.org --body "$SPAM")
qc=$(qid_of "$c1")
b1=$(send --auth bob@example.com:bob-pw --sender bob@example.com --to dave@example.org --body "$SPAM")
qb=$(qid_of "$b1")
[ -n "$qa" ] && [ -n "$qf" ] && [ -n "$qc" ] && [ -n "$qb" ]; ok $? "the spam is accepted (250) and queued" "$a1 / $f1 / $c1 / $b1"
pf_wait_settled > /dev/null 2>&1
held=$(postqueue -c "$PF_CONF" -j | grep -c '"queue_name": *"hold"')
[ "$held" = 4 ]; ok $? "all four are held" "$held"
collect
"$RG" -c "$work/rg.ini" analyze > "$work/a1.out" 2>&1
settle
wait_box alice 1; ok $? "alice's own address is told (its SASL login)" "$(boxes)"
wait_box owner 1; ok $? "carol's report_to is told" "$(boxes)"
sleep 0; n=$("$RG" -c "$work/rg.ini" mail queue --all --json | grep -c '"kind": *"notice"')
[ "$n" = 2 ]; ok $? "two notices in the outbox (alice's, carol's)" "$n; $(boxes)"
[ "$(count victim)" = 0 ]; ok $? "the forged envelope sender gets nothing (no backscatter)" "$(boxes)"
[ "$(count admin)" = 0 ]; ok $? "accepted (bob): no notice to anyone" "$(boxes)"
d1=$(send --auth alice@example.com:alice-pw --sender boss@example.com --to dave@example.org --body "$SPAM")
pf_wait_settled > /dev/null 2>&1; collect
"$RG" -c "$work/rg.ini" analyze > /dev/null 2>&1; settle
wait_box boss 1; ok $? "an envelope sender in the user's domain is told" "$(boxes)"

/usr/bin/python3 - "$MB" "$qa" "$qc" <<'PY'
import email, email.policy, glob, sys
mb, qa, qc = sys.argv[1:4]
def check(c, what):
    print(("PASS" if c else "FAIL") + ": notice: " + what)
def mails(box):
    return [email.message_from_bytes(open(f, "rb").read(), policy=email.policy.compat32)
            for f in sorted(glob.glob(mb + "/" + box + "/new/*") + glob.glob(mb + "/" + box + "/cur/*"))]
a = mails("alice")
check(len(a) == 1, "alice: one notice (got %d)" % len(a))
m = a[0]
check(m.get_content_type() == "multipart/report" and m.get_param("report-type") == "delivery-status",
      "Content-Type multipart/report; report-type=delivery-status: %r" % m.get("Content-Type"))
check(m.get("Return-Path") == "<>", "Return-Path <> (MAIL FROM:<>): %r" % m.get("Return-Path"))
parts = m.get_payload()
check([p.get_content_type() for p in parts][:2] == ["text/plain", "message/delivery-status"],
      "parts: text/plain, message/delivery-status: %r" % [p.get_content_type() for p in parts])
ds = parts[1].get_payload()
fields = {}
for blk in ds:
    for k, v in blk.items():
        fields.setdefault(k.lower(), []).append(v)
check(fields.get("action") == ["delayed"], "Action: delayed: %r" % fields.get("action"))
check(fields.get("reporting-mta") == ["dns; relay"], "Reporting-MTA: the configured hostname: %r" % fields.get("reporting-mta"))
check(fields.get("status", [""])[0].startswith("4."), "Status 4.x.x: %r" % fields.get("status"))
check(fields.get("final-recipient") == ["rfc822; dave@example.org"], "Final-Recipient: the held message's recipient: %r" % fields.get("final-recipient"))
check(fields.get("x-relayguard-queue-id") == [qa], "the held queue ID: %r" % fields.get("x-relayguard-queue-id"))
text = parts[0].get_payload(decode=True).decode()
check("held in quarantine" in text and "NOT been delivered" in text and "releases it" in text,
      "the text says held for review, not failed")
check(m.get("To") == "<alice@example.com>", "To: alice: %r" % m.get("To"))
o = mails("owner")
check(len(o) == 1 and qc in o[0].get("Subject", ""), "owner: carol's notice: %r" % [x.get("Subject") for x in o])
PY

# once: a second analyze, a crash-free rerun, queues nothing more
"$RG" -c "$work/rg.ini" analyze > "$work/a2.out" 2>&1
n=$("$RG" -c "$work/rg.ini" mail queue --all --json | grep -c '"kind": *"notice"')
[ "$n" = 3 ]; ok $? "analyze again: no second notice" "$n"

# ---- 2. delete: the second notice (failed)
out=$("$RG" -c "$work/rg.ini" quarantine delete "$qa"); rc=$?
[ $rc = 0 ]; ok $? "quarantine delete" "rc=$rc $out"
settle
wait_box alice 2; ok $? "the deletion is told too" "$(boxes)"
/usr/bin/python3 - "$MB" <<'PY'
import email, email.policy, glob, sys
mb = sys.argv[1]
fs = sorted(glob.glob(mb + "/alice/new/*") + glob.glob(mb + "/alice/cur/*"))
ms = [email.message_from_bytes(open(f, "rb").read(), policy=email.policy.compat32) for f in fs]
d = [m for m in ms if "deleted" in m.get("Subject", "")]
ok = len(d) == 1
if ok:
    ds = d[0].get_payload()[1].get_payload()
    acts = [v for blk in ds for k, v in blk.items() if k.lower() == "action"]
    ok = acts == ["failed"] and d[0].get("Return-Path") == "<>"
print(("PASS" if ok else "FAIL") + ": notice: the deletion notice: Action: failed, Return-Path <>: %r" % [m.get("Subject") for m in ms])
PY
"$RG" -c "$work/rg.ini" quarantine delete "$qf" > /dev/null 2>&1
"$RG" -c "$work/rg.ini" analyze > /dev/null 2>&1; settle
[ "$(count victim)" = 0 ] && [ "$(count alice)" = 2 ]; ok $? "deleting the forged one tells nobody" "$(boxes)"
# retention deletes carol's: the second notice to her report_to
"$RG" -c "$work/rg.ini" analyze --now "@$(( $(date +%s) + 15 * 86400 ))" > "$work/a3.out" 2>&1
grep -q "rule=expire queue_id=$qc" "$work/a3.out"; ok $? "retention deletes carol's held message" "$(tail -3 "$work/a3.out")"
settle
wait_box owner 2; ok $? "retention's deletion is told to report_to" "$(boxes)"
"$RG" -c "$work/rg.ini" analyze > /dev/null 2>&1; settle
n=$("$RG" -c "$work/rg.ini" mail queue --all --json | grep -c '"kind": *"notice"')
[ "$n" = 6 ] && [ "$(count boss)" = 2 ]; ok $? "six notices in all (three held, three deleted), each once" "$n; $(boxes)"

# ---- 3. report --mail
collect
# a range, not --period day: a run across midnight would report another day
range="--since @$t0 --until @$(( $(date -u +%s) + 60 ))"
"$RG" -c "$work/rg.ini" report quarantine $range --mail --output "$work/q.xlsx" > "$work/r1.out" 2> "$work/r1.err"; rc=$?
[ $rc = 0 ]; ok $? "report --mail --output" "rc=$rc $(cat "$work/r1.err")"
n0=$(count admin); o0=$(count owner)
settle
wait_box admin $((n0 + 1)); ok $? "the report reaches admin_contact" "$(boxes); $(cat "$work/r1.err")"
wait_box owner $((o0 + 1)); ok $? "carol's report reaches her report_to" "$(boxes)"
/usr/bin/python3 - "$MB" "$work/q.xlsx" "$work" <<'PY'
import email, email.policy, glob, io, sys, openpyxl
mb, out, work = sys.argv[1:4]
def check(c, what):
    print(("PASS" if c else "FAIL") + ": notice: report: " + what)
def reports(box):
    r = []
    for f in sorted(glob.glob(mb + "/" + box + "/new/*") + glob.glob(mb + "/" + box + "/cur/*")):
        m = email.message_from_bytes(open(f, "rb").read(), policy=email.policy.compat32)
        if m.get("Subject", "").startswith("[relayguard] quarantine report"):
            r.append(m)
    return r
def attachment(m):
    for p in m.walk():
        if p.get_filename():
            return p.get_filename(), p.get_content_type(), p.get_payload(decode=True)
    return None, None, b""
a = reports("admin")
check(len(a) == 1, "one report mail to the admin (got %d)" % len(a))
name, ct, data = attachment(a[0])
check(ct == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" and name.endswith(".xlsx"),
      "an XLSX attachment: %r %r" % (name, ct))
check(data == open(out, "rb").read(), "the attachment is byte-identical to --output (%d bytes)" % len(data))
body = [p for p in a[0].walk() if p.get_content_type() == "text/plain"][0].get_payload(decode=True).decode()
check("quarantined" in body and "attached" in body, "a short summary in the body: %r" % body[:200])
def users(data):
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    ws = wb["Quarantine"]
    rows = list(ws.iter_rows(values_only=True))
    col = rows[0].index("User")
    return sorted({r[col] for r in rows[1:] if r[col]})
check(users(data) == ["alice@example.com", "bob@example.com", "carol@example.net"], "the admin's has every user: %r" % users(data))
o = reports("owner")
check(len(o) == 1 and "carol@example.net" in o[0].get("Subject", ""), "one report to carol's report_to: %r" % [m.get("Subject") for m in o])
if o:
    n2, ct2, d2 = attachment(o[0])
    check(users(d2) == ["carol@example.net"], "carol's report has her rows only: %r" % users(d2))
    check(o[0].get("To") == "<owner@admin.example.test>", "To: the report_to")
PY
"$RG" -v -c "$work/rg.ini" report quarantine $range --mail > "$work/r2.out" 2> "$work/r2.err"; rc=$?
n=$("$RG" -c "$work/rg.ini" mail queue --all --json | grep -c '"kind": *"report"')
[ $rc = 0 ] && [ "$n" = 2 ] && grep -q "result=queued_before" "$work/r2.err"; ok $? "the same period again (a timer firing twice): queued once" "rc=$rc n=$n $(cat "$work/r2.err")"
"$RG" -c "$work/rg.ini" report quarantine --period day --now "@$(( t0 + 10 * 86400 ))" --mail --skip-empty > "$work/r3.out" 2> "$work/r3.err"; rc=$?
n=$("$RG" -c "$work/rg.ini" mail queue --all --json | grep -c '"kind": *"report"')
[ $rc = 0 ] && [ "$n" = 2 ]; ok $? "--skip-empty: an empty period mails nothing" "rc=$rc n=$n $(cat "$work/r3.err")"
"$RG" -c "$work/rg.ini" report senders $range --mail --to victim@admin.example.test --user bob@example.com > /dev/null 2> "$work/r4.err"; rc=$?
settle
wait_box victim 1; ok $? "--to ADDR: the report goes there" "rc=$rc $(boxes) $(cat "$work/r4.err")"
