#!/usr/bin/python3
"""report.py - `relayguard report` on a database collected from a log of
spam (tests/lib/report_log.py: rspamd rejects, milter holds, a header_checks
hold, released and deleted mail, hostile values) plus the project's own
sample log, analyzed in steps so it holds real lock decisions.

The workbook is read back with openpyxl: every sheet's cells equal what the
store says (counted here with SQL of its own, not relayguard's), times are
real dates in the report's zone, formula-looking values are strings, the
header is frozen and filtered, the chart is there. LibreOffice (headless)
opens it and shows the same values (CSV of every sheet) and prints it (PDF).
CSV neutralises formula-looking text and keeps numbers numbers. Periods,
--user, --skip-empty, atomic --output and [report] directory/keep."""
import csv, datetime, glob, io, os, shutil, sqlite3, subprocess, sys
import tempfile, zipfile
from zoneinfo import ZoneInfo

RG = os.environ.get("RELAYGUARD", "build/relayguard")
TOP = os.environ.get("TOP", ".")
failures = 0
ZONE = ZoneInfo("Europe/Berlin")
USERS = ["alice@example.com", "bob@example.com", "carol@example.net"]

try:
    import openpyxl
except ImportError:
    print("SKIP: report: python3-openpyxl is not installed (scripts/install-deps test)")
    sys.exit(0)


def run(*args, cfg, rc=0):
    p = subprocess.run([RG, "-c", cfg, *args], capture_output=True, timeout=300)
    if rc is not None and p.returncode != rc:
        raise AssertionError(f"{args}: exit {p.returncode}, wanted {rc}: {p.stderr[:300]}")
    return p


def case(name, fn):
    global failures
    try:
        fn()
        print(f"PASS: report: {name}")
    except Exception as e:
        failures += 1
        print(f"FAIL: report: {name}: {type(e).__name__}: {str(e)[:600]}")


d = tempfile.mkdtemp(prefix="rg-report.")
os.chmod(d, 0o755)
open(f"{d}/main.cf", "w").close()
with open(f"{d}/spam.log", "w") as f:
    subprocess.run(["/usr/bin/python3", f"{TOP}/tests/lib/report_log.py", "5", "12"], stdout=f, check=True)
CFG = f"{d}/rg.ini"
with open(CFG, "w") as f:
    f.write(f"[global]\ndatabase = {d}/rg.db\nmap_directory = {d}/maps\n"
            f"postfix_config_directory = {d}\n"
            f"[parse]\nyear = 2026\ntimezone = UTC\nidentity_headers = X-Client-ID, Subject\n"
            f"[report]\ntimezone = Europe/Berlin\ndirectory = {d}/keep\nkeep = 2\n"
            f"[source spam]\npath = {d}/spam.log\n"
            f"[source sample]\npath = {TOP}/samples/relay.log\n"
            f"[defaults]\nspam_lock_threshold = 3\nlock_timeout = 1h\n"
            f"[user \"alice@example.com\"]\n[user \"bob@example.com\"]\nidentification = header\n"
            f"[user \"carol@example.net\"]\n")
run("collect", "--once", "--quiet", cfg=CFG)
for day in range(2, 7):
    for hm in ("00:05", "00:10", "01:00", "02:00"):
        run("analyze", "--now", f"2026-11-{day:02d}T{hm}:00Z", cfg=CFG)
db = sqlite3.connect(f"{d}/rg.db")
SINCE = datetime.datetime(2026, 11, 1, tzinfo=ZONE)
UNTIL = datetime.datetime(2026, 12, 1, tzinfo=ZONE)
US = lambda t: int(t.timestamp()) * 1000000

# the store's view, by this test's own SQL
MSGS = f"""FROM messages m WHERE m.first_seen >= {US(SINCE)} AND m.first_seen < {US(UNTIL)}
           AND m.bounce_of IS NULL AND m.filtered_as IS NULL"""
QWHERE = """(m.held = 1 OR m.was_held OR (COALESCE(m.spam, 0) = 1
            AND (m.reject_stage IS NOT NULL OR m.deleted = 1 OR m.discarded = 1)))"""


def user_of(sasl):
    return sasl if sasl in USERS else "(unassigned)"


def expected_summary():
    exp = {}
    for (sasl, mid, spam, held, washeld) in db.execute(
            f"SELECT m.sasl_username, m.id, COALESCE(m.spam, 0), m.held, "
            f"m.was_held {MSGS}"):
        u = exp.setdefault(user_of(sasl), dict(messages=0, spam=0, quarantined=0, recipients=0, sent=0, locks=0))
        u["messages"] += 1
        u["spam"] += spam
        u["quarantined"] += 1 if (held or washeld) else 0
        n, s = db.execute("SELECT count(*), COALESCE(sum(status = 'sent'), 0) FROM recipients WHERE message = ?", (mid,)).fetchone()
        u["recipients"] += n
        u["sent"] += s
    for (user, n) in db.execute(f"SELECT user, count(*) FROM events WHERE action = 'lock' AND kind = 'user' "
                                f"AND ts >= {US(SINCE)} AND ts < {US(UNTIL)} GROUP BY user"):
        exp[user_of(user)]["locks"] += n
    return exp


XLSX = f"{d}/out/r.xlsx"
os.makedirs(f"{d}/out")
p = run("report", "senders", "--since", "2026-11-01", "--until", "2026-12-01", "--output", XLSX, cfg=CFG)
wb = openpyxl.load_workbook(XLSX)


def t_sheets():
    assert wb.sheetnames == ["Summary", "Relays", "Quarantine", "Locks", "Daily"], wb.sheetnames
    for ws in wb:
        assert ws.freeze_panes == "A2", (ws.title, ws.freeze_panes)
        assert ws.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(ws.max_column)}{ws.max_row}", (ws.title, ws.auto_filter.ref)
    left = [x for x in os.listdir(f"{d}/out") if x != "r.xlsx"]
    assert left == [], f"left behind: {left}"


def header(ws):
    return [c.value for c in ws[1]]


def t_summary():
    ws = wb["Summary"]
    h = header(ws)
    assert h == ["User", "Identity", "Messages", "Recipients", "Sent", "Bounced", "Deferred", "Rejected",
                 "Spam", "Quarantined", "Locks"], h
    exp = expected_summary()
    got, idsum = {}, {}
    for row in ws.iter_rows(min_row=2, values_only=True):
        r = dict(zip(h, row))
        if r["Identity"] is None:
            got[r["User"]] = {k: r[k.capitalize()] for k in ("messages", "spam", "quarantined", "recipients", "sent", "locks")}
        else:
            idsum[r["User"]] = idsum.get(r["User"], 0) + r["Messages"]
    assert got == exp, f"sheet {got} != store {exp}"
    for u, n in idsum.items():
        assert n == got[u]["messages"], f"{u}: identities sum to {n}, user has {got[u]['messages']}"
    # bob is told apart by X-Client-ID: its formula-looking value is a string
    ids = [c.value for c in ws["B"] if c.value and c.value.startswith("@SUM")]
    assert ids and all(c.data_type == "s" for c in ws["B"] if c.value and c.value.startswith("@")), ids
    assert len(ws._charts) == 2, f"{len(ws._charts)} charts"


def t_quarantine():
    ws = wb["Quarantine"]
    h = header(ws)
    rows = [dict(zip(h, r)) for r in ws.iter_rows(min_row=2, values_only=True)]
    exp = db.execute(f"""SELECT m.queue_id, m.first_seen, m.sasl_username, m.sender, v.score, v.symbols, m.host,
        (SELECT value FROM headers WHERE message = m.id AND name = 'Subject') {MSGS.replace('FROM messages m', 'FROM messages m LEFT JOIN verdicts v ON v.message = m.id')}
        AND {QWHERE} ORDER BY m.first_seen, m.id""").fetchall()
    assert len(rows) == len(exp) and len(rows) > 50, f"{len(rows)} rows, store {len(exp)}"
    neg = formula = 0
    for r, (qid, t, sasl, sender, score, symbols, host, subj) in zip(rows, exp):
        assert r["Queue ID"] == qid and r["Relay"] == host, (r, qid, host)
        assert isinstance(r["Time"], datetime.datetime), r["Time"]
        want = datetime.datetime.fromtimestamp(t / 1e6, ZONE).replace(tzinfo=None)
        assert abs((r["Time"] - want).total_seconds()) < 0.002, (r["Time"], want)
        assert r["User"] == user_of(sasl) and r["Sender"] == sender, (r, sasl, sender)
        assert r["Subject"] == subj and r["Symbols"] == symbols, (r, subj, symbols)
        if score is not None:
            assert isinstance(r["Score"], (int, float)) and abs(r["Score"] - float(score)) < 1e-9, (r["Score"], score)
            neg += r["Score"] < 0
        formula += (subj or "").startswith("=")
    assert neg > 0 and formula > 0, f"no negative score ({neg}) or formula-looking subject ({formula}) to check"
    states = {r["State"] for r in rows}
    assert {"held", "released", "refused"} <= states, states
    # no cell of the workbook is a formula: none in the XML either
    with zipfile.ZipFile(XLSX) as z:
        for n in z.namelist():
            if n.startswith("xl/worksheets/"):
                assert b"<f>" not in z.read(n) and b"<f " not in z.read(n), f"a formula in {n}"
    for c in ws["G"][1:]:
        assert c.data_type == "s" or c.value is None, (c.coordinate, c.data_type)
    assert ws["A2"].number_format == "yyyy-mm-dd hh:mm:ss", ws["A2"].number_format
    # the widths fit the longest value (capped at 80)
    longest = max(len(c.value or "") for c in ws["G"])
    assert ws.column_dimensions["G"].width >= min(longest, 78), (ws.column_dimensions["G"].width, longest)


def t_relays():
    ws = wb["Relays"]
    h = header(ws)
    assert h == ["Relay", "Messages", "Recipients", "Sent", "Bounced", "Deferred", "Rejected", "Spam",
                 "Quarantined"], h
    got = {r[0]: dict(zip(h[1:], r[1:])) for r in ws.iter_rows(min_row=2, values_only=True)}
    exp = {}
    for (host, n, rc, sent, spam, q) in db.execute(
            f"SELECT m.host, count(*), sum((SELECT count(*) FROM recipients WHERE message = m.id)), "
            f"sum((SELECT count(*) FROM recipients WHERE message = m.id AND status = 'sent')), "
            f"sum(COALESCE(m.spam, 0)), sum(m.held = 1 OR m.was_held = 1) {MSGS} GROUP BY m.host"):
        exp[host] = dict(Messages=n, Recipients=rc, Sent=sent, Spam=spam, Quarantined=q)
    assert {k: {c: v[c] for c in exp[k]} for k, v in got.items() if k in exp} == exp and set(got) == set(exp), (got, exp)
    s = wb["Summary"]
    users = sum(r[2] for r in s.iter_rows(min_row=2, values_only=True) if r[1] is None)
    assert sum(v["Messages"] for v in got.values()) == users, "the relays do not add up to the users"


def t_locks():
    ws = wb["Locks"]
    h = header(ws)
    rows = [dict(zip(h, r)) for r in ws.iter_rows(min_row=2, values_only=True)]
    exp = db.execute(f"SELECT ts, action, kind, user, identity, rule FROM events WHERE ts >= {US(SINCE)} "
                     f"AND ts < {US(UNTIL)} ORDER BY ts, id").fetchall()
    assert len(rows) == len(exp) and any(e[1] == "lock" for e in exp), f"{len(rows)} rows, store {len(exp)}"
    for r, (ts, action, kind, user, ident, rule) in zip(rows, exp):
        want = datetime.datetime.fromtimestamp(ts / 1e6, ZONE).replace(tzinfo=None)
        assert r["Time"] == want and r["Action"] == action and r["Kind"] == kind, (r, ts, action)
        assert r["User"] == user and (r["Identity"] or "") == (ident or "") and r["Rule"] == rule, (r, user, ident)


def t_daily():
    ws = wb["Daily"]
    h = header(ws)
    assert ws.max_row == 31, ws.max_row      # the 30 days of November
    days = [r[0] for r in ws.iter_rows(min_row=2, values_only=True)]
    assert days[0] == datetime.datetime(2026, 11, 1) and days[-1] == datetime.datetime(2026, 11, 30), days
    n = (len(h) - 1) // 2
    spam = sum(sum(r[1:1 + n]) for r in ws.iter_rows(min_row=2, values_only=True))
    exp = db.execute(f"SELECT sum(COALESCE(m.spam, 0)) {MSGS}").fetchone()[0]
    assert spam == exp, f"chart data: {spam} spam, store {exp}"


def t_libreoffice():
    if shutil.which("soffice") is None:
        raise AssertionError("soffice is missing (libreoffice-calc-nogui, scripts/install-deps test)")
    lo = f"{d}/lo"
    os.makedirs(lo)
    env = dict(os.environ, HOME=lo)
    # every sheet to its own CSV (the filter's last field, -1: all sheets)
    p = subprocess.run(["soffice", "--headless", "--convert-to",
                        "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,-1",
                        "--outdir", lo, XLSX], capture_output=True, text=True, env=env, timeout=300)
    if p.returncode != 0 or "Error" in p.stderr:
        raise AssertionError(f"soffice: {p.returncode} {p.stderr[:300]}")
    for sheet in ("Summary", "Relays", "Quarantine", "Locks"):
        path = f"{lo}/r-{sheet}.csv"
        got = list(csv.reader(open(path, encoding="utf-8")))
        ws = wb[sheet]
        assert len(got) == ws.max_row, (sheet, len(got), ws.max_row)
        for row, cells in zip(got, ws.iter_rows()):
            for text, c in zip(row, cells):
                v = c.value
                if isinstance(v, datetime.datetime):
                    v = v.strftime("%Y-%m-%d %H:%M:%S")
                elif isinstance(v, (int, float)) and c.number_format == "0.00":
                    v = "%.2f" % v
                elif isinstance(v, int):
                    v = "{:,}".format(v) if c.number_format == "#,##0" else str(v)
                elif v is None:
                    v = ""
                assert text == v, (sheet, c.coordinate, text, v)
    p = subprocess.run(["soffice", "--headless", "--convert-to", "pdf", "--outdir", lo, XLSX],
                       capture_output=True, text=True, env=env, timeout=300)
    assert os.path.getsize(f"{lo}/r.pdf") > 10000, "no PDF"
    if shutil.which("pdftotext"):
        txt = subprocess.run(["pdftotext", "-l", "1", f"{lo}/r.pdf", "-"], capture_output=True, text=True).stdout
        assert "bob@example.com" in txt and "Spam per day" in txt, txt[:300]


def t_csv():
    out = run("report", "quarantine", "--since", "2026-11-01", "--until", "2026-12-01", "--format", "csv", cfg=CFG).stdout.decode()
    assert "\r\n" in out
    rows = list(csv.DictReader(io.StringIO(out)))
    ws = wb["Quarantine"]
    assert len(rows) == ws.max_row - 1, (len(rows), ws.max_row)
    subj = [r["Subject"] for r in rows if "HYPERLINK" in r["Subject"]]
    assert subj and all(s.startswith("'=HYPERLINK") for s in subj), subj[:2]
    ids = [r["Identity"] for r in rows if "SUM" in r["Identity"]]
    assert ids and all(s == "'@SUM(1+1)" for s in ids), ids[:2]
    assert any(r["Score"] == "-2.50" for r in rows), "a negative score is not a plain number"
    for r in rows:
        for k, v in r.items():
            assert not v or v[0] not in "=+@\t\r" and not (v[0] == "-" and k != "Score"), (k, v)


def t_text_and_user():
    out = run("report", "senders", "--since", "2026-11-01", "--until", "2026-12-01", "--user", "bob@example.com", cfg=CFG).stdout.decode()
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["User", "Identity", "Messages"], lines[0]
    assert all(l.startswith("bob@example.com ") for l in lines[1:]) and len(lines) >= 3, out
    p = run("report", "senders", "--user", "nobody@example.com", cfg=CFG, rc=64)


def t_periods():
    # the last whole day before --now, in the report's zone (Berlin: UTC+1)
    out = run("report", "senders", "--period", "day", "--now", "2026-11-04T12:00:00Z", "--format", "csv", cfg=CFG).stdout.decode()
    got = sum(int(r["Messages"]) for r in csv.DictReader(io.StringIO(out)) if r["Identity"] == "")
    a = datetime.datetime(2026, 11, 3, tzinfo=ZONE)
    b = datetime.datetime(2026, 11, 4, tzinfo=ZONE)
    exp = db.execute(f"SELECT count(*) FROM messages WHERE first_seen >= {US(a)} AND first_seen < {US(b)} "
                     f"AND bounce_of IS NULL AND filtered_as IS NULL").fetchone()[0]
    assert got == exp and exp > 0, (got, exp)
    # an empty period: --skip-empty writes nothing, not even the kept copy
    before = sorted(os.listdir(f"{d}/keep"))
    p = run("report", "quarantine", "--period", "day", "--now", "2026-01-10", "--skip-empty", "--output", f"{d}/out/empty.xlsx", cfg=CFG)
    assert not os.path.exists(f"{d}/out/empty.xlsx") and sorted(os.listdir(f"{d}/keep")) == before


def t_keep():
    for day in (3, 4, 5, 6):
        run("report", "quarantine", "--period", "day", "--now", f"2026-11-{day:02d}T12:00:00Z", "--output", f"{d}/out/q.xlsx", cfg=CFG)
    kept = sorted(x for x in os.listdir(f"{d}/keep") if x.startswith("quarantine-day-"))
    assert kept == ["quarantine-day-2026-11-04.xlsx", "quarantine-day-2026-11-05.xlsx", "quarantine-day-latest.xlsx"], kept
    assert open(f"{d}/keep/quarantine-day-latest.xlsx", "rb").read() == open(f"{d}/out/q.xlsx", "rb").read()


def t_atomic():
    # an output that cannot be written: exit 73, the old file untouched
    os.makedirs(f"{d}/ro")
    open(f"{d}/ro/r.csv", "w").write("old\n")
    os.chmod(f"{d}/ro", 0o555)
    p = run("report", "senders", "--period", "week", "--now", "2026-11-10", "--output", f"{d}/ro/r.csv", cfg=CFG, rc=None)
    os.chmod(f"{d}/ro", 0o755)
    if os.geteuid() != 0:
        assert p.returncode == 73 and open(f"{d}/ro/r.csv").read() == "old\n", p.returncode
    assert sorted(os.listdir(f"{d}/ro")) == ["r.csv"] or p.returncode == 0, os.listdir(f"{d}/ro")


def t_hold_lines():
    # the three ways Postfix logs a hold are all stored as held
    log = ("Nov 28 16:07:24 relay postfix/cleanup[1]: AB0000001: milter-header-hold: header X-Spam: Yes from localhost[127.0.0.1]; from=<a@b> to=<c@d> proto=ESMTP helo=<h>\n"
           "Nov 28 16:07:24 relay postfix/cleanup[1]: AB0000002: hold: header Subject: x from localhost[127.0.0.1]; from=<a@b> to=<c@d> proto=ESMTP helo=<h>\n"
           "Nov 28 16:07:24 relay postfix/cleanup[1]: AB0000003: milter-hold: END-OF-MESSAGE from localhost[127.0.0.1]: milter triggers HOLD action; from=<a@b> to=<c@d> proto=ESMTP helo=<h>\n")
    os.makedirs(f"{d}/hold")
    open(f"{d}/hold/m.log", "w").write(log)
    cfg = f"{d}/hold/rg.ini"
    open(cfg, "w").write(f"[global]\ndatabase = {d}/hold/rg.db\n[parse]\nyear = 2026\ntimezone = UTC\n"
                         f"[source p]\npath = {d}/hold/m.log\n")
    run("collect", "--once", "--quiet", cfg=cfg)
    rows = sqlite3.connect(f"{d}/hold/rg.db").execute("SELECT queue_id, held FROM messages ORDER BY queue_id").fetchall()
    assert rows == [("AB0000001", 1), ("AB0000002", 1), ("AB0000003", 1)], rows
    out = run("report", "quarantine", "--since", "2026-11-28", "--until", "2026-11-29", "--format", "csv", cfg=cfg).stdout.decode()
    assert [r["Queue ID"] for r in csv.DictReader(io.StringIO(out))] == ["AB0000001", "AB0000002", "AB0000003"], out


case("hold:, milter-header-hold: and milter-hold: are stored held and reported", t_hold_lines)
case("the workbook's sheets, frozen header, autofilter, nothing left beside --output", t_sheets)
case("Summary: per configured user and identity, equal to the store; 2 charts", t_summary)
case("Quarantine: one row per held or refused spam, real dates (Europe/Berlin), numbers, strings", t_quarantine)
case("Relays: per relay host (the log lines' host), equal to the store, adding up to the users", t_relays)
case("Locks: the period's events", t_locks)
case("Daily: the chart's data, one row per day", t_daily)
case("LibreOffice opens the workbook and shows the same values (CSV per sheet, PDF)", t_libreoffice)
case("CSV: formula-looking text neutralised, negative scores stay numbers", t_csv)
case("text and --user", t_text_and_user)
case("--period day in the report's zone, --skip-empty", t_periods)
case("[report] directory keeps the last N under stable names", t_keep)
case("--output is written atomically", t_atomic)
if failures == 0:
    shutil.rmtree(d, ignore_errors=True)
else:
    print(f"kept {d}", file=sys.stderr)
sys.exit(1 if failures else 0)
