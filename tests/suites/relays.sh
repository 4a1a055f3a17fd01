#!/bin/bash
# relays.sh - the per-relay view over the logs of two real relays: two
# private Postfix instances with their own ports, queues, logs and
# myhostname (so their log lines carry the host names relay1 and relay2),
# their logs merged into one file as rsyslog forwarding writes it, one
# collector. stats --by-relay / --relay, messages --relay, the reports'
# Relays sheet (report relays for CSV and text), the Quarantine sheet's
# Relay column and the mailed summary's relay lines are checked against a
# database collected from each relay's own log alone (what that relay
# really logged) and against what the test sent. Host names come from log
# lines: a spoofed one (formula-looking, quotes, an escape byte, a bad
# UTF-8 byte) is escaped in every output. The workbook is read back with
# openpyxl and opened by LibreOffice (headless).
set -u
top=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
suite=relays
RG=${RELAYGUARD:-$top/build/relayguard}
[ -x "$RG" ] || { echo "FAIL: $suite: no relayguard binary at $RG"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: $suite: needs root to run Postfix"; exit 0; }
/usr/bin/python3 -c 'import openpyxl' 2>/dev/null \
    || { echo "SKIP: $suite: python3-openpyxl is not installed (scripts/install-deps test)"; exit 0; }
. "$top/tests/lib/postfix.sh"
work=$(mktemp -d /tmp/rg-relays.XXXXXX); chmod 755 "$work"

cleanup() {
    if [ -n "${A_DIR:-}" ]; then relay_use A; pf_stop; fi
    if [ -n "${B_DIR:-}" ]; then relay_use B; pf_stop; fi
    [ "${RG_KEEP:-0}" = 1 ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT TERM HUP
ok() { if [ "$1" = 0 ]; then echo "PASS: $suite: $2"; else echo "FAIL: $suite: $2${3:+: $3}"; fi; }
send() {    # send A|B ARGS...
    local port
    eval "port=\$${1}_PORT"; shift
    /usr/bin/python3 "$top/tests/lib/send.py" --port "$port" "$@" 2>&1
}

PF_EXTRA_MAIN="myhostname = relay1.example.test" pf_start "$work/relay1" 2> "$work/pf1.err" \
    || { cat "$work/pf1.err"; echo "FAIL: $suite: relay 1 did not start"; exit 1; }
relay_save A
unset PF_DIR
PF_EXTRA_MAIN="myhostname = relay2.example.test" pf_start "$work/relay2" 2> "$work/pf2.err" \
    || { cat "$work/pf2.err"; echo "FAIL: $suite: relay 2 did not start"; exit 1; }
relay_save B
[ "$A_PORT" != "$B_PORT" ]; ok $? "two relays on their own ports ($A_PORT, $B_PORT)"

# ---- traffic: different on each relay, so that a mix-up shows
bad=
s() { o=$(send "$@"); grep -q '^SENT' <<<"$o" || bad+="$*: $o; "; }
# relay 1: alice 3 messages (4 recipients), bob 1 spam, 127.0.0.10 1 bounced
s A --auth alice@example.com:alice-pw --sender alice@example.com --to d1@example.org
s A --auth alice@example.com:alice-pw --sender alice@example.com --to d2@example.org
s A --auth alice@example.com:alice-pw --sender alice@example.com --to d3@example.org --to d4@example.org
s A --auth bob@example.com:bob-pw --sender bob@example.com --to d5@example.org --header "X-Spam-Flag: YES"
s A --from-ip 127.0.0.10 --sender app@tenant.example --to x@$PF_DOMAIN_REJECT
# relay 2: alice 1, bob 2 spam (one held by header_checks), 127.0.0.11 2
s B --auth alice@example.com:alice-pw --sender alice@example.com --to d6@example.org
s B --auth bob@example.com:bob-pw --sender bob@example.com --to d7@example.org --header "X-Spam-Flag: YES"
s B --auth bob@example.com:bob-pw --sender bob@example.com --to d8@example.org --header "X-Spam-Flag: YES" --subject "HOLDME please"
s B --from-ip 127.0.0.11 --sender app@other.example --to d9@example.org --count 2
[ -z "$bad" ]; ok $? "both relays accepted the test traffic" "$bad"
for R in A B; do relay_use $R; pf_wait_settled 60 > /dev/null 2>&1; pf_flush_log --marker > /dev/null 2>&1; done
relay_use B; held=$(pf_queue_ids hold)
[ -n "$held" ]; ok $? "relay 2 holds bob's HOLDME message ($held)"

# ---- the merged log (what rsyslog forwarding gives), plus spoofed lines:
#      a syslog HOSTNAME field is whatever the sender put there
sort -s -k1,1M -k2,2n -k3,3 "$A_LOG" "$B_LOG" > "$work/fleet.log"
ts=$(tail -n 1 "$work/fleet.log" | cut -c1-15)
EVIL1='=HYPERLINK("http://evil.example/","x")'
EVIL2=$(printf 'q"b\\\033[31m\377')
for h in "$EVIL1" "$EVIL2"; do
    printf '%s %s postfix/smtpd[4242]: NOQUEUE: reject: RCPT from unknown[192.0.2.9]: 554 5.7.1 <v@example.org>: Relay access denied; from=<s@example.net> to=<v@example.org> proto=ESMTP helo=<h>\n' "$ts" "$h"
done >> "$work/fleet.log"
grep -q '^... .. ..:..:.. relay1 postfix' "$work/fleet.log" && grep -q '^... .. ..:..:.. relay2 postfix' "$work/fleet.log"
ok $? "the merged log holds both relays' host names (relay1, relay2)"

ini() {     # ini NAME LOG: a configuration reading LOG into NAME.db
    cat > "$work/$1.ini" <<INI
[global]
database = $work/$1.db
map_directory = $work/maps-$1
postfix_config_directory = $A_CONF
admin_contact = abuse@example.org
trusted_verdicts = client-header
[mail]
send_after_analyze = no
[parse]
timezone = UTC
[report]
timezone = UTC
[source log]
path = $2
[user "alice@example.com"]
[user "bob@example.com"]
[user "127.0.0.10"]
type = ip
INI
    "$RG" -c "$work/$1.ini" collect --once --quiet > "$work/$1.collect" 2>&1
}
ini fleet "$work/fleet.log"; ok $? "one collector over the merged log" "$(head -c 300 "$work/fleet.collect")"
ini relay1 "$A_LOG"; ok $? "a database of relay 1's own log" "$(head -c 300 "$work/relay1.collect")"
ini relay2 "$B_LOG"; ok $? "a database of relay 2's own log" "$(head -c 300 "$work/relay2.collect")"

/usr/bin/python3 - "$RG" "$work" "$held" <<'PY'
import csv, email, email.policy, io, json, os, shutil, sqlite3, subprocess, sys, zipfile
import openpyxl
RG, work, held = sys.argv[1:4]
EVIL1 = '=HYPERLINK("http://evil.example/","x")'
EVIL2 = b'q"b\\\x1b[31m\xff'
RANGE = ["--since", "2000-01-01", "--until", "2100-01-01"]
failures = 0


def run(db, *args):
    p = subprocess.run([RG, "-c", f"{work}/{db}.ini", *args], capture_output=True, timeout=300)
    if p.returncode != 0:
        raise AssertionError(f"{db} {args}: exit {p.returncode}: {p.stderr[:300]}")
    return p.stdout


def jl(out):
    return [json.loads(l) for l in out.splitlines()]


def case(name, fn):
    global failures
    try:
        fn()
        print(f"PASS: relays: {name}")
    except Exception as e:
        failures += 1
        print(f"FAIL: relays: {name}: {type(e).__name__}: {str(e)[:700]}")


def key(r):
    return (r["user"] or "", r["kind"], tuple(r["logins"]))


def t_by_relay_equals_own_log():
    rows = jl(run("fleet", "stats", "--by-relay", "--json"))
    for relay in ("relay1", "relay2"):
        got = sorted((dict((k, v) for k, v in r.items() if k != "relay") for r in rows if r.get("relay") == relay), key=key)
        own = sorted(jl(run(relay, "stats", "--json")), key=key)
        assert got == own and own, f"{relay}: merged --by-relay {got} != its own log {own}"


def t_sent():
    rows = jl(run("fleet", "stats", "--by-relay", "--json"))
    at = {(r["relay"], r["user"] or r["logins"][0]): r for r in rows}
    want = {("relay1", "alice@example.com"): dict(messages=3, recipients=4, sent=4, spam=0),
            ("relay2", "alice@example.com"): dict(messages=1, recipients=1, sent=1, spam=0),
            ("relay1", "bob@example.com"): dict(messages=1, spam=1, held=0),
            ("relay2", "bob@example.com"): dict(messages=2, spam=2, held=1),
            ("relay1", "127.0.0.10"): dict(messages=1, bounced=1),
            ("relay2", "127.0.0.11"): dict(messages=2, sent=2)}
    for k, w in want.items():
        assert k in at, f"no row for {k}: {sorted(at)}"
        g = {f: at[k][f] for f in w}
        assert g == w, f"{k}: {g}, sent {w}"
    assert not any(r["relay"] == "relay2" and r["user"] == "127.0.0.10" for r in rows), "127.0.0.10 on relay2"


def t_sums():
    rows = jl(run("fleet", "stats", "--by-relay", "--json"))
    plain = {key(r)[:2]: r for r in jl(run("fleet", "stats", "--json")) if r["user"]}
    for u, p in plain.items():
        for f in ("messages", "recipients", "sent", "bounced", "deferred", "rejected", "spam", "held", "sessions"):
            n = sum(r[f] for r in rows if (r["user"] or "", r["kind"]) == u)
            assert n == p[f], f"{u} {f}: relays add up to {n}, stats says {p[f]}"
    assert plain[("alice@example.com", "sasl")]["messages"] == 4


def t_relay_filter():
    for relay, arg in (("relay1", "relay1"), ("relay2", "RELAY2")):
        got = sorted(jl(run("fleet", "stats", "--relay", arg, "--json")), key=key)
        own = sorted(jl(run(relay, "stats", "--json")), key=key)
        assert got == own, f"--relay {arg}: {got} != {own}"
    assert run("fleet", "stats", "--relay", "nosuch", "--json") == b""


def t_messages():
    for relay in ("relay1", "relay2"):
        got = sorted(run("fleet", "messages", "--relay", relay, "--json").splitlines())
        own = sorted(run(relay, "messages", "--json").splitlines())
        assert got == own and own, f"{relay}: {len(got)} records, its own log {len(own)}"
        txt = run("fleet", "messages", "--relay", relay).decode().splitlines()[1:]
        assert len(txt) == len(own) and all(l.split()[2] == relay for l in txt), txt[:3]


def t_hostile_stats():
    out = run("fleet", "stats", "--by-relay")
    assert b"\x1b" not in out and b"\xff" not in out, "a raw escape or bad byte in the stats text"
    lines = out.decode().splitlines()
    e1 = [l for l in lines if "HYPERLINK" in l]
    assert len(e1) == 1 and e1[0].startswith('"=HYPERLINK(\\"http'), e1
    e2 = [l for l in lines if l.startswith('"q\\"b')]
    assert len(e2) == 1 and "\\u001b[31m" in e2[0], e2
    js = run("fleet", "stats", "--by-relay", "--json")
    assert b"\x1b" not in js
    relays = {r["relay"] for r in jl(js)}
    assert EVIL1 in relays and 'q"b\\\x1b[31m\ufffd' in relays, relays
    m = run("fleet", "messages")
    assert b"\x1b" not in m and b"\xff" not in m, "a raw escape in messages"


def report_csv(db, kind):
    return list(csv.DictReader(io.StringIO(run(db, "report", kind, *RANGE, "--format", "csv").decode())))


COLS = ["Messages", "Recipients", "Sent", "Bounced", "Deferred", "Rejected", "Spam", "Quarantined"]


def t_report_relays():
    rows = {r["Relay"]: r for r in report_csv("fleet", "relays")}
    for relay in ("relay1", "relay2"):
        own = [r for r in report_csv(relay, "senders") if r["Identity"] == ""]
        want = {c: sum(int(r[c]) for r in own) for c in COLS}
        got = {c: int(rows[relay][c]) for c in COLS}
        assert got == want and want["Messages"] > 0, f"{relay}: Relays row {got}, its own log's users {want}"
    assert "'" + EVIL1 in rows, f"the formula-looking relay is not neutralised: {sorted(rows)}"
    txt = run("fleet", "report", "relays", *RANGE, "--format", "text")
    assert b"\x1b" not in txt and b"\xff" not in txt and b"relay1" in txt


def t_workbook():
    x = f"{work}/q.xlsx"
    run("fleet", "report", "quarantine", *RANGE, "--output", x)
    wb = openpyxl.load_workbook(x)
    assert wb.sheetnames == ["Summary", "Relays", "Quarantine", "Locks", "Daily"], wb.sheetnames
    ws = wb["Relays"]
    h = [c.value for c in ws[1]]
    got = {r[0]: dict(zip(h[1:], r[1:])) for r in ws.iter_rows(min_row=2, values_only=True)}
    csvr = {r["Relay"].lstrip("'"): {c: int(r[c]) for c in COLS} for r in report_csv("fleet", "relays")}
    assert got == csvr, f"sheet {got} != csv {csvr}"
    cells = [c for c in ws["A"][1:] if c.value == EVIL1]
    assert len(cells) == 1 and cells[0].data_type == "s", [(c.value, c.data_type) for c in ws["A"]]
    assert all("\x1b" not in (c.value or "") for c in ws["A"]), "an escape byte in a cell"
    with zipfile.ZipFile(x) as z:
        for n in z.namelist():
            if n.startswith("xl/worksheets/"):
                assert b"<f>" not in z.read(n) and b"<f " not in z.read(n), f"a formula in {n}"
    q = wb["Quarantine"]
    qh = [c.value for c in q[1]]
    qr = [dict(zip(qh, r)) for r in q.iter_rows(min_row=2, values_only=True)]
    hr = [r for r in qr if r["Queue ID"] == held]
    assert len(hr) == 1 and hr[0]["Relay"] == "relay2" and hr[0]["State"] == "held", qr
    assert wb.active.title == "Quarantine", wb.active.title
    if shutil.which("soffice") is None:
        raise AssertionError("soffice is missing (libreoffice-calc-nogui, scripts/install-deps test)")
    lo = f"{work}/lo"
    os.makedirs(lo, exist_ok=True)
    p = subprocess.run(["soffice", "--headless", "--convert-to",
                        "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,-1",
                        "--outdir", lo, x], capture_output=True, text=True, env=dict(os.environ, HOME=lo), timeout=300)
    assert p.returncode == 0 and "Error" not in p.stderr, (p.returncode, p.stderr[:300])
    rows = list(csv.reader(open(f"{lo}/q-Relays.csv", encoding="utf-8")))
    want = [[str(c.value) if c.value is not None else "" for c in r] for r in ws.iter_rows()]
    assert rows == want, f"LibreOffice shows {rows}, openpyxl {want}"


def t_summary():
    run("fleet", "report", "senders", *RANGE, "--mail", "--to", "admin@example.org")
    db = sqlite3.connect(f"{work}/fleet.db")
    (body,) = db.execute("SELECT body FROM outbox ORDER BY id DESC LIMIT 1").fetchone()
    m = email.message_from_bytes(body if isinstance(body, bytes) else body.encode(), policy=email.policy.default)
    text = [p for p in m.walk() if p.get_content_type() == "text/plain"][0].get_content()
    assert "relays 4:" in text, text
    own1 = [r for r in report_csv("relay1", "senders") if r["Identity"] == ""]
    n1 = sum(int(r["Messages"]) for r in own1)
    assert f"  relay1: messages {n1}, " in text, (n1, text)
    assert "\x1b" not in text and '=HYPERLINK("http://evil.example/","x"): messages 1' in text, text


case("stats --by-relay: each relay's rows equal stats over that relay's own log", t_by_relay_equals_own_log)
case("stats --by-relay: the counts of what the test sent through each relay", t_sent)
case("stats --by-relay rows add up to the plain stats", t_sums)
case("stats --relay HOST (any case) equals that relay's own log", t_relay_filter)
case("messages --relay: byte-identical records to that relay's own log", t_messages)
case("spoofed host names: JSON-quoted in stats text, valid JSON, no raw escape", t_hostile_stats)
case("report relays (CSV): each relay's totals equal its own log's report; formula neutralised", t_report_relays)
case("XLSX: the Relays sheet (strings, no formula), the held message's relay; LibreOffice shows the same", t_workbook)
case("the mailed summary's relay lines", t_summary)
sys.exit(1 if failures else 0)
PY
exit 0
