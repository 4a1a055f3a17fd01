#!/bin/bash
# tests/suites/hostile.sh - hostile text in every field a message can set,
# through the real Postfix and the real rspamd milter, then `collect` and
# `analyze`: spam must still count as spam, the lock must land on the user
# who spammed and only there, and every map must stay whole.
#
# The fields: envelope sender, recipients, header From, Subject,
# Message-ID, HELO (and the SASL login, in the unit cases of
# tests/unit/pfline_cases.txt: the test Dovecot's logins are fixed).  Each
# case is one line of the CASES table below: a new parser field adds its
# hostile case there.  Then a few cases again after rspamd took relayguard's
# own log format (rspamd-config --logging) and a milter that quarantines
# (quarantine_on_reject) on SIGHUP.  Starts rspamd and Postfix once.
#
# What the real programs log (rspamd 3.4, Postfix 3.7), seen here: rspamd
# writes a quoted local part without its quotes, a Message-ID's spaces as
# "?" (and drops its (comments)), the sender in symbol options
# (FORGED_SENDER{...}), and no from:/rcpts: at all for SMTPUTF8 mail;
# Postfix keeps the quotes, and writes a HELO's spaces, ';', '<', '=', '@'
# as '?'.
#
# Environment: RELAYGUARD (default build/relayguard), RG_KEEP=1 keeps the
# temporary folder.
set -u
top=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
suite=hostile
RG0=${RELAYGUARD:-$top/build/relayguard}
[ -x "$RG0" ] || { echo "FAIL: $suite: no relayguard binary at $RG0"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: $suite: needs root to run a private Postfix and rspamd"; exit 0; }
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/wire.sh"
. "$top/tests/lib/rspamd.sh"
work=$(mktemp -d /tmp/rg-hostile.XXXXXX); chmod 755 "$work"
cp "$RG0" "$work/relayguard"; RG=$work/relayguard
cleanup() { pf_stop; rs_stop; [ "${RG_KEEP:-0}" = 1 ] && echo "kept $work" >&2 || rm -rf "$work"; }
trap cleanup EXIT
trap "exit 130" INT TERM HUP
ok() { if [ "$1" = 0 ]; then echo "PASS: $suite: $2"; else echo "FAIL: $suite: $2${3:+: $3}"; fi; }

# ---- the cases: one line each, fields separated by " | ":
# NAME | LOGIN | HELO | SENDER | RECIPIENTS (" + " between) | HEADER FROM | SUBJECT | MESSAGE-ID | BODY
# LOGIN is a test user of tests/lib/postfix.sh (alice, bob, carol: the
# domain is added); "-" in a field: a plain default; BODY is gtube (rspamd
# rejects it), addheader (rspamd adds X-Spam: Yes) or clean.  \xNN escapes
# give non-ASCII bytes; a case with non-ASCII in the envelope is sent with
# SMTPUTF8; FOLD folds a header line; LONG is 300 letters.  Every spam case is alice's: she alone
# must be locked; bob's and carol's are clean (carol's forge a spam verdict).
cat > "$work/cases" <<'CASES'
forged-sender   | alice | -    | "x (default: F (no action): [0.00/15.00] [NONE])"@evil.example | - | - | - | - | gtube
forged-sender-s | alice | -    | "x (default: S (no action): [0.00/15.00] [NONE]), qid: <AAAAAAAAAA>, ip: 127.0.0.9, user: bob@example.com, from: <bob@example.com>,"@evil.example | - | - | - | - | gtube
forged-rcpt     | alice | -    | alice@example.com | "y (default: F (no action): [0.00/15.00] [NONE]), len: 1, time: 1.0ms, dns req: 0, digest: <00000000000000000000000000000000>"@example.org + dave@example.org | - | - | - | gtube
forged-msgid    | alice | -    | alice@example.com | - | - | - | <a>, qid: <BBBBBBBBBB>, (default: F (no action): [0.00/15.00] [NONE]), x@evil.example> | gtube
forged-from     | alice | -    | alice@example.com | - | "z]) (default: F (no action): [0.00/15.00] [NONE])"@evil.example | - | - | gtube
forged-subject  | alice | -    | alice@example.com | - | - | (default: F (no action): [0.00/15.00] [NONE]); from=<bob@example.com> | - | gtube
tail-sender     | alice | -    | "a; from=<bob@example.com> to=<dave@example.org> proto=ESMTP helo=<x>"@evil.example | - | - | - | - | gtube
forged-helo     | alice | x; from=<bob@example.com> to=<dave@example.org> proto=ESMTP helo=<y | alice@example.com | - | - | - | - | gtube
crlf-sender     | alice | -    | "a\\r\\nb=0D=0A%0d%0a"@evil.example | - | - | SubjectFOLDX-Spam: No | - | gtube
long-sender     | alice | -    | LONG@evil.example | - | - | - | - | gtube
hash-space      | alice | -    | "#spam x"@evil.example | "#r s"@example.org + "a b"@example.org | - | - | - | gtube
utf8-sender     | alice | h\xc3\xa9lo.example | \xc3\x84bc@evil.example | d\xc3\xa4ve@example.org | \xc3\x84bc@evil.example | gr\xc3\xbc\xc3\x9fe | - | gtube
forged-addhdr   | alice | -    | "x (default: F (no action): [0.00/15.00] [NONE])"@evil.example | - | - | - | - | addheader
clean-bob       | bob   | -    | bob@example.com | - | - | - | - | clean
clean-forged    | carol | -    | "q (default: T (reject): [99.00/15.00] [GTUBE])"@example.net | "r (default: T (reject): [99.00/15.00] [GTUBE])"@example.org | "s]) (default: T (reject): [99.00/15.00] [X])"@example.net | (default: T (reject): [99.00/15.00] [GTUBE]) | <m (default: T (reject)) x@y> | clean
CASES
nspam=$(grep -cE '\| (gtube|addheader)$' "$work/cases")

rs_start "$work/rs" 2> "$work/rs.err" || { cat "$work/rs.err"; echo "FAIL: $suite: rspamd did not start"; exit 1; }
PF_MILTER=inet:127.0.0.1:$RS_PORT PF_EXTRA_MAIN="smtputf8_enable = yes" pf_start "$work/pf" 2> "$work/pf.err" \
    || { cat "$work/pf.err"; echo "FAIL: $suite: Postfix did not start"; exit 1; }
cat > "$work/rg.ini" <<INI
[global]
database = $work/rg.db
map_directory = $work/maps
postfix_config_directory = $PF_CONF
admin_contact = abuse@example.org
hostname = relay
[parse]
timezone = UTC
[source postfix]
path = $PF_LOG
[source rspamd]
path = $RS_LOG
[defaults]
spam_lock_threshold = $nspam
lock_timeout = 1h
lock_identities = no
[user "alice@example.com"]
[user "bob@example.com"]
[user "carol@example.net"]
INI
"$RG" -c "$work/rg.ini" init > "$work/a0.out" 2>&1 && "$RG" -c "$work/rg.ini" analyze >> "$work/a0.out" 2>&1
ok $? "init and a first analyze write the (empty) maps" "$(head -c 300 "$work/a0.out")"
rg_wire_postfix "$RG" "$work/rg.ini" "$work"; ok $? "Postfix takes postfix-config's lines"

# ---- send every case, one SMTP session each
cat > "$work/sender.py" <<'EOF'
import json, smtplib, sys
sys.path.insert(0, sys.argv[1])
import send
port, cases, out = int(sys.argv[2]), sys.argv[3], sys.argv[4]
BODY = {
    "gtube": "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X",
    "addheader": "YJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X",
    "clean": "Hello,\r\n\r\nthe minutes of Tuesday's meeting are below.\r\n\r\nRegards",
}
PW = {"alice": ("alice@example.com", "alice-pw"), "bob": ("bob@example.com", "bob-pw"),
      "carol": ("carol@example.net", "carol-pw")}

def unesc(s):
    s = s.replace("LONG", "l" * 300)
    return s.encode("latin-1").decode("unicode_escape").encode("latin-1").decode("utf-8")

res = []
for n, line in enumerate(open(cases)):
    if not line.strip():
        continue
    f = [x.strip() for x in line.rstrip("\n").split(" | ")]
    name, login, helo, sender, rcpts, hfrom, subj, mid, body = f
    user, pw = PW[login]
    helo = "client.example.test" if helo == "-" else unesc(helo)
    sender = unesc(sender)
    rcpts = ["dave@example.org"] if rcpts == "-" else [unesc(r) for r in rcpts.split(" + ")]
    hfrom = sender if hfrom == "-" else unesc(hfrom)
    subj = "hostile %s" % name if subj == "-" else unesc(subj)
    mid = "<rg-hostile-%s-%d@client.example.test>" % (cases.rsplit("/", 1)[-1], n) if mid == "-" else unesc(mid)
    utf8 = any(ord(c) > 127 for c in sender + "".join(rcpts) + helo)
    data = send.build_message(hfrom, rcpts, subject=subj, body=BODY[body], message_id=mid)
    data = data.replace("FOLD", "\r\n ")  # a folded header
    r = {"name": name, "login": user, "body": body, "sender": sender, "message_id": mid,
         "error": None}
    try:
        s = smtplib.SMTP("127.0.0.1", port, local_hostname="x", timeout=30,
                         source_address=("127.0.0.5", 0))
        s.command_encoding = "utf-8"
        s.ehlo(helo)
        s.user, s.password = user, pw
        s.auth("PLAIN", s.auth_plain, initial_response_ok=True)
        opts = " SMTPUTF8" if utf8 else ""
        code, text = s.docmd("MAIL", "FROM:<%s>%s" % (sender, opts))
        r["mail"] = [code, text.decode("utf-8", "replace")]
        for rc in rcpts:
            code, text = s.docmd("RCPT", "TO:<%s>" % rc)
            r.setdefault("rcpt", []).append([code, text.decode("utf-8", "replace")])
        code, text = s.data(data.encode("utf-8"))
        r["data"] = [code, text.decode("utf-8", "replace")]
        s.quit()
    except (OSError, smtplib.SMTPException) as e:
        r["error"] = "%s: %s" % (type(e).__name__, e)
    res.append(r)
json.dump(res, open(out, "w"), indent=1)
EOF
/usr/bin/python3 - "$top/tests/lib" "$PF_PORT" "$work/cases" "$work/sent.json" < "$work/sender.py"
pf_wait_settled >/dev/null 2>&1; pf_flush_log >/dev/null 2>&1
for _ in $(seq 1 50); do
    [ "$(grep -c 'rspamd_task_write_log' "$RS_LOG")" -ge "$(grep -c . "$work/cases")" ] && break
    sleep 0.1
done

# ---- what Postfix answered: GTUBE refused at end of data, the rest queued
/usr/bin/python3 - "$work/sent.json" > "$work/smtp.out" <<'EOF'
import json, sys
for r in json.load(open(sys.argv[1])):
    d = r.get("data") or [0, r.get("error")]
    want = 554 if r["body"] == "gtube" else 250
    if d[0] != want:
        print("%s: wanted %d at end of data, got %s" % (r["name"], want, d))
EOF
[ ! -s "$work/smtp.out" ]; ok $? "Postfix and rspamd refuse each GTUBE case and queue the others" "$(head -c 600 "$work/smtp.out")"

# ---- collect and analyze
"$RG" -c "$work/rg.ini" collect --once --quiet > "$work/collect.out" 2>&1; ok $? "collect reads every hostile line" "$(head -c 300 "$work/collect.out")"
"$RG" -c "$work/rg.ini" analyze > "$work/a1.out" 2>&1; rc=$?
ok $rc "analyze exits 0 after the hostile mail" "$(head -c 400 "$work/a1.out")"
missing=
for m in sasl_access sender_access client_access header_checks header_static admin_access sender_bcc; do
    [ -f "$work/maps/$m" ] || missing="$missing $m"
done
[ -z "$missing" ]; ok $? "every map is there" "missing:$missing"
grep -q 'action=lock kind=user user="alice@example.com" rule=spam' "$work/a1.out"
ok $? "alice's $nspam spam lock her" "$(grep action= "$work/a1.out" | head -c 400)"
! grep -qE 'action=lock kind=(user|identity) user="(bob@example.com|carol@example.net)"' "$work/a1.out"
ok $? "nobody else is locked" "$(grep 'action=lock' "$work/a1.out" | head -c 400)"

# ---- every spam case is stored as spam, nothing of carol's is
"$RG" -c "$work/rg.ini" messages --json > "$work/messages.json"
/usr/bin/python3 - "$work/sent.json" "$work/messages.json" > "$work/verdicts.out" <<'EOF'
import json, sys
sent = json.load(open(sys.argv[1]))
recs = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
bymid = {}
for o in recs:
    bymid.setdefault(o.get("message_id"), []).append(o)
for r in sent:
    rs = [o for o in bymid.get(r["message_id"], []) if o.get("client_ip")]
    v = (rs[0].get("verdict") or {}) if len(rs) == 1 else {}
    spam = v.get("spam") is True and not v.get("from_client")
    if len(rs) != 1:
        print("%s: %d records with its Message-ID" % (r["name"], len(rs)))
    elif r["body"] != "clean" and not spam:
        print("%s: spam not counted as spam: verdict %s" % (r["name"], json.dumps(v)))
    elif r["body"] == "clean" and v.get("spam") is True:
        print("%s: clean mail counted as spam: verdict %s" % (r["name"], json.dumps(v)))
    elif r["login"] != "bob@example.com" and rs[0].get("sender") == "bob@example.com":
        print("%s: stored with bob's envelope sender, sent as %s" % (r["name"], r["sender"]))
    elif rs[0].get("sasl_username") != r["login"]:
        print("%s: stored for %s, sent by %s" % (r["name"], rs[0].get("sasl_username"), r["login"]))
EOF
[ ! -s "$work/verdicts.out" ]; ok $? "messages --json: each spam case is spam, each clean one is not, each under its login and sender" "$(head -c 1200 "$work/verdicts.out")"
"$RG" -c "$work/rg.ini" users --json > "$work/users.json"
/usr/bin/python3 - "$work/users.json" "$nspam" > "$work/users.out" <<'EOF'
import json, sys
txt = open(sys.argv[1]).read()
try:
    doc = json.loads(txt)
except ValueError:
    doc = [json.loads(l) for l in txt.splitlines() if l.strip()]
users = doc if isinstance(doc, list) else doc.get("users", [])
want = {"alice@example.com": int(sys.argv[2]), "bob@example.com": 0, "carol@example.net": 0}
for u in users:
    name = u.get("user")
    if name in want:
        spam = (u.get("counts") or {}).get("spam")
        if spam != want[name]:
            print("%s: spam %s, wanted %d" % (name, spam, want[name]))
        want[name] = None
for name, n in want.items():
    if n is not None and n > 0:
        print("%s: not listed" % name)
EOF
[ ! -s "$work/users.out" ]; ok $? "users --json counts alice's $nspam spam and none for bob and carol" "$(cat "$work/users.out") $(head -c 600 "$work/users.json")"

# ---- what Postfix does now: alice refused, bob and carol relay
send() { /usr/bin/python3 "$top/tests/lib/send.py" --port "$PF_PORT" --from-ip 127.0.0.5 "$@" 2>&1; }
out=$(send --auth alice@example.com:alice-pw --sender alice@example.com --to dave@example.org)
grep -q 'REFUSED 450 4\.7\.1 .*sending locked: spam' <<<"$out"; ok $? "Postfix refuses alice 450 4.7.1 after her hostile spam" "$out"
out=$(send --auth bob@example.com:bob-pw --sender bob@example.com --to dave@example.org)
grep -q '^SENT' <<<"$out"; ok $? "bob still relays" "$out"
out=$(send --auth carol@example.net:carol-pw --sender carol@example.net --to dave@example.org)
grep -q '^SENT' <<<"$out"; ok $? "carol, whose clean mail forged spam verdicts, still relays" "$out"

# ---- a verdict that cannot be read without doubt is counted, never "not spam"
forged=$(grep 'rspamd_task_write_log' "$RS_LOG" | awk -F'[(]default: ' 'NF > 2' | wc -l)
"$RG" -c "$work/rg.ini" parse --stats "$PF_LOG" "$RS_LOG" > /dev/null 2> "$work/stats.out"
got=$(sed -n 's/^ *verdict_ambiguous \([0-9]*\).*/\1/p' "$work/stats.out")
[ "$forged" -gt 0 ] && [ "${got:-x}" = "$forged" ]
ok $? "parse --stats counts the $forged rspamd lines with a forged verdict as verdict_ambiguous" "got ${got:-none}: $(grep -i ambig "$work/stats.out")"

# ---- the same hostile cases with relayguard's own rspamd log format
# (rspamd-config --logging), and a milter that quarantines what rspamd
# would reject (quarantine_on_reject): rspamd still logs "reject", Postfix
# logs milter-hold, and the record must say held, spam, not rejected.
# rspamd rereads its configuration on SIGHUP (new workers).
"$RG" -c "$work/rg.ini" rspamd-config --logging > "$RS_DIR/conf/local.d/logging.inc"
echo "quarantine_on_reject = true;" >> "$RS_DIR/conf/override.d/worker-proxy.inc"
kill -HUP "$RS_PID"
t0=$SECONDS
until grep -q 'rspamd_task_write_log: rg1 qid: <' "$RS_LOG"; do
    # a clean probe of bob's until rspamd's new workers log it in the new form
    send --auth bob@example.com:bob-pw --sender bob@example.com --to dave@example.org > /dev/null
    [ $((SECONDS - t0)) -gt 60 ] && break
    sleep 0.5
done
grep -q 'rspamd_task_write_log: rg1 qid: <' "$RS_LOG"
ok $? "rspamd takes rspamd-config --logging's log_format on SIGHUP ($((SECONDS - t0)) s)" "$(grep rspamd_task_write_log "$RS_LOG" | tail -1 | cut -c1-300)"
grep -E '^forged-(sender|rcpt|addhdr) ' "$work/cases" | sed 's/| alice |/| carol |/' > "$work/cases2"
/usr/bin/python3 - "$top/tests/lib" "$PF_PORT" "$work/cases2" "$work/sent2.json" < "$work/sender.py"
pf_wait_settled >/dev/null 2>&1; pf_flush_log >/dev/null 2>&1
"$RG" -c "$work/rg.ini" parse --stats --json "$PF_LOG" "$RS_LOG" > "$work/parse2.jsonl" 2> "$work/stats2.out"
/usr/bin/python3 - "$work/sent2.json" "$work/parse2.jsonl" "$RS_LOG" > "$work/phase2.out" <<'EOF'
import json, sys
sent = json.load(open(sys.argv[1]))
recs = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
rs = open(sys.argv[3], errors="replace").read()
for r in sent:
    m = [o for o in recs if o.get("message_id") == r["message_id"] and o.get("client_ip")]
    if len(m) != 1:
        print("%s: %d records" % (r["name"], len(m)))
        continue
    o, v = m[0], m[0].get("verdict") or {}
    if v.get("source") != "rspamd" or v.get("spam") is not True:
        print("%s: not rspamd's spam verdict: %s" % (r["name"], json.dumps(v)))
    if r["body"] == "gtube" and (o.get("held") is not True or o.get("rejected")):
        print("%s: quarantined by the milter, stored as held=%s rejected=%s (client saw %s)"
              % (r["name"], o.get("held"), json.dumps(o.get("rejected")), r.get("data")))
EOF
[ ! -s "$work/phase2.out" ]; ok $? "rg1 format: rspamd's own spam verdict is read despite forged ones, a quarantined message is held, not rejected" "$(head -c 800 "$work/phase2.out")"
exit 0
