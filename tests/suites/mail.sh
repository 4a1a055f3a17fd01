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
PF_MILTER=inet:127.0.0.1:$RS_PORT PF_EXTRA_MAIN="virtual_mailbox_domains = admin.example.test;virtual_mailbox_base = $MB;virtual_mailbox_maps = texthash:$work/vmailbox;virtual_uid_maps = static:65534;virtual_gid_maps = static:65534;smtpd_tls_security_level = may;smtpd_tls_cert_file = $work/cert.pem;smtpd_tls_key_file = $work/key.pem" \
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
"$RG" -c "$work/rg.ini" analyze > "$work/a0.out" 2>&1 || { cat "$work/a0.out"; echo "FAIL: $suite: first analyze"; }

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
wait_mails 1; ok $? "the lock alert was delivered (analyze sends it)" "$(cat "$work/a1.err"; "$RG" -c "$work/rg.ini" mail queue)"
"$RG" -c "$work/rg.ini" mail queue --json --all > "$work/q1.json"
mails > "$work/m1.json"
python3 - "$work/m1.json" "$work/q1.json" <<'PY'
import json, sys
m = [json.loads(l) for l in open(sys.argv[1])]
q = [json.loads(l) for l in open(sys.argv[2])]
fail = []
def check(c, what):
    print(("PASS" if c else "FAIL") + ": mail: alert: " + what)
if len(m) != 1:
    check(False, "one mail, got %d" % len(m)); sys.exit()
a = m[0]; d = a["decoded"]
check(d.get("Subject") == "[relayguard] locked alice@example.com: 2 spam in 10 minutes (and 1 more decision)", "subject says who and why: %r" % d.get("Subject"))
check(d.get("From") == "relayguard <relayguard@admin.example.test>", "From")
check(d.get("To") == "<admin@admin.example.test>", "To")
check(a["type"] == "text/plain" and "charset=\"utf-8\"" in a["raw"].replace("charset=utf-8", "charset=\"utf-8\""), "text/plain UTF-8")
check(len(q) == 1 and q[0]["status"] == "sent" and q[0]["message_id"] == d.get("Message-ID"), "the outbox marks it sent, with the Message-ID it was made with")
check(d.get("Auto-Submitted") == "auto-generated", "Auto-Submitted")
t = a["parts"][0]["text"]
for s in ("rule spam", "count: 2 within 600s", "automatic unlocks used: 0 of 3 (3 left)",
          "relayguard unlock user alice@example.com", "relayguard explain user alice@example.com",
          "locked identity alice@example.com of alice@example.com: 2 spam in 10 minutes",
          "relayguard unlock identity alice@example.com/alice@example.com", "symbols GTUBE"):
    check(s in t, "the body has %r" % s)
check(t.count("queue ID") == 4, "both messages behind each lock are listed")
check(" with ESMTPSA id " in a["raw"], "received with STARTTLS and AUTH (ESMTPSA)")
PY
