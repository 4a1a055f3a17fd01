#!/bin/bash
# mail.sh - relayguard's own mail (lock alerts, ARF abuse reports) through
# libesmtp, from the outbox, to a real Postfix: its submission port with
# STARTTLS (a certificate made here) and SASL AUTH through Dovecot, and the
# loopback service `postfix-config` prints; delivered into a Maildir that is
# read back with Python's email package.
set -u
top=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
suite=mail
RG0=${RELAYGUARD:-$top/build/relayguard}
[ -x "$RG0" ] || { echo "FAIL: $suite: no relayguard binary at $RG0"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: $suite: needs root to run a private Postfix"; exit 0; }
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/wire.sh"
. "$top/tests/lib/rspamd.sh"
work=$(mktemp -d /tmp/rg-mail.XXXXXX); chmod 755 "$work"
cp "$RG0" "$work/relayguard"; RG=$work/relayguard
cleanup() { pf_stop; rs_stop; [ "${RG_KEEP:-0}" = 1 ] && echo "kept $work" >&2 || rm -rf "$work"; }
trap cleanup EXIT
trap "exit 130" INT TERM HUP
ok() { if [ "$1" = 0 ]; then echo "PASS: $suite: $2"; else echo "FAIL: $suite: $2${3:+: $3}"; fi; }
send() { /usr/bin/python3 "$top/tests/lib/send.py" --port "$PF_PORT" "$@" 2>&1; }
GTUBE='XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'

# the admin's mailbox: a virtual mailbox domain delivered into a Maildir
MB=$work/mailbox; mkdir -p "$MB"; chown nobody:nogroup "$MB"
echo "admin@admin.example.test admin/" > "$work/vmailbox"
ADMIN_MD=$MB/admin
# a certificate for "localhost" (libesmtp checks DNS names only)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost" -keyout "$work/key.pem" \
    -out "$work/cert.pem" > /dev/null 2>&1
chmod 644 "$work/cert.pem" "$work/key.pem"

rs_start "$work/rs" 2> "$work/rs.err" || { cat "$work/rs.err"; echo "FAIL: $suite: rspamd did not start"; exit 1; }
PF_MYNETWORKS="127.0.0.10/31 127.0.0.20/32 127.0.0.22/32" PF_MILTER=inet:127.0.0.1:$RS_PORT PF_EXTRA_MAIN="virtual_mailbox_domains = admin.example.test;virtual_mailbox_base = $MB;virtual_mailbox_maps = texthash:$work/vmailbox;virtual_uid_maps = static:65534;virtual_gid_maps = static:65534;smtpd_tls_security_level = may;smtpd_tls_cert_file = $work/cert.pem;smtpd_tls_key_file = $work/key.pem" \
    pf_start "$work/pf" 2> "$work/pf.err" || { cat "$work/pf.err"; echo "FAIL: $suite: Postfix did not start"; exit 1; }

# relayguard logs in as this user (a Dovecot login that is no [user])
printf 'relayguard-pw\n' > "$work/pw"; chmod 600 "$work/pw"
printf '%s\n' "$(cat "$PF_DIR/dovecot/users")" "relayguard@admin.example.test:{PLAIN}relayguard-pw::::::" > "$PF_DIR/dovecot/users.new"
mv "$PF_DIR/dovecot/users.new" "$PF_DIR/dovecot/users"; chown root:dovecot "$PF_DIR/dovecot/users"; chmod 640 "$PF_DIR/dovecot/users"

write_ini() {  # $1: the [mail] section's lines
    cat > "$work/rg.ini" <<INI
[global]
database = $work/rg.db
map_directory = $work/maps
postfix_config_directory = $PF_CONF
admin_contact = admin@admin.example.test
hostname = relay
[parse]
timezone = UTC
[source postfix]
path = $PF_LOG
[source rspamd]
path = $RS_LOG
[defaults]
spam_lock_threshold = 2
lock_timeout = 1h
[user "alice@example.com"]
[user "bob@example.com"]
[user "127.0.0.22"]
type = ip
quarantine_response = accepted
[user "127.0.0.10/31"]
type = ip
[mail]
$1
INI
}
SUBMIT_TLS="smtp_server = localhost:$PF_SUBMISSION_PORT
starttls = required
tls_verify = yes
tls_ca_file = $work/cert.pem
auth_user = relayguard@admin.example.test
auth_password_file = $work/pw
from = relayguard@admin.example.test
timeout = 10s
retry = 1s"
write_ini "$SUBMIT_TLS"
"$RG" -c "$work/rg.ini" check-config > /dev/null; ok $? "the test configuration is valid"
rg_wire_postfix "$RG" "$work/rg.ini" "$work" || echo "FAIL: $suite: wiring Postfix"
[ -n "${RG_MAIL_DEBUG:-}" ] && { echo "debug: $work" >&2; sleep "$RG_MAIL_DEBUG"; }
{ "$RG" -c "$work/rg.ini" init && "$RG" -c "$work/rg.ini" analyze; } > "$work/a0.out" 2>&1 || { cat "$work/a0.out"; echo "FAIL: $suite: first analyze"; }

# maildir_count - delivered mails
maildir_count() { find "$ADMIN_MD/new" "$ADMIN_MD/cur" -type f 2>/dev/null | wc -l; }
# wait_mails N - until N mails were delivered (Postfix's own queue flushed)
wait_mails() {
    local n=$1 i
    for i in $(seq 1 300); do
        [ "$(maildir_count)" -ge "$n" ] && return 0
        postqueue -c "$PF_CONF" -f 2>/dev/null; sleep 0.1
    done
    return 1
}
mails() { /usr/bin/python3 "$top/tests/lib/maildir.py" "$ADMIN_MD"; }

# ---- 1. a spam lock: the alert arrives through STARTTLS + AUTH, at once
for i in 1 2; do
    out=$(send --auth alice@example.com:alice-pw --sender alice@example.com --to dave@example.org --subject "offer $i" --body "$GTUBE")
    grep -q 'REFUSED 554 5.7.1 Gtube' <<<"$out" || echo "FAIL: $suite: GTUBE $i was not refused: $out"
done
pf_flush_log --marker
"$RG" -c "$work/rg.ini" collect --once --quiet > /dev/null 2>&1
"$RG" -c "$work/rg.ini" analyze > "$work/a1.out" 2> "$work/a1.err"; rc=$?
grep -q 'action=lock kind=user user="alice@example.com"' "$work/a1.out"; ok $? "GTUBE twice locks alice" "$(cat "$work/a1.out" "$work/a1.err")"
wait_mails 3; ok $? "the lock alert and two abuse reports were delivered (analyze sends them)" "$(cat "$work/a1.err"; "$RG" -c "$work/rg.ini" mail queue)"
"$RG" -c "$work/rg.ini" mail queue --json --all > "$work/q1.json"
mails > "$work/m1.json"
python3 - "$work/m1.json" "$work/q1.json" <<'PY'
import json, sys
m = [json.loads(l) for l in open(sys.argv[1])]
q = [json.loads(l) for l in open(sys.argv[2])]
fail = []
def check(c, what):
    print(("PASS" if c else "FAIL") + ": mail: alert: " + what)
m = [x for x in m if x["decoded"].get("Subject", "").startswith("[relayguard] locked")]
q = [x for x in q if x["kind"] == "alert"]
if len(m) != 1:
    check(False, "one alert, got %d" % len(m)); sys.exit()
a = m[0]; d = a["decoded"]
check(d.get("Subject") == "[relayguard] locked alice@example.com: 2 spam in 10 minutes (and 1 more decision)", "subject says who and why: %r" % d.get("Subject"))
check(d.get("From") == "relayguard <relayguard@admin.example.test>", "From")
check(d.get("To") == "<admin@admin.example.test>", "To")
check(a["type"] == "text/plain" and "charset=\"utf-8\"" in a["raw"].replace("charset=utf-8", "charset=\"utf-8\""), "text/plain UTF-8")
check(len(q) == 1 and q[0]["status"] == "sent" and q[0]["message_id"] == d.get("Message-ID"), "the outbox marks it sent, with the Message-ID it was made with")
check(d.get("Auto-Submitted") == "auto-generated", "Auto-Submitted")
t = a["parts"][0]["text"]
for s in ("rule spam", "count: 2 within 10m", "automatic unlocks used: 0 of 3 (3 left)",
          "relayguard unlock user alice@example.com", "relayguard explain user alice@example.com",
          "locked identity alice@example.com of alice@example.com: 2 spam in 10 minutes",
          "relayguard unlock identity alice@example.com/alice@example.com", "symbols GTUBE"):
    check(s in t, "the body has %r" % s)
check(t.count("queue ID") == 4, "both messages behind each lock are listed")
check(" with ESMTPSA id " in a["raw"], "received with STARTTLS and AUTH (ESMTPSA)")
PY

# ---- 2. ARF reports through the loopback service postfix-config prints
RGPORT=$(net_free_ports 1)
sed -i "s/^smtp_server = .*/smtp_server = 127.0.0.1:$RGPORT/" "$work/rg.ini" 2>/dev/null
write_ini "smtp_server = 127.0.0.1:$RGPORT
starttls = no
alert_interval = 1s
from = relayguard@admin.example.test
timeout = 10s
retry = 1s"
"$RG" -c "$work/rg.ini" postfix-config --master | grep -v '^#' >> "$PF_CONF/master.cf"
postfix -c "$PF_CONF" reload > /dev/null 2>&1
for i in $(seq 1 100); do net_listening "$RGPORT" && break; sleep 0.1; done
net_listening "$RGPORT"; ok $? "postfix-config's service for relayguard's own mail listens"
# a manual lock: its alert says so
n0=$(maildir_count)
"$RG" -c "$work/rg.ini" lock user 127.0.0.22 --reason "quarantine test" > /dev/null 2>&1
# a held message (a header_checks HOLD rule after relayguard's)
echo '/^Subject: .*HOLDME/ HOLD held as spam by the test rule' > "$work/hold_checks"
postconf -c "$PF_CONF" -e "header_checks = $(postconf -c "$PF_CONF" -h header_checks), pcre:$work/hold_checks"
postfix -c "$PF_CONF" reload > /dev/null 2>&1; sleep 1
out=$(send --from-ip 127.0.0.10 --sender shop@web.example --to lee@example.org --to kim@example.net \
    --subject "HOLDME Grüße =?utf-8?q?x?= cheap" --header "X-Client-ID: tenant-4" --body "held body line
.leading dot line
From the start")
held=$(pf_queue_ids hold | head -1)
[ -n "$held" ]; ok $? "the locked quarantine user's message is held" "$out"
postcat -c "$PF_CONF" -bh -q "$held" > "$work/held.postcat" 2>/dev/null
# one GTUBE from bob: refused by the milter (no copy left)
send --auth bob@example.com:bob-pw --sender bob@example.com --to dave@example.org --body "$GTUBE" > /dev/null
pf_flush_log --marker
"$RG" -c "$work/rg.ini" collect --once --quiet > /dev/null 2>&1
"$RG" -c "$work/rg.ini" analyze > "$work/a2.out" 2> "$work/a2.err"
wait_mails $((n0 + 3)); ok $? "the manual lock alert and two more reports arrived" "$(cat "$work/a2.err"; "$RG" -c "$work/rg.ini" mail queue)"
mails > "$work/m2.json"
python3 - "$work/m2.json" "$work/held.postcat" "$held" <<'PY'
import json, re, sys
m = [json.loads(l) for l in open(sys.argv[1])]
postcat = open(sys.argv[2], "rb").read().decode("latin-1")
qid = sys.argv[3]
def check(c, what):
    print(("PASS" if c else "FAIL") + ": mail: arf: " + what)
arfs = [x for x in m if x["type"] == "multipart/report"]
held = [x for x in arfs if ("X-Relayguard-Queue-ID", qid) in
        [tuple(f) for f in x["parts"][1].get("fields", [])]]
manual = [x for x in m if x["decoded"].get("Subject") == "[relayguard] locked 127.0.0.22 by hand"]
check(len(manual) == 1 and "(done by hand)" in manual[0]["parts"][0]["text"] and "quarantine test" in manual[0]["parts"][0]["text"], "a manual lock is mailed, marked as done by hand, with its reason")
check(len(arfs) == 4, "four reports: alice's two, bob's, the held one (got %d)" % len(arfs))
check(len(held) == 1, "one report of the held message")
if not held: sys.exit()
h = held[0]
ct = dict(h["headers"])["Content-Type"]
check("report-type=feedback-report" in ct, "multipart/report; report-type=feedback-report")
check([p["type"] for p in h["parts"]] == ["text/plain", "message/feedback-report", "message/rfc822"], "three parts: text, feedback-report, the message")
f = h["parts"][1]["fields"]
def field(k): return [v for kk, v in f if kk == k]
check(field("Feedback-Type") == ["abuse"], "Feedback-Type: abuse")
check(field("User-Agent") == ["relayguard/0.1.0"], "User-Agent")
check(field("Version") == ["1"], "Version: 1")
check(field("Original-Mail-From") == ["<shop@web.example>"], "Original-Mail-From")
check(sorted(field("Original-Rcpt-To")) == ["<kim@example.net>", "<lee@example.org>"], "one Original-Rcpt-To per recipient: %r" % field("Original-Rcpt-To"))
check(len(field("Arrival-Date")) == 1, "Arrival-Date")
check(field("Source-IP") == ["127.0.0.10"], "Source-IP")
check(field("Reported-Domain") == ["web.example"], "Reported-Domain")
check(field("X-Relayguard-User") == ["127.0.0.10/31"] and field("X-Relayguard-Action") == ["hold"], "the user and the action in extension fields")
check(all(all(32 <= ord(c) < 127 for c in v) for k, v in f), "every feedback-report field is ASCII")
# the attached message, byte for byte as postcat printed it
raw = h["raw"]
b = re.search(r'boundary="([^"]+)"', raw).group(1)
part = raw.split("--" + b)[3]
body = part.split("\n\n", 1)[1]
check(body == postcat + "\n" or body == postcat, "the attached message is byte-identical to postcat -bh -q output (%d bytes vs %d)" % (len(body), len(postcat)))
check(h["decoded"]["Subject"] == "[relayguard] abuse report: spam from 127.0.0.10/31 (held %s)" % qid, "subject: %r" % h["decoded"]["Subject"])
t = h["parts"][0]["text"]
check("tried to send" in t and "As logged" in t and "attached" in t, "the text part says what happened, labelled as logged")
bob = [x for x in arfs if ["X-Relayguard-User", "bob@example.com"] in x["parts"][1].get("fields", [])]
check(len(bob) == 1 and len(bob[0]["parts"]) == 2, "a refused message: no third part")
if bob:
    bf = dict((k, v) for k, v in bob[0]["parts"][1]["fields"])
    check(bf.get("X-Relayguard-Action") == "milter-reject" and bf.get("X-Relayguard-Symbols") == "GTUBE", "a refused message: action and verdict fields")
    check("not logged" in bob[0]["parts"][0]["text"] or "envelope to" in bob[0]["parts"][0]["text"], "a refused message: the logged facts in the text part")
PY
# ---- 3. one report per message, ever: released and delivered, no second one
postsuper -c "$PF_CONF" -H "$held" > /dev/null 2>&1
postqueue -c "$PF_CONF" -f; pf_wait_settled 30
pf_flush_log --marker
"$RG" -c "$work/rg.ini" collect --once --quiet > /dev/null 2>&1
"$RG" -c "$work/rg.ini" analyze > /dev/null 2>&1
"$RG" -c "$work/rg.ini" mail send > /dev/null 2>&1
n1=$(maildir_count)
[ "$n1" = $((n0 + 3)) ]; ok $? "a released held message is not reported again" "$n1 mails, expected $((n0 + 3))"

# ---- 4. hostile values through the real Postfix: an encoded word with
# CR LF in an identity (the envelope sender) that a spam lock names, and a
# 1000-byte sender of a held message: neither adds a header or a part
EVIL='"=?utf-8?q?=0D=0AX-Injected:_1?="@web.example'
LONG="$(printf 'x%.0s' $(seq 1 990))@web.example"
n0=$(maildir_count)
for i in 1 2; do send --from-ip 127.0.0.10 --sender "$EVIL" --to dave@example.org --body "$GTUBE" > /dev/null; done
out=$(send --from-ip 127.0.0.10 --sender "$LONG" --to lee@example.org --subject "HOLDME long" --body "long sender")
pf_flush_log --marker
"$RG" -c "$work/rg.ini" collect --once --quiet > /dev/null 2>&1
"$RG" -c "$work/rg.ini" analyze > "$work/a4.out" 2> "$work/a4.err"
grep -q 'action=lock kind=identity user="127.0.0.10/31"' "$work/a4.out"; ok $? "the hostile identity is locked" "$(cat "$work/a4.out")"
sleep 1.1; "$RG" -c "$work/rg.ini" mail send > /dev/null 2>&1
wait_mails $((n0 + 4)); ok $? "the alert and three reports of hostile values arrived" "$(maildir_count) of $((n0 + 4)); $(cat "$work/a4.err"; "$RG" -c "$work/rg.ini" mail queue)"
mails > "$work/m4.json"
python3 - "$work/m4.json" "$EVIL" "$LONG" <<'PY'
import json, sys
m = [json.loads(l) for l in open(sys.argv[1])]
evil, long_ = sys.argv[2], sys.argv[3]
def check(c, what):
    print(("PASS" if c else "FAIL") + ": mail: hostile: " + what)
allowed_top = {"Return-Path", "X-Original-To", "Delivered-To", "Received", "From", "To", "Date",
               "Message-ID", "Subject", "Auto-Submitted", "MIME-Version", "Content-Type",
               "Content-Transfer-Encoding"}
bad = [h for x in m for h, v in x["headers"] if h not in allowed_top]
check(not bad, "no mail has a header field relayguard did not write: %r" % bad)
check(all("X-Injected" not in h for x in m for p in x["parts"] for h, v in p.get("headers", []) + p.get("fields", [])), "no injected field in any part")
al = [x for x in m if x["decoded"].get("Subject", "").startswith("[relayguard] locked")]
want = "[relayguard] locked 127.0.0.10/31: 2 spam in 10 minutes (and 1 more decision)"
check(any(x["decoded"]["Subject"] == want for x in al), "the alert's subject: %r" % [x["decoded"]["Subject"] for x in al])
# identities are folded as Postfix folds its lookups: verbatim but for case
hit = [x for x in al if evil.lower() in x["parts"][0]["text"].lower()]
check(len(hit) == 1, "the hostile identity appears verbatim (case-folded) in the text part")
for x in m:
    for h, v in x["headers"]:
        check(all(ord(c) < 128 for c in v) and "\r" not in v, "header %s is ASCII without CR" % h) if h == "Subject" else None
arfs = [x for x in m if x["type"] == "multipart/report"]
ev = [x for x in arfs if "Gtube" in x["parts"][0]["text"] or "GTUBE" in x["parts"][0]["text"]]
check(all(len(x["parts"]) == 2 for x in ev) and len(ev) >= 2, "the refused hostile messages: two parts each")
for x in ev:
    f = dict(x["parts"][1]["fields"])
    check(f.get("Original-Mail-From") == "<%s>" % evil if False else "Original-Mail-From" not in f or "\n" not in f["Original-Mail-From"], "Original-Mail-From is one line")
lg = [x for x in arfs if long_ in x["parts"][0]["text"]]
check(len(lg) == 1, "the 1000-byte sender is shown in the text part")
if lg:
    f = dict(lg[0]["parts"][1]["fields"])
    check("Original-Mail-From" not in f and "Reported-Domain" not in f, "a 1000-byte address is never placed in a field")
    raw = lg[0]["raw"]; ours = raw[:raw.find("Content-Type: message/rfc822")]
    check(all(len(l) <= 998 for l in ours.split("\n")), "no line relayguard wrote is longer than 998 bytes")
PY

# ---- 4b. decisions within alert_interval: one digest after the first alert
sed -i 's/^alert_interval = 1s/alert_interval = 1m/' "$work/rg.ini"
ids0=$(sqlite3 "$work/rg.db" "SELECT COALESCE(max(id), 0) FROM outbox")
for u in bob@example.com alice@example.com 127.0.0.10/31; do
    "$RG" -c "$work/rg.ini" lock user "$u" --reason "wave $u" > /dev/null 2>&1
done
sqlite3 -separator '|' "$work/rg.db" "SELECT id, next_try > created + 30000000, subject FROM outbox WHERE kind = 'alert' AND id > $ids0 ORDER BY id" > "$work/digest.rows"
python3 - "$work/digest.rows" <<'PY'
import sys
rows = [l.rstrip("\n").split("|", 2) for l in open(sys.argv[1])]
# the first may wait too (an alert went out less than a minute ago)
ok = 1 <= len(rows) <= 2 and rows[-1][1] == "1" and rows[-1][2].startswith("[relayguard] %d decisions: %d locked" % (4 - len(rows), 4 - len(rows)))
print(("PASS" if ok else "FAIL") + ": mail: three locks within alert_interval: at most the first alone, the rest in one digest a minute later: %r" % rows)
PY
did=$(tail -1 "$work/digest.rows" | cut -d'|' -f1)
n0=$(maildir_count)
"$RG" -c "$work/rg.ini" mail retry "$did" > /dev/null; "$RG" -c "$work/rg.ini" mail send > /dev/null 2>&1
wait_mails $((n0 + 1)); mails > "$work/m4b.json"
python3 - "$work/m4b.json" <<'PY'
import json, re, sys
m = [json.loads(l) for l in open(sys.argv[1])]
d = [x for x in m if re.match(r"\[relayguard\] [23] decisions: [23] locked", x["decoded"].get("Subject", ""))]
t = d[0]["parts"][0]["text"] if d else ""
ok = len(d) == 1 and "locked alice@example.com by hand" in t and "locked 127.0.0.10/31 by hand" in t and "wave alice@example.com" in t
print(("PASS" if ok else "FAIL") + ": mail: the digest arrives with both decisions in full")
PY
sed -i 's/^alert_interval = 1m/alert_interval = 1s/' "$work/rg.ini"
"$RG" -c "$work/rg.ini" unlock user bob@example.com > /dev/null 2>&1
# everything queued so far (the unlock's alert, a digest still waiting for
# its interval) is delivered first, or it lands after the count below
"$RG" -c "$work/rg.ini" mail retry --all > /dev/null 2>&1
"$RG" -c "$work/rg.ini" mail send > /dev/null 2>&1
pf_wait_settled > /dev/null 2>&1
n_settled=$(maildir_count)
for i in $(seq 1 50); do sleep 0.1; [ "$(maildir_count)" = "$n_settled" ] || n_settled=$(maildir_count); done

# ---- 5. faults: the server down, then back: every mail exactly once
postfix -c "$PF_CONF" stop > /dev/null 2>&1
for i in $(seq 1 50); do net_listening "$RGPORT" || break; sleep 0.1; done
n0=$(maildir_count)
for i in 1 2 3 4 5; do "$RG" -c "$work/rg.ini" mail test admin@admin.example.test > "$work/t$i.out" 2> "$work/t$i.err"; done
rc=$?
[ "$rc" = 75 ] && grep -q "Connection refused" "$work/t5.err" && [ "$(wc -l < "$work/t5.err")" = 1 ]; ok $? "server down: exit 75 and a one-line reason" "rc=$rc $(cat "$work/t5.err")"
"$RG" -c "$work/rg.ini" mail queue --json > "$work/q5.json"
python3 -c "
import json,sys
q=[json.loads(l) for l in open('$work/q5.json')]
t=[x for x in q if x['kind']=='test']
sys.exit(0 if len(t)==5 and all(x['status']=='queued' and 'Connection refused' in x.get('last_reply','') for x in t) else 1)"
ok $? "server down: the outbox holds all five, with the reason"
postfix -c "$PF_CONF" start > /dev/null 2>&1
for i in $(seq 1 100); do net_listening "$RGPORT" && break; sleep 0.1; done
"$RG" -c "$work/rg.ini" mail retry --all > /dev/null
"$RG" -c "$work/rg.ini" mail send > "$work/s5.out" 2>&1; ok $? "server back: mail send sends them" "$(cat "$work/s5.out")"
"$RG" -c "$work/rg.ini" mail send > /dev/null 2>&1
wait_mails $((n0 + 5)); sleep 1
[ "$(maildir_count)" = $((n0 + 5)) ]; ok $? "every mail arrived exactly once" "$(maildir_count) vs $((n0 + 5))"

# ---- 6. mail send SIGKILLed at random moments: everything arrives, a
# duplicate only ever with the same Message-ID
N=40
queue_tests() {  # queue $1 test mails while the server is down
    postfix -c "$PF_CONF" stop > /dev/null 2>&1
    for i in $(seq 1 50); do net_listening "$RGPORT" || break; sleep 0.1; done
    for i in $(seq 1 "$1"); do "$RG" -c "$work/rg.ini" mail test admin@admin.example.test > /dev/null 2>&1; done
    postfix -c "$PF_CONF" start > /dev/null 2>&1
    for i in $(seq 1 100); do net_listening "$RGPORT" && break; sleep 0.1; done
    "$RG" -c "$work/rg.ini" mail retry --all > /dev/null
}
queue_tests $N
t0=$(date +%s%N); "$RG" -c "$work/rg.ini" mail send > /dev/null 2>&1; t1=$(date +%s%N)
run_ms=$(( (t1 - t0) / 1000000 + 1 ))
n0=$(maildir_count)
wait_mails $((n0))
queue_tests $N
sqlite3 "$work/rg.db" "SELECT message_id FROM outbox WHERE status = 'queued'" | sort > "$work/kill.ids"
seed=${RG_SEED:-$RANDOM}; RANDOM=$seed
kills=0
for k in $(seq 1 25); do
    left=$(sqlite3 "$work/rg.db" "SELECT count(*) FROM outbox WHERE status = 'queued'")
    [ "$left" = 0 ] && break
    "$RG" -c "$work/rg.ini" mail send > /dev/null 2>&1 &
    pid=$!
    d=$(( RANDOM % run_ms ))
    sleep "$(printf '%d.%03d' $((d / 1000)) $((d % 1000)))"
    kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
    wait "$pid" 2>/dev/null
    "$RG" -c "$work/rg.ini" mail retry --all > /dev/null
done
"$RG" -c "$work/rg.ini" mail send > /dev/null 2>&1
sleep 1; postqueue -c "$PF_CONF" -f; pf_wait_settled 30
mails > "$work/m6.json"
python3 - "$work/m6.json" "$work/kill.ids" "$kills" "$seed" "$run_ms" <<'PY'
import json, sys, collections
m = [json.loads(l) for l in open(sys.argv[1])]
ids = set(l.strip() for l in open(sys.argv[2]) if l.strip())
got = collections.defaultdict(set)
for x in m:
    mid = x["decoded"].get("Message-ID")
    if mid in ids:
        got[mid].add(x["parts"][0]["text"])
missing = ids - set(got)
dups = sum(1 for x in m if x["decoded"].get("Message-ID") in ids) - len(got)
print(("PASS" if not missing else "FAIL") + ": mail: SIGKILL: all %d mails arrived (%s kills, seed %s, one run %s ms, %d duplicates)%s" % (len(ids), sys.argv[3], sys.argv[4], sys.argv[5], dups, "" if not missing else ": %d missing" % len(missing)))
print(("PASS" if all(len(v) == 1 for v in got.values()) else "FAIL") + ": mail: SIGKILL: a duplicate is the same mail with the same Message-ID")
PY

# ---- 6b. past abuse_reports_per_hour: one plain summary, not ARF
sed -i 's/^alert_interval = 1s/alert_interval = 1s\nabuse_reports_per_hour = 0/' "$work/rg.ini"
n0=$(maildir_count)
send --auth bob@example.com:bob-pw --sender bob@example.com --to dave@example.org --body "$GTUBE" > /dev/null
send --auth bob@example.com:bob-pw --sender bob@example.com --to erin@example.org --body "$GTUBE" > /dev/null
pf_flush_log --marker
"$RG" -c "$work/rg.ini" collect --once --quiet > /dev/null 2>&1
"$RG" -c "$work/rg.ini" analyze > /dev/null 2>&1; sleep 1.1; "$RG" -c "$work/rg.ini" mail send > /dev/null 2>&1
wait_mails $((n0 + 2)); sleep 1; mails > "$work/m6b.json"
python3 - "$work/m6b.json" <<'PY'
import json, sys
m = [json.loads(l) for l in open(sys.argv[1])]
s = [x for x in m if x["decoded"].get("Subject") == "[relayguard] 2 more spam messages of bob@example.com (summary, no ARF)"]
ok = len(s) == 1 and s[0]["type"] == "text/plain" and s[0]["parts"][0]["text"].count("refused") >= 2
print(("PASS" if ok else "FAIL") + ": mail: past abuse_reports_per_hour the reports are one plain summary: %r" % [x["decoded"].get("Subject") for x in m[-3:]])
PY
# ---- 6c. give_up_after: marked failed, logged, shown; never dropped
CPORT=$(net_free_ports 1)
sed -e "s/^smtp_server = .*/smtp_server = 127.0.0.1:$CPORT/" -e 's/^alert_interval = 1s/alert_interval = 1s\ngive_up_after = 60s/' "$work/rg.ini" > "$work/gu.ini"
"$RG" -c "$work/gu.ini" mail test admin@admin.example.test > /dev/null 2>&1
gid=$(sqlite3 "$work/rg.db" "SELECT max(id) FROM outbox")
sqlite3 "$work/rg.db" "UPDATE outbox SET created = created - 61000000 WHERE id = $gid"
"$RG" -c "$work/gu.ini" mail retry "$gid" > /dev/null
"$RG" -c "$work/gu.ini" mail send > /dev/null 2> "$work/gu.err"; rc=$?
"$RG" -c "$work/gu.ini" mail queue --json | grep "\"id\":$gid," | grep -q '"status":"failed".*gave up after 60s: 127.0.0.1'; ok $? "give_up_after reached: failed, with the reason, still in mail queue" "rc=$rc $(cat "$work/gu.err")"
grep -q "failed: gave up after 60s" "$work/gu.err"; ok $? "give_up_after reached: logged"

# ---- 7. a wrong password and starttls = required against no TLS: a clear
# reason, the mail kept
write_ini "$SUBMIT_TLS"
postconf -c "$PF_CONF" -P "127.0.0.1:$PF_SUBMISSION_PORT/inet/smtpd_recipient_restrictions=permit_sasl_authenticated,reject"
postfix -c "$PF_CONF" reload > /dev/null 2>&1; sleep 1
"$RG" -c "$work/rg.ini" mail test admin@admin.example.test > "$work/t7.out" 2> "$work/t7.err"; rc=$?
[ "$rc" = 0 ] && grep -q "credentials not shown" "$work/t7.out" && ! grep -q "relayguard-pw\|cmVsYXlndWFyZC" "$work/t7.out"; ok $? "mail test shows the dialogue, not the credentials" "rc=$rc $(cat "$work/t7.err")"
grep -q "^-- TLS started" "$work/t7.out"; ok $? "mail test shows STARTTLS"
printf 'wrong-pw\n' > "$work/pw"
"$RG" -c "$work/rg.ini" mail test admin@admin.example.test > "$work/t8.out" 2> "$work/t8.err"; rc=$?
[ "$rc" = 75 ] && grep -q "authentication as relayguard@admin.example.test refused: 535" "$work/t8.err" && [ "$(wc -l < "$work/t8.err")" = 1 ]; ok $? "a wrong password: exit 75 and the 535 as a one-line reason" "rc=$rc $(cat "$work/t8.err")"
"$RG" -c "$work/rg.ini" mail queue --json | grep -q '"status":"queued".*refused: 535'; ok $? "a wrong password: the mail is kept"
printf 'relayguard-pw\n' > "$work/pw"
postconf -c "$PF_CONF" -e "smtpd_tls_security_level = none"
postfix -c "$PF_CONF" reload > /dev/null 2>&1; sleep 1
n0=$(maildir_count)
"$RG" -c "$work/rg.ini" mail test admin@admin.example.test > "$work/t9.out" 2> "$work/t9.err"; rc=$?
[ "$rc" = 75 ] && grep -q "offers no STARTTLS (starttls = required)" "$work/t9.err" && [ "$(wc -l < "$work/t9.err")" = 1 ]; ok $? "starttls = required, no TLS offered: exit 75, a one-line reason" "rc=$rc $(cat "$work/t9.err")"
! grep -q "^C: MAIL" "$work/t9.out"; ok $? "starttls = required, no TLS offered: nothing sent in clear text"
sleep 1; [ "$(maildir_count)" = "$n0" ]; ok $? "starttls = required, no TLS offered: nothing delivered"

# ---- 8. a server that stops answering (mid-DATA, or before its greeting):
# no hang past timeout, the mail kept with a reason
SPORT=$(net_free_ports 1)
for mode in data greet; do
    /usr/bin/python3 "$top/tests/lib/stall_smtp.py" "$SPORT" "$mode" > "$work/stall.out" 2>&1 &
    spid=$!
    for i in $(seq 1 50); do grep -q ready "$work/stall.out" 2>/dev/null && break; sleep 0.1; done
    write_ini "smtp_server = 127.0.0.1:$SPORT
starttls = no
from = relayguard@admin.example.test
timeout = 2s"
    t0=$(date +%s%N)
    "$RG" -c "$work/rg.ini" mail test admin@admin.example.test > "$work/st.out" 2> "$work/st.err"; rc=$?
    el=$(( ($(date +%s%N) - t0) / 1000000 ))
    kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
    [ "$rc" = 75 ] && [ "$el" -lt 8000 ] && [ "$(wc -l < "$work/st.err")" = 1 ]; ok $? "a server silent $( [ $mode = data ] && echo after DATA || echo before its greeting ): gives up after the timeout (${el} ms for timeout = 2s), exit 75, one line" "rc=$rc $(cat "$work/st.err")"
    "$RG" -c "$work/rg.ini" mail queue --json | tail -1 | grep -q '"status":"queued"'; ok $? "a server silent ($mode): the mail is kept"
done
