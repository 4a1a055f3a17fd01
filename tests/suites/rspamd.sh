#!/bin/bash
# tests/suites/rspamd.sh - a real rspamd 3.4 (tests/lib/rspamd.sh) as the
# milter of a real Postfix (tests/lib/postfix.sh, PF_MILTER), and
# `relayguard parse` over Postfix's log and rspamd's own log together.
#
# Starts rspamd and Postfix once, sends four messages in authenticated SMTP
# sessions: a clean one, GTUBE (rspamd's reject pattern: refused at end of
# data with 5.7.1), GTUBE's "add header" variant (delivered with X-Spam: Yes
# added by the milter) and a clean one in which the client wrote
# X-Spam-Flag: YES itself; then checks what the client saw, what Postfix and
# rspamd logged, and the records `relayguard parse --sessions` makes of both
# logs merged by time.
#
# Needs root and the packages of `scripts/install-deps test` (rspamd among
# them).  About 10 s with rspamd's regexp cache warm, about 20 s on a machine
# where rspamd has never run (it compiles its regexps first).
# Environment: RELAYGUARD (default build/relayguard), RG_KEEP=1 keeps the
# temporary folder (logs, parse output) for a look afterwards.
set -u
top=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
RELAYGUARD=${RELAYGUARD:-$top/build/relayguard}
suite=rspamd

if [ ! -x "$RELAYGUARD" ]; then
    echo "FAIL: $suite: no relayguard binary at $RELAYGUARD (run make)"
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "SKIP: $suite: needs root to run a private rspamd and Postfix"
    exit 0
fi
# shellcheck source=tests/lib/postfix.sh
. "$top/tests/lib/postfix.sh"
# shellcheck source=tests/lib/rspamd.sh
. "$top/tests/lib/rspamd.sh"

work=$(mktemp -d /tmp/rg-rspamd.XXXXXX) || exit 1
chmod 755 "$work"
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    pf_stop
    rs_stop
    if [ "${RG_KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap "exit 130" INT TERM HUP

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---- DKIM signing: relayguard's [domain] selectors, through the settings
# `relayguard rspamd-config` prints and the map `analyze` writes
mkdir -p "$work/dkim" "$work/maps" "$work/pfc" "$work/rslocal"
: > "$work/pfc/main.cf"
dkim_key() {    # dkim_key SELECTOR: a key for example.com (relayguard dkim keygen), and its DNS record
    dkim_ini "$1"
    "$RELAYGUARD" -c "$work/rg-dkim.ini" dkim keygen example.com --selector "$1" --bits 2048 \
        > "$work/dkim/$1.txt" 2> "$work/dkim/$1.err"
}
dkim_ini() {    # dkim_ini SELECTOR: relayguard's configuration
    cat > "$work/rg-dkim.ini" <<INI
[global]
database = $work/rg-dkim.db
map_directory = $work/maps
postfix_config_directory = $work/pfc
dkim_key_directory = $work/dkim
[domain example.com]
dkim_selector = $1
INI
}
# relayguard dkim keygen: the key where rspamd-config points, _rspamd's,
# 0640 (rspamd's workers run as _rspamd: they can read it, others cannot),
# never overwritten, and the exact TXT record (checked by signing below)
dkim_key s2026a; rc=$?
k=$work/dkim/example.com.s2026a.key
if [ $rc = 0 ] && [ "$(stat -c '%a %U' "$k" 2>&1)" = "640 _rspamd" ] \
    && grep -q '^s2026a\._domainkey\.example\.com\. IN TXT ( "v=DKIM1; k=rsa; p=' "$work/dkim/s2026a.txt"; then
    echo "PASS: $suite: dkim keygen stores _rspamd's 0640 key and prints the TXT record"
else
    echo "FAIL: $suite: dkim keygen stores _rspamd's 0640 key and prints the TXT record: rc=$rc $(stat -c '%a %U' "$k" 2>&1) $(head -c 300 "$work/dkim/s2026a.txt" "$work/dkim/s2026a.err")"
fi
sum=$(sha256sum < "$k")
"$RELAYGUARD" -c "$work/rg-dkim.ini" dkim keygen example.com --selector s2026a > /dev/null 2>&1; rc=$?
if [ $rc = 73 ] && [ "$(sha256sum < "$k")" = "$sum" ]; then
    echo "PASS: $suite: dkim keygen never overwrites a key (exit 73)"
else
    echo "FAIL: $suite: dkim keygen never overwrites a key: exit $rc"
fi
if dkim_ini s2026a \
    && "$RELAYGUARD" -c "$work/rg-dkim.ini" init > /dev/null \
    && "$RELAYGUARD" -c "$work/rg-dkim.ini" analyze > "$work/dkim-a1.out" 2>&1 \
    && "$RELAYGUARD" -c "$work/rg-dkim.ini" rspamd-config > "$work/rslocal/dkim_signing.conf" \
    && grep -qx 'example.com s2026a' "$work/maps/dkim_selectors"; then
    echo "PASS: $suite: analyze writes the DKIM selector map (example.com s2026a)"
else
    echo "FAIL: $suite: analyze writes the DKIM selector map: $(cat "$work/dkim-a1.out" "$work/maps/dkim_selectors" 2>&1 | head -c 300)"
fi
export RS_LOCAL_FILES=$work/rslocal
# rspamd looks at its file maps every second (default 60 s)
export RS_EXTRA_OPTIONS="map_watch_interval = 1s;"

# ---- rspamd
t0=$(now)
if ! rs_start "$work/rs" 2>"$work/rs_start.err"; then
    cat "$work/rs_start.err"
    echo "FAIL: $suite: rspamd did not start (scripts/install-deps test?): $(head -n 1 "$work/rs_start.err")"
    exit 1
fi
if grep -q '(main).*full hyperscan database of [0-9]* regexps has been loaded' "$RS_LOG"; then
    how="regexps from the cache"
else
    how="first start: regexps compiled"
fi
echo "PASS: $suite: rspamd answers as a milter on 127.0.0.1:$RS_PORT ($(since "$t0") s, $how)"

# ---- Postfix with rspamd as its milter
if ! PF_SINK_KEEP=yes PF_MILTER=inet:127.0.0.1:$RS_PORT pf_start "$work/pf" 2>"$work/pf_start.err"; then
    cat "$work/pf_start.err"
    echo "FAIL: $suite: the Postfix harness did not start: $(head -n 1 "$work/pf_start.err")"
    exit 1
fi
settings=$(pf_postconf -h smtpd_milters milter_protocol milter_default_action milter_header_checks | paste -sd' ')
case $settings in
    "inet:127.0.0.1:$RS_PORT 6 "*" pcre:$PF_CONF/milter_header_checks") echo "PASS: $suite: PF_MILTER wires the milter into main.cf ($settings)" ;;
    *) echo "FAIL: $suite: PF_MILTER wires the milter into main.cf: got $settings" ;;
esac

# ---- the traffic: one authenticated session per message
/usr/bin/python3 - "$top/tests/lib" "$PF_PORT" "$work/sent.json" <<'EOF'
import json, sys
sys.path.insert(0, sys.argv[1])
import send
port, out = int(sys.argv[2]), sys.argv[3]
GTUBE_REJECT = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
GTUBE_ADD_HEADER = "YJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
plain = ("Hello,\r\n\r\nthe minutes of Tuesday's meeting are below; the next one is on "
         "Thursday at ten in the small room.\r\n\r\nRegards\r\n")
cases = [
    # name, login, password, headers, body
    ("clean", "alice@example.com", "alice-pw", [], plain),
    ("gtube", "bob@example.com", "bob-pw", [], "This is a test.\r\n\r\n" + GTUBE_REJECT + "\r\n"),
    ("addheader", "carol@example.net", "carol-pw", [], "This is a test.\r\n\r\n" + GTUBE_ADD_HEADER + "\r\n"),
    ("clientflag", "alice@example.com", "alice-pw", ["X-Spam-Flag: YES"], plain),
]
res = {}
for name, user, pw, headers, body in cases:
    mid = "<rg-rspamd-%s@client.example.test>" % name
    rcpt = "dave@example.org"
    data = send.build_message(user, [rcpt], subject="rspamd test: %s" % name,
                              headers=headers, body=body, message_id=mid)
    r = send.send_session("127.0.0.1", port, helo="client.example.test", from_ip="127.0.0.5",
                          auth=(user, pw), messages=[{"sender": user, "recipients": [rcpt], "data": data}])
    res[name] = {"user": user, "message_id": mid, "result": r}
json.dump(res, open(out, "w"), indent=1)
EOF
pf_wait_settled 30 2>"$work/settle.err" || { cat "$work/settle.err"; echo "FAIL: $suite: the queue did not settle"; }
# rspamd writes its log line when it answers end-of-data, before Postfix
# goes on: it is there by now, but give it a moment all the same
for _ in $(seq 1 50); do
    [ "$(grep -c 'rspamd_task_write_log' "$RS_LOG")" -ge 4 ] && break
    sleep 0.1
done

printf '[global]\nhostname = relay\n' > "$work/rg.ini"
timeout 60 "$RELAYGUARD" -c "$work/rg.ini" parse --sessions "$PF_LOG" "$RS_LOG" \
    >"$work/parse.jsonl" 2>"$work/parse.err"
rc=$?
if [ $rc -ne 0 ]; then
    echo "FAIL: $suite: relayguard parse --sessions MAILLOG RSPAMD_LOG exited with status $rc: $(head -c 300 "$work/parse.err")"
else
    echo "PASS: $suite: relayguard parse --sessions MAILLOG RSPAMD_LOG exits 0"
fi

/usr/bin/python3 - "$work/sent.json" "$PF_LOG" "$RS_LOG" "$work/parse.jsonl" "$PF_SINK_PORT" <<'EOF'
import json, re, sys
sent = json.load(open(sys.argv[1]))
pflog = open(sys.argv[2], encoding="utf-8", errors="replace").read().splitlines()
rslog = open(sys.argv[3], encoding="utf-8", errors="replace").read().splitlines()
objs = [json.loads(l) for l in open(sys.argv[4]) if l.strip()]
sink_port = sys.argv[5]
S = "rspamd"

def ok(cond, name, why=""):
    if cond:
        print("PASS: %s: %s" % (S, name))
    else:
        print("FAIL: %s: %s%s" % (S, name, ": " + why if why else ""))
    return cond

def short(o, n=400):
    s = json.dumps(o, sort_keys=True)
    return s if len(s) <= n else s[:n] + "..."

# ---- what the clients saw; the queue IDs
qid = {}
for name, s in sent.items():
    r = s["result"]
    res = r["results"][0] if r["results"] else None
    data = res and res["data"]
    if name == "gtube":
        ok(r["error"] is None and data is not None and data[0] == 554 and data[1].startswith("5.7.1 ")
           and "Gtube pattern" in data[1],
           "GTUBE is refused at end of data with 554 5.7.1 (the client saw: %s)" % (data,),
           "session: %s" % short(r))
    else:
        good = r["error"] is None and data is not None and data[0] == 250
        ok(good, "the %s message is accepted (the client saw: %s)" % (name, data), "session: %s" % short(r))
        m = re.search(r"queued as ([0-9A-Za-z]+)", data[1]) if good else None
        if m:
            qid[name] = m.group(1)
# the refused message's queue ID from cleanup's message-id line
for line in pflog:
    m = re.search(r"cleanup\[\d+\]: ([0-9A-Za-z]+): message-id=(<[^>]*>)", line)
    if m:
        for name, s in sent.items():
            if m.group(2) == s["message_id"]:
                qid.setdefault(name, m.group(1))
ok(len(qid) == 4, "every message has a queue ID in Postfix's log", "got %s" % qid)

# ---- the log lines themselves
def line_with(lines, *parts):
    for l in lines:
        if all(p in l for p in parts):
            return l
    return None

rej = line_with(pflog, "%s: milter-reject: END-OF-MESSAGE" % qid.get("gtube", "?"), ": 5.7.1 Gtube pattern;")
ok(rej is not None, "Postfix logs milter-reject: END-OF-MESSAGE ... 5.7.1 Gtube pattern for the GTUBE message")
hdr = line_with(pflog, "%s: milter-header-info: header X-Spam: Yes" % qid.get("addheader", "?"))
ok(hdr is not None, "Postfix logs milter-header-info: header X-Spam: Yes for the add-header message")
ok(line_with(pflog, "%s: info: header X-Spam-Flag: YES" % qid.get("clientflag", "?")) is not None,
   "Postfix's header_checks logs the client's own X-Spam-Flag: YES as info: header")
for name, s in sent.items():
    l = line_with(rslog, "rspamd_task_write_log: id: %s," % s["message_id"])
    ok(l is not None and ("qid: <%s>" % qid.get(name, "?")) in l and ("user: %s," % s["user"]) in l,
       "rspamd logs qid: <QID> and user: LOGIN for the %s message" % name, "line: %s" % l)
want_action = {"clean": "(no action)", "gtube": "(reject)", "addheader": "(add header)"}
for name, act in want_action.items():
    l = line_with(rslog, "rspamd_task_write_log: id: %s," % sent[name]["message_id"]) or ""
    ok(act in l, "rspamd's verdict for the %s message is %s" % (name, act), "line: %s" % l)

# ---- the records
msgs = [o for o in objs if o.get("type") == "message"]
sessions = [o for o in objs if o.get("type") == "session"]
def records(name):
    return [o for o in msgs if o.get("queue_id") == qid.get(name)]

ok(len(sessions) == 4 and all(o.get("sasl_username") for o in sessions),
   "four SMTP sessions, each with its SASL login",
   "; ".join(short(o, 200) for o in sessions))
for name in sent:
    rs = records(name)
    ok(len(rs) == 1, "one record for the %s message (queue ID %s), rspamd's verdict merged into it"
       % (name, qid.get(name)), " / ".join(short(o) for o in rs) or "none")
stray = [o for o in msgs if o.get("queue_id") and not o.get("client_ip")]
ok(not stray, "no record of rspamd's log alone (every record has Postfix's client)",
   " / ".join(short(o, 300) for o in stray))

def the(name):
    rs = records(name)
    # the Postfix one if the verdict went astray
    rs.sort(key=lambda o: 0 if o.get("client_ip") else 1)
    return rs[0] if rs else {}

for name, s in sent.items():
    r = the(name)
    ok(r.get("sasl_username") == s["user"] and r.get("message_id") == s["message_id"],
       "the %s record has its login and Message-ID" % name, short(r))

g = the("gtube")
rj = g.get("rejected") or {}
ok(rj.get("stage") == "END-OF-MESSAGE" and rj.get("dsn") == "5.7.1" and not g.get("recipients"),
   "GTUBE: rejected at END-OF-MESSAGE with 5.7.1, nothing delivered", short(g))
v = g.get("verdict") or {}
ok(v.get("spam") is True and v.get("source") == "rspamd" and v.get("action") == "reject",
   "GTUBE: spam verdict from rspamd's own log line (it carries the queue ID), action reject", short(v))

a = the("addheader")
v = a.get("verdict") or {}
ok(v.get("spam") is True and not v.get("from_client") and v.get("source") in ("rspamd", "header"),
   "add header: a spam verdict from rspamd or from the header the milter added", short(a))
ok(v.get("source") == "rspamd" and v.get("action") == "add header",
   "add header: rspamd's own log line outranks the milter's header", short(v))
rc = a.get("recipients") or []
ok(len(rc) == 1 and rc[0].get("status") == "sent" and rc[0].get("relay", "").endswith(":" + sink_port),
   "add header: delivered to the smtp-sink", short(rc))

c = the("clean")
v = c.get("verdict")
ok(v is None or (v.get("spam") is False and v.get("source") == "rspamd"),
   "clean: no verdict, or rspamd's with spam false", short(c))
ok(v is not None and v.get("source") == "rspamd" and v.get("action") == "no action",
   "clean: rspamd's own verdict (no action) is attached", short(v))
rc = c.get("recipients") or []
ok(len(rc) == 1 and rc[0].get("status") == "sent", "clean: delivered", short(rc))

f = the("clientflag")
v = f.get("verdict")
ok(v is None or v.get("from_client") is True or v.get("spam") is False,
   "client flag: the X-Spam-Flag: YES the client wrote gives no trusted spam verdict "
   "(from_client, or rspamd's own non-spam verdict outranks it)", short(f))
rc = f.get("recipients") or []
ok(len(rc) == 1 and rc[0].get("status") == "sent", "client flag: delivered", short(rc))
EOF

# ---- DKIM: the clean message of alice@example.com is signed with the
# selector of [domain example.com]; carol@example.net's is not signed
dkim_check() {  # dkim_check MESSAGE-ID SELECTOR|none: what the sink received
    /usr/bin/python3 - "$PF_SINK_DIR" "$1" "$2" "$work/dkim" <<'EOF'
import glob, re, sys
import dkim
sink, mid, sel, keydir = sys.argv[1:5]
files = [f for f in glob.glob(sink + "/*")
         if re.search(rb"(?mi)^Message-ID: " + re.escape(mid.encode()) + rb"\r?$", open(f, "rb").read())]
if len(files) != 1:
    print("the sink has %d copies of %s" % (len(files), mid)); sys.exit(1)
raw = open(files[0], "rb").read()
# smtp-sink's own lines come first: X-Client-Addr ... X-Rcpt-Args
raw = re.sub(rb"\A(?:X-(?:Client-Addr|Client-Proto|Helo-Args|Mail-Args|Rcpt-Args):[^\n]*\n)+", b"", raw)
sigs = re.findall(rb"(?mi)^DKIM-Signature:.*(?:\r?\n[ \t].*)*", raw)
if sel == "none":
    if sigs:
        print("signed, and should not be: %s" % sigs[0][:200]); sys.exit(1)
    sys.exit(0)
if len(sigs) != 1:
    print("%d DKIM-Signature headers" % len(sigs)); sys.exit(1)
tags = dict((k.strip().decode(), v.strip().decode()) for k, _, v in
            (t.partition(b"=") for t in re.sub(rb"\s+", b"", sigs[0].split(b":", 1)[1]).split(b";") if b"=" in t))
if tags.get("d") != "example.com" or tags.get("s") != sel:
    print("d=%s s=%s, wanted d=example.com s=%s" % (tags.get("d"), tags.get("s"), sel)); sys.exit(1)
def dns(name, timeout=5):
    want = ("%s._domainkey.example.com." % sel).encode()
    if name.rstrip(b".") + b"." != want:
        return None
    txt = open("%s/%s.txt" % (keydir, sel)).read()
    return "".join(re.findall(r'"([^"]*)"', txt)).encode()
msg = re.sub(rb"\r?\n", b"\r\n", raw)
if not dkim.verify(msg, dnsfunc=dns):
    print("the signature does not verify with the key's public half"); sys.exit(1)
EOF
}
out=$(dkim_check "<rg-rspamd-clean@client.example.test>" s2026a 2>&1)
if [ $? = 0 ]; then
    echo "PASS: $suite: DKIM: alice@example.com's message is signed d=example.com s=s2026a and verifies"
else
    echo "FAIL: $suite: DKIM: alice@example.com's message is signed d=example.com s=s2026a and verifies: $out"
fi
out=$(dkim_check "<rg-rspamd-addheader@client.example.test>" none 2>&1)
if [ $? = 0 ]; then
    echo "PASS: $suite: DKIM: a domain without a selector is not signed"
else
    echo "FAIL: $suite: DKIM: a domain without a selector is not signed: $out"
fi
# a new selector: analyze rewrites the map, rspamd re-reads it by itself
dkim_key s2026b && dkim_ini s2026b && "$RELAYGUARD" -c "$work/rg-dkim.ini" analyze > "$work/dkim-a2.out" 2>&1
if grep -q 'action=map name=dkim_selectors' "$work/dkim-a2.out" && grep -qx 'example.com s2026b' "$work/maps/dkim_selectors"; then
    echo "PASS: $suite: DKIM: a changed selector rewrites the map"
else
    echo "FAIL: $suite: DKIM: a changed selector rewrites the map: $(head -c 300 "$work/dkim-a2.out")"
fi
signed=1
for i in $(seq 1 20); do
    /usr/bin/python3 - "$top/tests/lib" "$PF_PORT" "$i" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import send
user, n = "alice@example.com", sys.argv[3]
data = send.build_message(user, ["dave@example.org"], subject="dkim %s" % n, body="selector test\r\n",
                          message_id="<rg-dkim-%s@client.example.test>" % n)
send.send_session("127.0.0.1", int(sys.argv[2]), helo="client.example.test", from_ip="127.0.0.5",
                  auth=(user, "alice-pw"), messages=[{"sender": user, "recipients": ["dave@example.org"], "data": data}])
EOF
    pf_wait_settled 10 >/dev/null 2>&1
    if out=$(dkim_check "<rg-dkim-$i@client.example.test>" s2026b 2>&1); then signed=0; break; fi
    sleep 0.5
done
if [ $signed = 0 ]; then
    echo "PASS: $suite: DKIM: rspamd signs with the new selector (message $i, without a restart)"
else
    echo "FAIL: $suite: DKIM: rspamd signs with the new selector: $out"
fi

# ---- stopping leaves nothing behind
pgid=$RS_PID
pf_stop
t1=$(now)
rs_stop
if _rs_group_alive "$pgid"; then
    echo "FAIL: $suite: rs_stop leaves rspamd processes behind (process group $pgid)"
else
    echo "PASS: $suite: rs_stop ends every rspamd process ($(since "$t1") s)"
fi
