#!/usr/bin/python3
"""decide.py - the analyzer's decisions on small logs: the window
arithmetic (edges, equal timestamps, out-of-order lines), lock timeouts and
the unlock budget, identities, untrusted verdicts, the safety valve. The
log lines have the exact formats of the project's own Postfix runs (a milter
refusing GTUBE, as rspamd does); Postfix itself is exercised by the analyze
suite."""
import concurrent.futures, itertools, json, os, subprocess, sys, tempfile, threading, time

RG = os.environ.get("RELAYGUARD", "build/relayguard")
TOP = os.environ.get("TOP", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
failures = 0

# ---- the same cases with map_backend = pgsql (a twin of every setup) ----
#
# Every setup() also makes a twin under DIR/pg: the same log and rules with
# map_backend = pgsql, against one private PostgreSQL for the whole suite
# (tests/lib/pgsql.sh; one schema per twin, chosen with PGOPTIONS and in
# the query files' URI). Every analyze, collect,
# lock, unlock and reset run on a case is run on its twin as well, and
# after each analyze the twin must have decided the same (its action=lock,
# unlock, block, unblock and alert lines) and PostgreSQL must answer every
# key as the file maps do: each key of either side (and the addresses and
# header lines of the case's log) is looked up with one `postmap -q -` per
# map, TYPE:DIR/maps/NAME against pgsql:QUERYFILE (the query files that
# `postfix-config --query-directory` writes, written once: the twins'
# differ in their schema only), as smtpd and cleanup would.
# Needs root, postgresql and postfix-pgsql; RG_DECIDE_PGSQL=0 turns it off.
PG = None       # {"dir", "sock", "port", "bin"} once started
PG_N = 0
PG_TWINS = 0    # analyze runs compared
PG_SECS = 0.0   # time spent on the twins (summed over the cases run at once)
T0 = time.time()
# The cases are independent (a directory and a schema each) and mostly wait
# on relayguard's and postmap's processes and their fsyncs (measured: 60 s
# of CPU in 130-160 s of wall time, one at a time): they run RG_DECIDE_JOBS
# at a time (twice the number of CPUs), their lines printed in the order of
# the list.
LOCK = threading.Lock()
CASE = threading.local()    # the running case's time on its twin


def pg_secs(dt):
    global PG_SECS
    with LOCK:
        PG_SECS += dt
    CASE.pg = getattr(CASE, "pg", 0.0) + dt


def aged(path):
    """Postfix waits (0.3 s at a time) until a configuration file it opens
    (main.cf for postconf and postmap, a pgsql query file) is a few seconds
    old (2 s per analyze on a new case's main.cf, measured): a new one,
    complete, is made old"""
    os.utime(path, (time.time() - 60, time.time() - 60))


def pg_lib(script):
    return subprocess.run(["bash", "-c", f". {TOP}/tests/lib/pgsql.sh; {script}"],
                          capture_output=True, text=True, timeout=180)


def pg_psql(db, sql):
    p = subprocess.run(["runuser", "-u", "postgres", "--", PG["bin"] + "/psql", "-X", "-A", "-t", "-q",
                        "-v", "ON_ERROR_STOP=1", "-h", PG["sock"], "-p", PG["port"], "-U", "postgres",
                        "-d", db, "-c", sql], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError(f"psql {sql[:80]}: {p.stderr[:300]}")
    return p.stdout


def pg_start():
    global PG
    import glob
    if os.environ.get("RG_DECIDE_PGSQL", "1") == "0":
        return "RG_DECIDE_PGSQL=0"
    if os.geteuid() != 0:
        return "needs root to run PostgreSQL"
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb") or not glob.glob("/usr/lib/postfix/postfix-pgsql.so*"):
        return "postgresql or postfix-pgsql is not installed (scripts/install-deps test)"
    d = tempfile.mkdtemp(prefix="rg-decide-pg.")
    os.chmod(d, 0o755)
    p = pg_lib(f'pg_start {d}/pg >&2 && echo "$PG_SOCK $PG_PORT $PG_BIN"')
    if p.returncode != 0:
        raise AssertionError("PostgreSQL did not start: " + p.stderr[-400:])
    sock, port, pgbin = p.stdout.split()
    PG = {"dir": f"{d}/pg", "sock": sock, "port": port, "bin": pgbin, "top": d}
    pg_psql("postgres", "CREATE ROLE relayguard LOGIN")
    pg_psql("postgres", "CREATE ROLE postfix LOGIN")
    pg_psql("postgres", "CREATE DATABASE relayguard OWNER relayguard")
    # the query files, once: their URI selects the twin's schema
    os.makedirs(f"{d}/q")
    open(f"{d}/main.cf", "w").close()
    aged(f"{d}/main.cf")
    open(f"{d}/t.ini", "w").write(
        f"[global]\ndatabase = {d}/t.db\nmap_directory = {d}/maps\npostfix_config_directory = {d}\n"
        f"map_backend = pgsql\n[pgsql]\nhost = {sock}\nport = {port}\nquery_directory = {d}/q\n"
        f"postfix_hosts = postgresql://postfix@:{port}/relayguard?host={sock}&options=-csearch_path%3D@SCHEMA@\n")
    p = subprocess.run([RG, "-c", f"{d}/t.ini", "postfix-config", "--query-directory", f"{d}/q"],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError(f"postfix-config: {p.stderr[:300]}")
    import atexit
    atexit.register(pg_stop)
    return None


def pg_stop():
    global PG
    if PG is not None:
        pg_lib(f'PG_DIR={PG["dir"]} PG_BIN={PG["bin"]}; pg_stop')
        subprocess.run(["rm", "-rf", PG["top"]])
        PG = None


def twin_of(cfg):
    """the pgsql twin's configuration of cfg (rewritten from cfg each time:
    cases change their configuration), or None"""
    d = os.path.dirname(cfg)
    if PG is None or not os.path.isdir(f"{d}/pg"):
        return None
    t = f"{d}/pg/" + os.path.basename(cfg)
    txt = open(cfg).read()
    txt = txt.replace(f"database = {d}/db\n", f"database = {d}/pg/db\n")
    txt = txt.replace(f"map_directory = {d}/maps\n", f"map_directory = {d}/pg/maps\n")
    txt = txt.replace("[global]\n", "[global]\nmap_backend = pgsql\n", 1)
    txt += (f"[pgsql]\nhost = {PG['sock']}\nport = {PG['port']}\n"
            f"query_directory = {d}/pg/q\n")
    open(t, "w").write(txt)
    return t


def twin_new(d):
    global PG_N
    with LOCK:
        PG_N += 1
        sc = "decide%d" % PG_N
    pg_psql("relayguard", f"CREATE SCHEMA {sc} AUTHORIZATION relayguard; GRANT USAGE ON SCHEMA {sc} TO postfix")
    os.makedirs(f"{d}/pg/q")
    open(f"{d}/pg/schema", "w").write(sc)


def twin_env(t):
    sc = open(os.path.join(os.path.dirname(t), "schema")).read().strip()
    return dict(os.environ, PGOPTIONS=f"-c search_path={sc}")


def twin_query(t, name):
    """the twin's query file of map NAME"""
    sc = open(os.path.join(os.path.dirname(t), "schema")).read().strip()
    q = os.path.join(os.path.dirname(t), "q", name + ".cf")
    if not os.path.exists(q):
        open(q, "w").write(open(f"{PG['top']}/q/{name}.cf").read().replace("@SCHEMA@", sc))
        aged(q)
    return q


def pg_rows(t):
    """map name -> set of keys, the rows the twin's analyze wrote"""
    sc = open(os.path.join(os.path.dirname(t), "schema")).read().strip()
    out = pg_psql("relayguard", f"SET search_path = {sc}; SELECT map, '' FROM rg_maps UNION ALL "
                  "SELECT map, encode(convert_to(key, 'UTF8'), 'hex') FROM rg_map UNION ALL "
                  "SELECT map, encode(convert_to(host(net) || ' ' || host(broadcast(net)), 'UTF8'), 'hex') "
                  "FROM rg_map_cidr UNION ALL "
                  "SELECT map, encode(convert_to(key, 'UTF8'), 'hex') FROM rg_map_re")
    rows = {"header_checks": set()}     # held in PostgreSQL even when empty
    for l in out.splitlines():
        m, _, k = l.partition("|")
        rows.setdefault(m, set())
        if k:
            rows[m].update(bytes.fromhex(k).decode("utf-8", "surrogateescape").split(" "))
    return rows


def lookups(d, table, keys, fold):
    """key -> value for each key found, one postmap -q - for all"""
    p = subprocess.run(["/usr/sbin/postmap", "-c", d] + ([] if fold else ["-f"]) + ["-q", "-", table],
                       input="".join(k + "\n" for k in keys).encode("utf-8", "surrogateescape"),
                       capture_output=True, timeout=60)
    if p.returncode not in (0, 1) or p.stderr:
        raise AssertionError(f"postmap -q - {table}: exit {p.returncode}: {p.stderr[:300]!r}")
    out = {}
    for l in p.stdout.decode("utf-8", "surrogateescape").splitlines():
        k, _, v = l.rpartition("\t")
        out[k] = v
    return out


def twin_compare(cfg, t, out, tout):
    """the twin decided as the file backend, and PostgreSQL answers as the
    file maps"""
    global PG_TWINS
    a, b = decisions(out), decisions(tout)
    assert a == b, ("pgsql twin decided otherwise", a, b)
    with LOCK:
        PG_TWINS += 1
    d = os.path.dirname(cfg)
    # the maps were equal after the last run; if neither side wrote one
    # since, they still are (the lookups are the costly part)
    if "action=map " not in out and "action=map " not in tout and os.path.exists(f"{d}/pg/compared"):
        return
    if os.path.exists(f"{d}/pg/decisions-only"):
        return      # a long case: twin_lookups() at its end
    open(f"{d}/pg/compared", "w").close()
    log = open(f"{d}/maillog", encoding="utf-8", errors="surrogateescape").read()
    import re as _re
    addrs = set(_re.findall(r"\[([0-9a-fA-F:.]+)\]", log))
    hdrs = set(h.replace(": ", ":", 1) for h in _re.findall(r"info: header (.+?) from unknown\[", log))
    for name, pkeys in sorted(pg_rows(t).items()):
        path = f"{d}/maps/{name}"
        if name in ("client_access", "archive_client"):
            ftype, fold = "cidr", True
        elif name == "header_checks":
            ftype, fold = "pcre", False
        else:
            ftype, fold = "hash", True
        keys = set(pkeys)
        if os.path.exists(path) and ftype != "pcre":
            for l in open(path, encoding="utf-8", errors="surrogateescape"):
                if l.startswith("#") or "\t" not in l:
                    continue
                k = l.split("\t", 1)[0]
                if ftype == "cidr":
                    import ipaddress
                    net = ipaddress.ip_network(k)
                    keys.update((str(net.network_address), str(net.broadcast_address)))
                else:
                    keys.add(k)
        if ftype == "cidr":
            keys |= addrs
        if ftype == "pcre":
            # each "name:value" as header lines: as written, the name's
            # case and the white space varied, the value's case and length
            keys = set()
            for k in set(pkeys) | hdrs:
                n_, v_ = k.split(":", 1)
                keys |= {f"{n_}: {v_}", f"{n_.upper()}:\t{v_} ", f"{n_}:{v_}",
                         f"{n_}: {v_.upper()}", f"{n_}: {v_}x", f"{n_} : {v_}"}
        if not keys:
            continue
        keys = sorted(keys)
        f = lookups(d, f"{ftype}:{path}", keys, fold) if os.path.exists(path) else {}
        g = lookups(d, "pgsql:" + twin_query(t, name), keys, fold)
        if ftype == "cidr":     # no match: the cidr map finds nothing, SQL says DUNNO
            g = {k: v for k, v in g.items() if not (v == "DUNNO" and k not in f)}
        assert f == g, ("pgsql answers otherwise", name, sorted(set(f.items()) ^ set(g.items()))[:6])


def twin_lookups(cfg):
    """a case that compared decisions only (twin="decisions"): the maps now"""
    d = os.path.dirname(cfg)
    if PG is None or not os.path.isdir(f"{d}/pg"):
        return
    t0 = time.time()
    os.unlink(f"{d}/pg/decisions-only")
    os.unlink(f"{d}/pg/compared") if os.path.exists(f"{d}/pg/compared") else None
    twin_compare(cfg, twin_of(cfg), "", "")
    pg_secs(time.time() - t0)


def run(*args, cfg):
    p = subprocess.run([RG, "-c", cfg, *args], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError(f"{args}: exit {p.returncode}: {p.stderr[:300]}")
    t = twin_of(cfg)
    if t is not None and args[0] in ("analyze", "collect", "lock", "unlock", "reset") \
            and "--dry-run" not in args:
        t0 = time.time()
        q = subprocess.run([RG, "-c", t, *args], capture_output=True, text=True, timeout=60,
                           env=twin_env(t))
        if q.returncode != 0:
            raise AssertionError(f"pgsql twin: {args}: exit {q.returncode}: {q.stderr[:300]}")
        if args[0] == "analyze":
            twin_compare(cfg, t, p.stdout, q.stdout)
        elif args[0] in ("lock", "unlock", "reset"):
            # it rewrote maps without an analyze's "action=map": compare
            # the lookups again at the next analyze
            c = os.path.join(os.path.dirname(cfg), "pg", "compared")
            if os.path.exists(c):
                os.unlink(c)
        pg_secs(time.time() - t0)
    return p.stdout


CASE_DIRS = []     # removed at exit (RG_KEEP=1 keeps them)


def _remove_case_dirs():
    if os.environ.get("RG_KEEP", "0") == "1":
        if CASE_DIRS:
            print("kept " + " ".join(CASE_DIRS), file=sys.stderr)
        return
    for d in CASE_DIRS:
        subprocess.run(["rm", "-rf", d])


__import__("atexit").register(_remove_case_dirs)


def setup(lines, users, extra="", twin=True):
    """a case's directory; twin: with its pgsql twin, compared after every
    analyze ("decisions": the decisions only, the maps at twin_lookups())"""
    d = tempfile.mkdtemp(prefix="rg-decide.")
    CASE_DIRS.append(d)
    open(f"{d}/main.cf", "w").close()  # postmap -c needs a main.cf
    aged(f"{d}/main.cf")
    with open(f"{d}/maillog", "w") as f:
        f.write("".join(lines))
    with open(f"{d}/rg.ini", "w") as f:
        f.write(f"[global]\ndatabase = {d}/db\nmap_directory = {d}/maps\n"
                f"postfix_config_directory = {d}\n{extra}"
                f"[parse]\nyear = 2026\ntimezone = UTC\n[source p]\npath = {d}/maillog\n"
                f"[defaults]\nspam_lock_threshold = 3\nspam_lock_window = 10m\n"
                f"lock_timeout = 1h\nmax_unlocks_by_timeout = 1\n{users}")
    if PG is not None and twin:
        t0 = time.time()
        twin_new(d)
        if twin == "decisions":
            open(f"{d}/pg/decisions-only", "w").close()
        pg_secs(time.time() - t0)
    run("collect", "--once", "--quiet", cfg=f"{d}/rg.ini")
    return f"{d}/rg.ini"


QID = itertools.count(1)    # queue ids, unique over the cases run at once


def spam(t, user="alice@example.com", ip="127.0.0.2", hdr=None, client_flag=False):
    """one message refused by the content filter as spam at time t (HH:MM:SS)"""
    q = "A%09X" % next(QID)
    auth = f", sasl_method=PLAIN, sasl_username={user}" if user else ""
    out = f"Nov 28 {t} relay postfix/smtpd[100]: {q}: client=unknown[{ip}]{auth}\n"
    if hdr:
        out += f"Nov 28 {t} relay postfix/cleanup[200]: {q}: info: header X-Client-ID: {hdr} from unknown[{ip}]; from=<a@b.example> to=<c@d.example> proto=ESMTP helo=<h>\n"
    if client_flag:
        out += f"Nov 28 {t} relay postfix/cleanup[200]: {q}: info: header X-Spam-Flag: YES from unknown[{ip}]; from=<a@b.example> to=<c@d.example> proto=ESMTP helo=<h>\n"
        out += f"Nov 28 {t} relay postfix/qmgr[300]: {q}: removed\n"
        return out
    out += f"Nov 28 {t} relay postfix/cleanup[200]: {q}: milter-reject: END-OF-MESSAGE from unknown[{ip}]: 5.7.1 Gtube pattern; from=<a@b.example> to=<c@d.example> proto=ESMTP helo=<h>\n"
    return out


def events(cfg, now):
    keep = ("action=lock ", "action=unlock ", "action=block ", "action=unblock ", "action=alert ")
    return [l for l in run("analyze", "--now", now, cfg=cfg).splitlines() if l.startswith(keep)]


def case(name, fn):
    """run one case; its lines"""
    global failures
    t0 = time.time()
    CASE.pg = 0.0
    out = []
    try:
        fn()
        if os.environ.get("RG_DECIDE_TIMES"):
            out.append(f"  {fn.__name__}: {time.time() - t0:.1f} s, twin {CASE.pg:.1f} s")
        out.append(f"PASS: decide: {name}")
    except Exception as e:
        with LOCK:
            failures += 1
        out.append(f"FAIL: decide: {name}: {type(e).__name__}: {str(e)[:400]}")
    return out


U = '[user "alice@example.com"]\n[user "bob@example.com"]\n[user "carol@example.net"]\n'


def t_window_edge():
    cfg = setup([spam("10:00:00"), spam("10:05:00"), spam("10:10:00")], U)
    ev = events(cfg, "2026-11-28T10:11:00Z")
    locks = [e for e in ev if e.startswith("action=lock kind=user")]
    assert len(locks) == 1 and "at=2026-11-28T10:10:00Z" in locks[0], ev


def t_window_over():
    cfg = setup([spam("10:00:00"), spam("10:05:00"), spam("10:10:01")], U)
    ev = events(cfg, "2026-11-28T10:11:00Z")
    assert not any(e.startswith("action=lock") for e in ev), ev


def t_equal_and_out_of_order():
    cfg = setup([spam("10:00:05"), spam("10:00:04"), spam("10:00:05")], U)
    ev = events(cfg, "2026-11-28T10:01:00Z")
    locks = [e for e in ev if e.startswith("action=lock kind=user")]
    assert len(locks) == 1 and "at=2026-11-28T10:00:05Z" in locks[0], ev


def t_below_threshold():
    cfg = setup([spam("10:00:00"), spam("10:01:00")], U)
    assert events(cfg, "2026-11-28T10:02:00Z") == []


def t_timeout_and_budget():
    lines = [spam("10:00:00"), spam("10:00:10"), spam("10:00:20"),
             spam("12:00:00"), spam("12:00:10"), spam("12:00:20")]
    cfg = setup(lines, U)
    ev = events(cfg, "2026-11-28T10:30:00Z")
    assert any("action=lock kind=user" in e and "until=2026-11-28T11:00:20Z" in e for e in ev), ev
    ev = events(cfg, "2026-11-28T11:30:00Z")
    assert any(e.startswith("action=unlock kind=user") and "rule=timeout" in e for e in ev), ev
    # the old spam does not count again; the new burst locks with no end
    # (max_unlocks_by_timeout = 1 is used up)
    ev = events(cfg, "2026-11-28T12:30:00Z")
    lk = [e for e in ev if e.startswith("action=lock kind=user")]
    assert len(lk) == 1 and "until=unlock" in lk[0], ev
    ev = events(cfg, "2026-11-29T12:30:00Z")
    assert not any(e.startswith("action=unlock") for e in ev), ev
    u = json.loads(run("users", "--json", cfg=cfg).splitlines()[0])
    assert u["locks"] and u["locks"][0]["until"] == "unlock", u


def t_idempotent():
    cfg = setup([spam("10:00:00"), spam("10:05:00"), spam("10:09:00")], U)
    a = events(cfg, "2026-11-28T10:20:00Z")
    b = events(cfg, "2026-11-28T10:20:00Z")
    assert any(e.startswith("action=lock") for e in a) and not any(e.startswith("action=lock") for e in b), (a, b)


def t_identity():
    users = '[user "127.0.0.2"]\ntype = ip\nidentification = header\nidentity_headers = X-Client-ID\n'
    lines = [spam("10:00:0%d" % i, user=None, hdr="tenant-7") for i in range(3)]
    lines += [spam("10:00:1%d" % i, user=None, hdr="tenant-9") for i in range(2)]
    cfg = setup(lines, users, extra="")
    ev = events(cfg, "2026-11-28T10:01:00Z")
    ids = [e for e in ev if e.startswith("action=lock kind=identity")]
    assert len(ids) == 1 and 'identity="tenant-7"' in ids[0], ev


def t_client_flag_untrusted():
    cfg = setup([spam("10:00:0%d" % i, client_flag=True) for i in range(5)], U)
    assert events(cfg, "2026-11-28T10:01:00Z") == []
    # unless the administrator says a client's header counts
    cfg2 = cfg.replace("rg.ini", "rg2.ini")
    open(cfg2, "w").write(open(cfg).read().replace("[global]\n", "[global]\ntrusted_verdicts = client-header\n"))
    ev = events(cfg2, "2026-11-28T10:01:00Z")
    assert any(e.startswith("action=lock kind=user") for e in ev), ev


def t_safety_valve():
    lines = []
    for u, ip in (("alice@example.com", "127.0.0.2"), ("bob@example.com", "127.0.0.3"), ("carol@example.net", "127.0.0.4")):
        lines += [spam("10:00:0%d" % i, user=u, ip=ip) for i in range(3)]
    lines.sort(key=lambda l: l[7:15])
    cfg = setup(lines, U, extra="safety_valve = 2\n")
    ev = events(cfg, "2026-11-28T10:01:00Z")
    locks = [e for e in ev if e.startswith("action=lock kind=user")]
    alerts = [e for e in ev if e.startswith("action=alert") and "safety_valve" in e]
    assert len(locks) == 2 and len(alerts) >= 1, ev


def t_never_lock():
    cfg = setup([spam("10:00:0%d" % i) for i in range(5)], U, extra="never_lock = alice@example.com\n")
    assert events(cfg, "2026-11-28T10:01:00Z") == []


def t_two_locks_one_key():
    # spam-locked until unlocked, and over a connection limit: Postfix is
    # told the longest-lasting one, and no map entry is dropped
    lines = []
    for i in range(3):
        t = "10:00:0%d" % i
        lines.append(f"Nov 28 {t} relay postfix/smtpd[100]: connect from unknown[127.0.0.2]\n")
        lines.append(spam(t))
        lines.append(f"Nov 28 {t} relay postfix/smtpd[100]: disconnect from unknown[127.0.0.2] ehlo=1 auth=1 mail=1 rcpt=1 data=0/1 quit=1 commands=5/6\n")
    users = '[user "alice@example.com"]\nmax_unlocks_by_timeout = 0\nconnection_limits = yes\nlimit_per_hour = 2\n'
    cfg = setup(lines, users)
    out = run("analyze", "--now", "2026-11-28T10:01:00Z", cfg=cfg)
    assert "rule=spam" in out and "rule=connections-hour" in out and "action=skip" not in out, out
    m = open(cfg.replace("rg.ini", "maps/sasl_access")).read()
    assert "alice@example.com\t450 4.7.1 sending locked: spam\n" in m, m


def t_most_specific_cidr():
    users = ('[user "10.1.0.0/16"]\ntype = ip\n[user "10.1.2.3"]\ntype = ip\n'
             '[user "10.1.2.0/24"]\ntype = ip\n[user "2001:db8::/32"]\ntype = ip\n')
    lines = [spam("10:00:0%d" % i, user=None, ip="10.1.2.3") for i in range(3)]
    lines += [spam("10:00:1%d" % i, user=None, ip="10.1.9.9") for i in range(3)]
    lines += [spam("10:00:2%d" % i, user=None, ip="10.1.2.77") for i in range(3)]
    lines += [spam("10:00:3%d" % i, user=None, ip="2001:db8::5") for i in range(3)]
    lines += [spam("10:00:4%d" % i, user=None, ip="10.2.0.1") for i in range(3)]
    cfg = setup(lines, users)
    ev = events(cfg, "2026-11-28T10:01:00Z")
    locked = sorted(e.split('user="')[1].split('"')[0] for e in ev if e.startswith("action=lock kind=user"))
    assert locked == ["10.1.0.0/16", "10.1.2.0/24", "10.1.2.3", "2001:db8::/32"], ev


def t_cidr_map_nested():
    # the cidr map holds the locked networks, and DUNNO for an unlocked one
    # inside a locked one only; an unlocked network inside nothing locked
    # is left out (Postfix reads a cidr table from the top every time)
    users = ('[user "10.1.0.0/16"]\ntype = ip\n[user "10.1.2.0/24"]\ntype = ip\n'
             '[user "10.9.0.0/16"]\ntype = ip\n')
    lines = [spam("10:00:0%d" % i, user=None, ip="10.1.7.7") for i in range(3)]
    cfg = setup(lines, users)
    ev = events(cfg, "2026-11-28T10:01:00Z")
    assert any('user="10.1.0.0/16"' in e for e in ev), ev
    d = os.path.dirname(cfg)

    def q(addr):
        p = subprocess.run(["/usr/sbin/postmap", "-c", d, "-q", addr, f"cidr:{d}/maps/client_access"],
                           capture_output=True, text=True)
        return p.stdout.strip() if p.returncode == 0 else None
    assert q("10.1.7.8").startswith("450 4.7.1"), q("10.1.7.8")
    assert q("10.1.2.5") == "DUNNO", q("10.1.2.5")
    assert q("10.9.0.1") is None, q("10.9.0.1")
    body = [l for l in open(f"{d}/maps/client_access") if not l.startswith("#")]
    assert len(body) == 2, body


# ---- the analyzer's index: incremental runs decide as full ones do ----

def append_collect(cfg, lines):
    with open(cfg.replace("rg.ini", "maillog"), "a") as f:
        f.write("".join(lines))
    run("collect", "--once", "--quiet", cfg=cfg)


def decisions(out):
    keep = ("action=lock ", "action=unlock ", "action=block ", "action=unblock ", "action=alert ")
    return [l for l in out.splitlines() if l.startswith(keep)]


def t_late_rows():
    # a line that arrives after the analyzer has run, stamped before its
    # last --now (a lagging source), still counts
    cfg = setup([spam("10:00:00"), spam("10:00:10")], U)
    assert events(cfg, "2026-11-28T10:20:00Z") == []
    append_collect(cfg, [spam("10:00:20")])
    ev = events(cfg, "2026-11-28T10:21:00Z")
    lk = [e for e in ev if e.startswith("action=lock kind=user")]
    assert len(lk) == 1 and "at=2026-11-28T10:00:20Z" in lk[0] and "until=2026-11-28T11:00:20Z" in lk[0], ev


def t_time_moves_on():
    # rows stored before a run whose --now was earlier than their times
    # count when a later run's window reaches them, with nothing new stored
    cfg = setup([spam("10:00:00"), spam("10:00:10"), spam("10:00:20")], U)
    assert events(cfg, "2026-11-28T09:59:00Z") == []
    ev = events(cfg, "2026-11-28T10:01:00Z")
    assert any(e.startswith("action=lock kind=user") for e in ev), ev


def t_valve_held_back_later():
    # a user held back by the safety valve is locked by a later run once the
    # valve has room, though nothing new was stored
    lines = []
    for u, ip in (("alice@example.com", "127.0.0.2"), ("bob@example.com", "127.0.0.3")):
        lines += [spam("10:00:0%d" % i, user=u, ip=ip) for i in range(3)]
    lines.sort(key=lambda l: l[7:15])
    cfg = setup(lines, U, extra="safety_valve = 1\nsafety_valve_window = 1m\n")
    ev = events(cfg, "2026-11-28T10:00:30Z")
    assert len([e for e in ev if e.startswith("action=lock kind=user")]) == 1, ev
    assert any(e.startswith("action=alert") for e in ev), ev
    ev = events(cfg, "2026-11-28T10:02:00Z")
    lk = [e for e in ev if e.startswith("action=lock kind=user")]
    assert len(lk) == 1, ev


def t_rules_changed():
    # a lower threshold applies to what is already stored
    lines = [spam("10:00:00"), spam("10:00:10")]
    lines += [spam("10:00:2%d" % i, user=None, ip="10.7.7.7") for i in range(3)]
    cfg = setup(lines, U)
    assert events(cfg, "2026-11-28T10:01:00Z") == []
    open(cfg, "a").write("spam_lock_threshold = 2\n")    # in [user carol...]: the last section
    assert events(cfg, "2026-11-28T10:01:30Z") == []
    txt = open(cfg).read().replace("spam_lock_threshold = 3", "spam_lock_threshold = 2")
    open(cfg, "w").write(txt)
    ev = events(cfg, "2026-11-28T10:02:00Z")
    assert [e for e in ev if e.startswith("action=lock kind=user")] != [], ev
    # a user configured now owns the mail it sent before
    open(cfg, "a").write('[user "10.7.7.0/24"]\ntype = ip\n')
    ev = events(cfg, "2026-11-28T10:02:30Z")
    assert any(e.startswith('action=lock kind=user user="10.7.7.0/24"') for e in ev), ev


def t_dry_run_changes_nothing():
    cfg = setup([spam("10:00:00"), spam("10:00:10"), spam("10:00:20")], U)
    a = decisions(run("analyze", "--dry-run", "--now", "2026-11-28T10:01:00Z", cfg=cfg))
    b = events(cfg, "2026-11-28T10:01:00Z")
    assert a and [x.replace(" dry_run=yes", "") for x in a] == b, (a, b)


def t_migration_from_v2():
    # a database of relayguard's schema 2 (before the index) is migrated in
    # place and decided from its stored rows
    import sqlite3
    cfg = setup([spam("10:00:00"), spam("10:00:10"), spam("10:00:20")], U)
    db = cfg.replace("rg.ini", "db")
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 10
    for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                            "AND name LIKE 'ana\\_%' ESCAPE '\\'").fetchall():
        con.execute("DROP TABLE %s" % t)
    con.execute("DROP TABLE relays")      # schema 7
    con.execute("DROP TABLE outbox")      # schema 5
    con.execute("DROP TABLE mail_reported")
    for t in ("messages", "sessions"):
        con.execute("DROP INDEX %s_seq" % t)
        con.execute("ALTER TABLE %s DROP COLUMN seq" % t)
    # schema 6 (the lean one) undone as far as its migration reads
    con.execute("DROP TABLE open_msgs")
    con.execute("ALTER TABLE messages ADD COLUMN state BLOB")
    con.execute("DELETE FROM meta WHERE key IN ('seq', 'ana_seq', 'ana_now', 'ana_fp', "
                "'mail_event', 'mail_seq')")
    con.execute("PRAGMA user_version = 2")
    con.commit()
    con.close()
    ev = events(cfg, "2026-11-28T10:01:00Z")
    assert any(e.startswith("action=lock kind=user") for e in ev), ev
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 10
    con.close()


def t_follow_reload():
    # collect --follow --analyze: a threshold lowered by SIGHUP applies to
    # the spam already stored, at the next batch (lines stamped now: the
    # follower decides at the wall clock)
    import datetime, signal, time
    cfg = setup([], U)
    now = datetime.datetime.now(datetime.timezone.utc)
    txt = open(cfg).read().replace("year = 2026", "year = %d" % now.year)
    open(cfg, "w").write(txt)
    day = now.strftime("%b ") + ("%2d" % now.day)

    def stamped(lines, dt):
        return lines.replace("Nov 28 00:00:00", day + dt.strftime(" %H:%M:%S"))
    out = cfg.replace("rg.ini", "follow.out")
    log = cfg.replace("rg.ini", "maillog")
    p = subprocess.Popen([RG, "-c", cfg, "collect", "--follow", "--quiet", "--analyze"],
                         stdout=open(out, "w"), stderr=subprocess.STDOUT)
    try:
        time.sleep(1)
        connect = " relay postfix/smtpd[999]: connect from unknown[127.0.0.9]\n"
        with open(log, "a") as f:
            f.write(stamped(spam("00:00:00"), now - datetime.timedelta(seconds=30)))
            f.write(stamped(spam("00:00:00"), now - datetime.timedelta(seconds=20)))
            # later than the assembler's wait for late verdicts: the two
            # are stored complete now, and are not written again
            f.write(day + (now - datetime.timedelta(seconds=5)).strftime(" %H:%M:%S") + connect)
        time.sleep(2.5)
        assert "action=lock" not in open(out).read(), open(out).read()
        txt = open(cfg).read().replace("spam_lock_threshold = 3", "spam_lock_threshold = 2")
        open(cfg, "w").write(txt)
        p.send_signal(signal.SIGHUP)
        time.sleep(1)
        with open(log, "a") as f:    # any line: the next batch runs the analyzer
            f.write(day + now.strftime(" %H:%M:%S") + connect)
        for _ in range(40):
            if 'action=lock kind=user user="alice@example.com"' in open(out).read():
                break
            time.sleep(0.25)
        assert 'action=lock kind=user user="alice@example.com"' in open(out).read(), open(out).read()[-600:]
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)


def scenario(seed):
    """two hours of mixed traffic: spam, header identities, sessions, many
    recipients, 5.1.1 bounces and refusals; (time, lines) per message"""
    import random
    rng = random.Random(seed)
    out = []
    users = [("alice@example.com", "127.0.0.2", None), ("bob@example.com", "127.0.0.3", None),
             ("carol@example.net", "127.0.0.4", None), (None, "127.0.0.9", "tenant-%d")]
    for k in range(400):
        sec = rng.randrange(2 * 3600)
        t = "%02d:%02d:%02d" % (10 + sec // 3600, sec // 60 % 60, sec % 60)
        user, ip, hdr = users[rng.randrange(len(users))]
        h = hdr % rng.randrange(3) if hdr else None
        r = rng.random()
        pid = 1000 + k
        if r < 0.3:
            # spam refused by the milter, in its own session
            lines = spam(t, user=user, ip=ip, hdr=h)
            lines = (f"Nov 28 {t} relay postfix/smtpd[{pid}]: connect from unknown[{ip}]\n"
                     + lines.replace("smtpd[100]", f"smtpd[{pid}]")
                     + f"Nov 28 {t} relay postfix/smtpd[{pid}]: disconnect from unknown[{ip}] ehlo=1 mail=1 rcpt=1 data=0/1 quit=1 commands=4/5\n")
        else:
            q = "B%09X" % k
            auth = f", sasl_method=PLAIN, sasl_username={user}" if user else ""
            n = rng.choice((1, 1, 2, 5, 12))
            lines = f"Nov 28 {t} relay postfix/smtpd[{pid}]: connect from unknown[{ip}]\n"
            lines += f"Nov 28 {t} relay postfix/smtpd[{pid}]: {q}: client=unknown[{ip}]{auth}\n"
            if h:
                lines += f"Nov 28 {t} relay postfix/cleanup[200]: {q}: info: header X-Client-ID: {h} from unknown[{ip}]; from=<a@b.example> to=<c@d.example> proto=ESMTP helo=<h>\n"
            lines += f"Nov 28 {t} relay postfix/qmgr[300]: {q}: from=<s@{ip}.example>, size=500, nrcpt={n} (queue active)\n"
            for i in range(n):
                to = "r%d@dest%d.example" % (rng.randrange(40), rng.randrange(3))
                if rng.random() < 0.15:
                    lines += f"Nov 28 {t} relay postfix/smtp[400]: {q}: to=<{to}>, relay=127.0.0.1[127.0.0.1]:25, delay=0.03, delays=0/0.02/0/0.01, dsn=5.1.1, status=bounced (host 127.0.0.1[127.0.0.1] said: 550 5.1.1 User unknown (in reply to RCPT TO command))\n"
                else:
                    lines += f"Nov 28 {t} relay postfix/smtp[400]: {q}: to=<{to}>, relay=127.0.0.1[127.0.0.1]:25, delay=0.03, delays=0/0.02/0/0.01, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n"
            lines += f"Nov 28 {t} relay postfix/qmgr[300]: {q}: removed\n"
            lines += f"Nov 28 {t} relay postfix/smtpd[{pid}]: disconnect from unknown[{ip}] ehlo=1 auth=1 mail=1 rcpt={n} data=1 quit=1 commands={n + 5}\n"
        out.append((sec, lines))
    out.sort(key=lambda x: x[0])
    return out


def t_incremental_equals_full():
    # the same traffic, collected in 5-minute steps with a little of it
    # late, decided by incremental runs (A) and by runs that rebuild the
    # index from scratch each time (B): the same decisions at every step
    import sqlite3
    users = ('[user "alice@example.com"]\nconnection_limits = yes\nlimit_per_minute = 2\nlimit_per_hour = 20\n'
             '[user "bob@example.com"]\nmax_recipients_per_day = 60\ninvalid_recipient_limit = 6\ninvalid_recipient_window = 30m\n'
             '[user "carol@example.net"]\nlock_timeout = 10m\nmax_unlocks_by_timeout = 2\n'
             '[user "127.0.0.9"]\ntype = ip\nidentification = header\nidentity_headers = X-Client-ID\n'
             'connection_limits = yes\nlimit_per_hour = 15\nlock_timeout = 15m\n')
    msgs = scenario(20261128)
    # (the pgsql twin of a decides at every step; b's would be a's again)
    a = setup([], users, extra="safety_valve = 3\n", twin="decisions")
    b = setup([], users, extra="safety_valve = 3\n", twin=False)
    late = []
    steps = 0
    for end in range(300, 2 * 3600 + 301, 300):
        now = "2026-11-28T%02d:%02d:00Z" % (10 + end // 3600, end // 60 % 60)
        chunk = [l for s, l in msgs if end - 300 <= s < end]
        # one message in ten arrives one step late (a lagging source)
        keep = [l for i, l in enumerate(chunk) if i % 10 != 3]
        batch = late + keep
        late = [l for i, l in enumerate(chunk) if i % 10 == 3]
        for cfg in (a, b):
            append_collect(cfg, batch)
        con = sqlite3.connect(b.replace("rg.ini", "db"))
        con.execute("DELETE FROM meta WHERE key = 'ana_fp'")
        con.commit()
        con.close()
        da = decisions(run("analyze", "--now", now, cfg=a))
        db_ = decisions(run("analyze", "--now", now, cfg=b))
        assert da == db_, (now, da, db_)
        steps += len(da)
    assert steps >= 10, steps     # the scenario does lock and block
    twin_lookups(a)



def t_killed_runs():
    # analyze killed (SIGKILL) at random moments, then run to its end: the
    # same locks, unlocks and events as runs never killed, at every step
    import random, signal, sqlite3, time
    rng = random.Random(int(os.environ.get("RG_SEED", "4242")))
    users = ('[user "alice@example.com"]\nconnection_limits = yes\nlimit_per_minute = 2\n'
             '[user "bob@example.com"]\nmax_recipients_per_day = 60\ninvalid_recipient_limit = 6\n'
             '[user "carol@example.net"]\nlock_timeout = 10m\n'
             '[user "127.0.0.9"]\ntype = ip\nidentification = header\nidentity_headers = X-Client-ID\n')
    msgs = scenario(20261129)
    # the twin goes with the run never killed: a killed run may have
    # committed its decisions before the kill, and its last run then prints
    # none of them
    a = setup([], users, twin=False)
    b = setup([], users, twin="decisions")
    kills = 0
    for end in range(600, 2 * 3600 + 1, 600):
        now = "2026-11-28T%02d:%02d:00Z" % (10 + end // 3600, end // 60 % 60)
        batch = [l for s_, l in msgs if end - 600 <= s_ < end]
        for cfg in (a, b):
            append_collect(cfg, batch)
        for _ in range(3):
            p = subprocess.Popen([RG, "-c", a, "analyze", "--now", now],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0, 0.03))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                kills += 1
            p.wait()
        run("analyze", "--now", now, cfg=a)
        run("analyze", "--now", now, cfg=b)

    def state(cfg):
        con = sqlite3.connect(cfg.replace("rg.ini", "db"))
        out = [con.execute("SELECT ts, action, kind, user, identity, rule, detail FROM events "
                           "ORDER BY id").fetchall(),
               sorted(con.execute("SELECT kind, user, identity, reason, since, until FROM locks").fetchall()),
               sorted(con.execute("SELECT * FROM unlocks").fetchall())]
        con.close()
        return out
    sa, sb = state(a), state(b)
    assert sa == sb, [x for x in zip(sa[0], sb[0]) if x[0] != x[1]][:3] or (sa[1], sb[1])
    assert len(sa[0]) >= 10 and kills >= 5, (len(sa[0]), kills)
    ma = sorted(f for f in os.listdir(a.replace("rg.ini", "maps")) if not f.startswith("."))
    assert not [f for f in ma if f.endswith(".new")], ma
    for f in ("sasl_access", "client_access", "header_checks"):
        assert open(a.replace("rg.ini", "maps/" + f)).read() == open(b.replace("rg.ini", "maps/" + f)).read(), f
    twin_lookups(b)


# ---- the rows of the configuration no other case covers ----

def sender_spam(t, sender, user=None, ip="127.0.0.5"):
    """spam() with the envelope sender given"""
    return spam(t, user=user, ip=ip).replace("from=<a@b.example>", f"from=<{sender}>")


def session(day, t, user="alice@example.com", ip="127.0.0.2", month="Nov"):
    """one SMTP session that queued and delivered one clean message, on MONTH DAY"""
    q = "C%09X" % next(QID)
    d = f"{month} {day:2d} {t} relay postfix"
    return (f"{d}/smtpd[100]: connect from unknown[{ip}]\n"
            f"{d}/smtpd[100]: {q}: client=unknown[{ip}], sasl_method=PLAIN, sasl_username={user}\n"
            f"{d}/qmgr[300]: {q}: from=<{user}>, size=500, nrcpt=1 (queue active)\n"
            f"{d}/smtp[400]: {q}: to=<r@dest.example>, relay=127.0.0.1[127.0.0.1]:25, delay=0.03, "
            f"delays=0/0.02/0/0.01, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n"
            f"{d}/qmgr[300]: {q}: removed\n"
            f"{d}/smtpd[100]: disconnect from unknown[{ip}] ehlo=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=6\n")


def user_locks(ev, kind="user"):
    return sorted(e.split('%s="' % kind)[1].split('"')[0] for e in ev if e.startswith("action=lock kind=%s " % kind))


def t_domain_login():
    # type = domain: the domain logs in as its own name; without
    # match_sender_domain, mail that merely names the domain as its sender
    # is not the domain's
    users = '[user "customer.example"]\ntype = domain\n'
    lines = [sender_spam("10:00:0%d" % i, "x@customer.example", user="customer.example") for i in range(3)]
    lines += [sender_spam("10:00:1%d" % i, "y@customer.example") for i in range(3)]
    cfg = setup(lines, users)
    ev = events(cfg, "2026-11-28T10:01:00Z")
    assert user_locks(ev) == ["customer.example"], ev
    assert sum(1 for e in ev if e.startswith("action=lock kind=user")) == 1, ev
    cfg = setup(lines[3:], users)
    ev = events(cfg, "2026-11-28T10:01:00Z")
    assert user_locks(ev) == [], ev


def t_domain_sender():
    # match_sender_domain = yes: mail with an envelope sender in the domain
    # counts for the domain even without its login; another domain's not
    users = '[user "customer.example"]\ntype = domain\nmatch_sender_domain = yes\n'
    lines = [sender_spam("10:00:1%d" % i, "y@customer.example") for i in range(3)]
    lines += [sender_spam("10:00:2%d" % i, "z@other.example") for i in range(3)]
    cfg = setup(lines, users)
    ev = events(cfg, "2026-11-28T10:01:00Z")
    assert user_locks(ev) == ["customer.example"], ev
    cfg = setup(lines[3:], users)
    assert user_locks(events(cfg, "2026-11-28T10:01:00Z")) == []


def t_auth_user():
    # identification = auth_user: inside an IP user, the SASL login is the
    # identity; the login with 3 spam is locked, the one with 1 is not
    users = ('[user "127.0.0.0/24"]\ntype = ip\nidentification = auth_user\nauto_lock = no\n')
    lines = [spam("10:00:0%d" % i, user="web1@tenant.example") for i in range(3)]
    lines += [spam("10:00:1%d" % i, user="web2@tenant.example") for i in range(1)]
    cfg = setup(lines, users)
    ev = events(cfg, "2026-11-28T10:01:00Z")
    ids = [e for e in ev if e.startswith("action=lock kind=identity")]
    assert len(ids) == 1 and 'identity="web1@tenant.example"' in ids[0], ev
    assert user_locks(ev) == [], ev


def t_no_identity_locks():
    # lock_identities = no: the user is locked, none of its identities
    users = ('[user "127.0.0.2"]\ntype = ip\nidentification = header\nidentity_headers = X-Client-ID\n'
             'lock_identities = no\n')
    lines = [spam("10:00:0%d" % i, user=None, hdr="tenant-7") for i in range(3)]
    cfg = setup(lines, users)
    ev = events(cfg, "2026-11-28T10:01:00Z")
    assert not any(e.startswith("action=lock kind=identity") for e in ev), ev
    assert user_locks(ev) == ["127.0.0.2"], ev
    # and with the default (yes) the identity is locked too
    cfg = setup(lines, users.replace("lock_identities = no\n", ""))
    ev = events(cfg, "2026-11-28T10:01:00Z")
    assert any(e.startswith("action=lock kind=identity") for e in ev), ev


def t_week_limit():
    # limit_per_week = 3: the third session within 7 days fills the week
    # (blocked until the oldest leaves it); three over 7 days and an hour
    # never fill one
    users = '[user "alice@example.com"]\nconnection_limits = yes\nlimit_per_week = 3\n'
    cfg = setup([session(d, "10:00:00") for d in (20, 23, 26)], users)
    out = run("analyze", "--now", "2026-11-26T10:05:00Z", cfg=cfg)
    assert ('rule=connections-week' in out and 'sessions=3 limit=3 until=2026-11-27T10:00:00Z' in out), out
    cfg = setup([session(17, "10:00:00"), session(19, "09:00:00"), session(26, "10:00:00")], users)
    out = run("analyze", "--now", "2026-11-26T10:05:00Z", cfg=cfg)
    assert "rule=connections-week" not in out, out


def t_month_limit():
    # limit_per_month = 3, one session a fortnight: no week is full, the 30
    # days are; with the first one 31 days back they are not
    users = ('[user "alice@example.com"]\nconnection_limits = yes\nlimit_per_week = 3\n'
             'limit_per_month = 3\n')
    cfg = setup([session(d, "10:00:00") for d in (2, 14, 26)], users)
    out = run("analyze", "--now", "2026-11-26T10:05:00Z", cfg=cfg)
    assert ("rule=connections-month" in out and "until=2026-12-02T10:00:00Z" in out
            and "rule=connections-week" not in out), out
    cfg = setup([session(26, "09:00:00", month="Oct"), session(14, "10:00:00"), session(26, "10:00:00")], users)
    out = run("analyze", "--now", "2026-11-26T10:05:00Z", cfg=cfg)
    assert "rule=connections-month" not in out, out


def t_reset():
    # max_unlocks_by_timeout = 1 used up; reset gives the next lock an end again
    lines = [spam("10:00:00"), spam("10:00:10"), spam("10:00:20"),
             spam("12:00:00"), spam("12:00:10"), spam("12:00:20")]
    cfg = setup(lines, U)
    events(cfg, "2026-11-28T10:30:00Z")
    ev = events(cfg, "2026-11-28T11:30:00Z")
    assert any(e.startswith("action=unlock kind=user") and "rule=timeout" in e for e in ev), ev
    out = run("reset", "user", "alice@example.com", cfg=cfg)
    ev = events(cfg, "2026-11-28T12:30:00Z")
    lk = [e for e in ev if e.startswith("action=lock kind=user")]
    assert len(lk) == 1 and "until=2026-11-28T13:00:20Z" in lk[0], (out, ev)


why = pg_start()
if why:
    print(f"SKIP: decide: the same cases with map_backend = pgsql: {why}")
def t_utf8_login():
    # a login with a non-ASCII letter: locked in the map (and, in the pgsql
    # twin, found by the relay's pgsql client, which talks LATIN1)
    users = '[user "jürgen@example.com"]\n[user "ÄBC@example.com"]\n'
    lines = [spam("10:00:0%d" % i, user="jürgen@example.com") for i in range(3)]
    lines += [spam("10:00:1%d" % i, user="ÄBC@example.com") for i in range(3)]
    cfg = setup(lines, users)
    ev = events(cfg, "2026-11-28T10:01:00Z")
    assert user_locks(ev) == ["jürgen@example.com", "ÄBC@example.com"], ev


CASES = [("3 spam in exactly 10 minutes lock", t_window_edge),
         ("3 spam in 10 minutes and 1 second do not", t_window_over),
         ("equal timestamps and a line a second early", t_equal_and_out_of_order),
         ("below the threshold nothing happens", t_below_threshold),
         ("lock timeout, then no end once the unlocks are used up", t_timeout_and_budget),
         ("a second run decides nothing new", t_idempotent),
         ("a header identity is locked alone", t_identity),
         ("a client-written X-Spam-Flag does not count", t_client_flag_untrusted),
         ("the safety valve holds when many users trip at once", t_safety_valve),
         ("never_lock", t_never_lock),
         ("the most specific CIDR owns an address; unconfigured ones none", t_most_specific_cidr),
         ("two locks on one user: the longest-lasting is in the map", t_two_locks_one_key),
         ("the cidr map: locked networks and DUNNO inside them only", t_cidr_map_nested),
         ("a late line counts after the analyzer has run", t_late_rows),
         ("stored rows count once time reaches them", t_time_moves_on),
         ("a user held back by the safety valve is locked later", t_valve_held_back_later),
         ("changed rules apply to what is stored", t_rules_changed),
         ("collect --follow --analyze: a SIGHUP's new threshold applies", t_follow_reload),
         ("--dry-run leaves the analyzer's state alone", t_dry_run_changes_nothing),
         ("a schema-2 database is migrated and decided", t_migration_from_v2),
         ("incremental runs decide as full ones, step by step", t_incremental_equals_full),
         ("analyze killed at random moments decides as if never killed", t_killed_runs),
         ("type = domain: its login counts, its sender domain alone does not", t_domain_login),
         ("type = domain, match_sender_domain = yes: the sender domain counts", t_domain_sender),
         ("identification = auth_user: the login is the identity", t_auth_user),
         ("lock_identities = no: the user only", t_no_identity_locks),
         ("limit_per_week: 3 sessions in 7 days fill it, in 7 days and 1 hour not", t_week_limit),
         ("limit_per_month: 3 sessions in 30 days fill it, in 31 not", t_month_limit),
         ("reset: the unlock budget is new again", t_reset),
         ("a non-ASCII login is locked", t_utf8_login)]
JOBS = int(os.environ.get("RG_DECIDE_JOBS", "0")) or 2 * (os.cpu_count() or 1)
with concurrent.futures.ThreadPoolExecutor(max_workers=JOBS) as pool:
    # the two long cases first: they end with the rest, not after it
    long = ("t_incremental_equals_full", "t_killed_runs")
    order = sorted(CASES, key=lambda c: c[1].__name__ not in long)
    done = {fn: pool.submit(case, name, fn) for name, fn in order}
    for name, fn in CASES:
        for l in done[fn].result():
            print(l, flush=True)
if PG is not None:
    # the twins were compared inside the cases above; this says they were
    if PG_TWINS >= 20:
        print(f"PASS: decide: map_backend = pgsql decided as files, and PostgreSQL "
              f"answered as the file maps, after {PG_TWINS} analyze runs")
        print(f"decide: the pgsql twins took {PG_SECS:.0f} s (summed over {JOBS} cases at once) "
              f"of {time.time() - T0:.0f} s")
    else:
        failures += 1
        print(f"FAIL: decide: only {PG_TWINS} analyze runs were compared with map_backend = pgsql")
    pg_stop()
sys.exit(1 if failures else 0)
