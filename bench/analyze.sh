#!/bin/bash
# bench/analyze.sh - how long `relayguard analyze` takes on a big relay:
# 100,000 configured users and 10 million stored messages (30 days), then
# one minute of new traffic with bursts that must lock and block.
#
# Builds (once, cached in bench/out/) a database in relayguard's own schema
# (relayguard creates it, the generator fills it), writes a configuration
# with one [user NAME] section per user, then measures under /usr/bin/time
#   check-config                        loading the configuration alone
#   analyze --now T        "prime"      the analyzer's first run ever, at T
#   analyze --now T+60s    "incremental" after one minute of new traffic,
#                                       from the state the prime run left
#   analyze --now T+60s    "full"       the same minute with no analyzer
#                                       state at all (no locks, unlocks,
#                                       events, maps): every rule decided
#                                       from scratch over its whole window
# the prime run once, the others twice each (--runs; the first run of a
# kind also warms the page cache), and prints seconds, peak RSS and
# decisions. Target: incremental under 1 s.
#
# Usage: bench/analyze.sh [--users N] [--messages N] [--days D] [--new N]
#                         [--archive N] [--timeout S] [--runs N]
#                         [--generate-only] [--keep]
# Environment: RELAYGUARD (the binary, default build/relayguard).
#
# Sizes take 1e5-style numbers. The database is cached as
# bench/out/analyze-USERS-MESSAGES-DAYS/ (gitignored), keyed by the
# generator's version and relayguard's schema; the new traffic and the
# analyzer's state are removed again at the end of every run, so the cached
# database always holds the history only. See bench/README.md.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/bench/out
rg_src=${RELAYGUARD:-$top/build/relayguard}
users=100000
messages=10000000
days=30
new=2000
archive=2
timeout_s=600
runs=2
gen_only=0
keep=0
# T: the end of the stored history; the new minute is (T, T+60s]
T_ISO=2026-11-20T12:00:00Z
SEED=20261120
GEN_VERSION=1

usage() {
    sed -n '/^# Usage:/,/^# Environment/p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 64
}
num() { python3 -c 'import sys; print(int(float(sys.argv[1])))' "$1"; }
while [ $# -gt 0 ]; do
    case $1 in
    --users) users=$(num "$2"); shift 2 ;;
    --messages) messages=$(num "$2"); shift 2 ;;
    --days) days=$(num "$2"); shift 2 ;;
    --new) new=$(num "$2"); shift 2 ;;
    --archive) archive=$(num "$2"); shift 2 ;;
    --timeout) timeout_s=$(num "$2"); shift 2 ;;
    --runs) runs=$(num "$2"); shift 2 ;;
    --generate-only) gen_only=1; shift ;;
    --keep) keep=1; shift ;;
    -h|--help) usage ;;
    *) echo "bench/analyze.sh: unknown argument '$1'" >&2; usage ;;
    esac
done
[ "$users" -ge 100 ] || { echo "bench/analyze.sh: --users must be at least 100" >&2; exit 64; }
[ "$messages" -ge 1000 ] || { echo "bench/analyze.sh: --messages must be at least 1000" >&2; exit 64; }
[ "$days" -ge 2 ] || { echo "bench/analyze.sh: --days must be at least 2" >&2; exit 64; }
[ "$new" -ge 200 ] || { echo "bench/analyze.sh: --new must be at least 200 (the bursts)" >&2; exit 64; }
[ "$runs" -ge 1 ] || { echo "bench/analyze.sh: --runs must be at least 1" >&2; exit 64; }

# --- what the benchmark needs --------------------------------------------

if [ ! -x /usr/bin/time ]; then "$top/scripts/install-deps" bench; fi
if [ ! -x /usr/sbin/postmap ]; then "$top/scripts/install-deps" demo; fi
if [ ! -x "$rg_src" ]; then make -C "$top" --no-print-directory build/relayguard >&2; fi
mkdir -p "$out"
work=$(mktemp -d /tmp/rg-bench-analyze.XXXXXX)
cleanup_work() { [ "$keep" = 1 ] && echo "kept $work" >&2 || rm -rf "$work"; }
trap cleanup_work EXIT
# the binary measured: a private copy, so that a rebuild by someone else in
# the middle of the run does not change it between two measurements
rg=$work/relayguard
cp "$rg_src" "$rg"
T=$(python3 -c 'import calendar, sys, time; print(calendar.timegm(time.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%SZ")))' "$T_ISO")
T60=$((T + 60))

# --- the generator ---------------------------------------------------------
#
# One Python program with modes; the user model (names, types, settings,
# traffic weights) is derived from SEED alone, so the configuration, the
# history and the new minute always agree on who is who.

read -r -d '' GEN <<'PY' || true
import bisect, json, math, os, random, sqlite3, sys, time

def log(*a):
    print(*a, file=sys.stderr, flush=True)

def ip_text(n):
    return "%d.%d.%d.%d" % (n >> 24 & 255, n >> 16 & 255, n >> 8 & 255, n & 255)

def iso(us):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(us // 1000000))

SQL_IP = "(((%s) >> 24) & 255) || '.' || (((%s) >> 16) & 255) || '.' || (((%s) >> 8) & 255) || '.' || ((%s) & 255)"

class User:
    __slots__ = ("idx", "kind", "name", "sasl", "sender0", "ipbase", "ipspan",
                 "sdomain", "nids", "hdr", "tenant0", "weight", "keys",
                 "auto_lock", "thr", "conn", "per_minute", "per_hour",
                 "maxrcpt", "invalid", "archive")

def model(nusers, nmsgs, days, seed, narchive):
    """the configured users, then the unconfigured ("ghost") senders"""
    rng = random.Random(seed)
    us = []
    ranks = list(range(1, nusers + 1))
    rng.shuffle(ranks)
    nsasl = nip = ndom = 0
    ip_single = (10 << 24) + 1            # 10.0.0.1 ...: one address each
    ip_cidr = (10 << 24) + (64 << 16)     # 10.64.0.0/28, 10.64.0.16/28 ...
    for i in range(nusers):
        u = User()
        u.idx = i
        p = rng.random()
        u.kind = "sasl" if p < 0.88 else "ip" if p < 0.96 else "domain"
        u.weight = ranks[i] ** -0.9       # Zipf: a few big senders, many small
        u.nids = rng.choice((1, 1, 1, 2, 2, 3, 5))
        u.hdr = 0
        u.tenant0 = 0
        u.keys = []
        if u.kind == "sasl":
            nsasl += 1
            u.name = "user%05d@customers.example" % nsasl
            u.sasl = u.sender0 = u.name
            u.ipbase, u.ipspan = (172 << 24) + (16 << 16) + (nsasl * 4) % (1 << 20), 4
            u.sdomain = "c%05d.example" % nsasl
        elif u.kind == "domain":
            ndom += 1
            u.name = "d%05d.example" % ndom
            u.sasl = u.name
            u.sender0 = None
            u.ipbase, u.ipspan = (172 << 24) + (16 << 16) + (1 << 19) + (ndom * 4) % (1 << 19), 4
            u.sdomain = u.name
            u.keys.append(("type", "domain"))
            if rng.random() < 0.5:
                u.keys.append(("match_sender_domain", "yes"))
        else:
            nip += 1
            u.sasl = u.sender0 = None
            u.sdomain = "h%05d.hosting.example" % nip
            u.keys.append(("type", "ip"))
            if rng.random() < 0.25:
                u.name = "%s/28" % ip_text(ip_cidr)
                u.ipbase, u.ipspan = ip_cidr + 1, 14
                ip_cidr += 16
            else:
                if ip_single & 255 in (0, 255):
                    ip_single += 2 if ip_single & 255 == 255 else 1
                u.name = ip_text(ip_single)
                u.ipbase, u.ipspan = ip_single, 1
                ip_single += 1
            if rng.random() < 0.5:
                u.hdr = 1
                u.tenant0 = nip * 10
                u.nids = rng.choice((2, 3, 5, 8))
                u.keys.append(("identification", "header"))
        us.append(u)
    wsum = sum(u.weight for u in us)
    for u in us:
        per_day = nmsgs * 0.98 / days * u.weight / wsum
        rcpt_day = per_day * 1.55
        sess_hour = per_day / 24 / 3
        u.auto_lock = rng.random() < 0.95
        u.thr = rng.choice((3, 5, 5, 5, 10, 20))
        u.keys.append(("auto_lock", "yes" if u.auto_lock else "no"))
        u.keys.append(("spam_lock_threshold", str(u.thr)))
        if rng.random() < 0.4:
            u.keys.append(("spam_lock_window", rng.choice(("5m", "30m", "1h"))))
        if rng.random() < 0.2:
            u.keys.append(("lock_timeout", rng.choice(("30m", "4h", "1d"))))
        # limits well above the user's usual traffic; a few at it or below
        f = lambda: 0.7 if rng.random() < 0.03 else rng.choice((2, 3, 5, 10))
        u.conn = rng.random() < 0.2
        u.per_minute = u.per_hour = 0
        if u.conn:
            u.keys.append(("connection_limits", "yes"))
            u.per_hour = max(20, math.ceil(sess_hour * f()))
            u.keys.append(("limit_per_hour", str(u.per_hour)))
            if rng.random() < 0.5:
                u.per_minute = max(5, math.ceil(sess_hour / 60 * 5 * f()))
                u.keys.append(("limit_per_minute", str(u.per_minute)))
            if rng.random() < 0.3:
                u.keys.append(("limit_per_month", str(max(500, math.ceil(sess_hour * 720 * f())))))
        u.maxrcpt = 0
        if rng.random() < 0.2:
            u.maxrcpt = max(100, int(round(rcpt_day * f(), -1)))
            u.keys.append(("max_recipients_per_day", str(u.maxrcpt)))
        u.invalid = 0
        if rng.random() < 0.1:
            short = rng.random() < 0.5
            u.invalid = max(10, math.ceil(rcpt_day * 0.012 * (1 / 24 if short else 1) * f()))
            u.keys.append(("invalid_recipient_limit", str(u.invalid)))
            if short:
                u.keys.append(("invalid_recipient_window", "1h"))
        u.archive = 0
    for u in [u for u in us if u.kind == "domain"][:narchive]:
        u.archive = 1
        u.keys.append(("archive", "yes"))
        u.keys.append(("archive_address", "archive@relay.example.net"))
    # unconfigured senders: 2% of the mail (logins and addresses not in the
    # configuration), half with a SASL login, half by address only
    ghosts = []
    nghost = max(10, nusers // 50)
    for j in range(nghost):
        g = User()
        g.idx = nusers + j
        g.kind = "ghost"
        g.keys = []
        g.weight = wsum * 0.02 / nghost
        g.nids, g.hdr, g.tenant0 = 1, 0, 0
        g.sdomain = "g%05d.elsewhere.example" % j
        if j % 2 == 0:
            g.sasl = g.sender0 = "guest%05d@elsewhere.example" % j
        else:
            g.sasl = g.sender0 = None
        g.ipbase, g.ipspan = (192 << 24) + (168 << 16) + j * 2 % 65000 + 1, 2
        ghosts.append(g)
    return us, ghosts

def args_common(a):
    return int(a[0]), int(a[1]), int(a[2]), int(a[3]), int(a[4])

def mode_config(a):
    """config OUT users msgs days seed archive DB MAPS PFDIR"""
    dest = a[0]
    nusers, nmsgs, days, seed, narchive = args_common(a[1:6])
    db, maps, pf = a[6:9]
    us, _ = model(nusers, nmsgs, days, seed, narchive)
    never = [u.name for u in us if u.kind == "sasl"][:2]
    with open(dest, "w") as w:
        w.write("; bench/analyze.sh: %d users (generated)\n" % nusers)
        w.write("[global]\ndatabase = %s\nadmin_contact = abuse@relay.example.net\n"
                "map_directory = %s\nmap_type = hash\npostfix_config_directory = %s\n"
                "trusted_verdicts = rspamd, amavis, spamd, milter, header\n"
                "never_lock = %s\nsafety_valve = 50\nsafety_valve_window = 10m\n\n"
                % (db, maps, pf, ", ".join(never)))
        w.write("[parse]\ntimezone = UTC\nidentity_headers = X-Client-ID\n\n")
        w.write("[defaults]\nidentification = envelope_sender\nauto_lock = yes\n"
                "lock_identities = yes\nspam_lock_threshold = 5\nspam_lock_window = 10m\n"
                "lock_timeout = 1h\nmax_unlocks_by_timeout = 3\nconnection_limits = no\n\n")
        w.write("[identity_header X-Client-ID]\nregex = ^tenant-([0-9]+)\nremove = yes\n\n")
        for u in us:
            w.write("[user %s]\n" % u.name)
            for k, v in u.keys:
                w.write("%s = %s\n" % (k, v))
    kinds = {}
    for u in us:
        kinds[u.kind] = kinds.get(u.kind, 0) + 1
    print("%d users: %d sasl, %d ip (%d of them CIDRs), %d domain; "
          "%d with connection_limits, %d max_recipients_per_day, "
          "%d invalid_recipient_limit, %d archive"
          % (nusers, kinds.get("sasl", 0), kinds.get("ip", 0),
             sum(1 for u in us if u.kind == "ip" and "/" in u.name),
             kinds.get("domain", 0), sum(u.conn for u in us),
             sum(1 for u in us if u.maxrcpt), sum(1 for u in us if u.invalid),
             sum(u.archive for u in us)))

def users_table(con, us):
    con.execute("CREATE TEMP TABLE u(idx INTEGER PRIMARY KEY, sasl TEXT, "
                "sender0 TEXT, ipbase INTEGER, ipspan INTEGER, sdomain TEXT, "
                "nids INTEGER, hdr INTEGER, tenant0 INTEGER)")
    con.executemany("INSERT INTO u VALUES (?,?,?,?,?,?,?,?,?)",
                    [(u.idx, u.sasl, u.sender0, u.ipbase, u.ipspan, u.sdomain,
                      u.nids, u.hdr, u.tenant0) for u in us])

def mode_generate(a):
    """generate DB users msgs days seed archive T"""
    db = a[0]
    nusers, nmsgs, days, seed, narchive = args_common(a[1:6])
    T = int(a[6])
    t_start = time.time()
    us, ghosts = model(nusers, nmsgs, days, seed, narchive)
    allu = us + ghosts
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode = OFF")
    con.execute("PRAGMA synchronous = OFF")
    con.execute("PRAGMA cache_size = -1048576")
    con.execute("PRAGMA temp_store = MEMORY")
    con.execute("BEGIN")
    # what the tiny collect left: gone, so that only the history is there
    for t in ("recipients", "headers", "verdicts", "messages",
              "sessions", "asm_state", "sources", "log_loss", "locks",
              "unlocks", "events"):
        con.execute("DELETE FROM %s" % t)
    # secondary indexes: dropped while filling, made again with relayguard's
    # own SQL (faster than keeping 9 B-trees in random order)
    idx = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                      "AND tbl_name IN ('messages', 'sessions') AND sql IS NOT NULL "
                      "ORDER BY name").fetchall()
    for name, _ in idx:
        con.execute("DROP INDEX %s" % name)
    users_table(con, allu)
    # slot -> user by weight: a message picks a slot uniformly
    nslots = 1 << 20
    cum, s = [], 0.0
    for u in allu:
        s += u.weight
        cum.append(s)
    con.execute("CREATE TEMP TABLE pick(slot INTEGER PRIMARY KEY, uidx INTEGER)")
    con.executemany("INSERT INTO pick VALUES (?,?)",
                    ((k, allu[min(bisect.bisect_left(cum, (k + 0.5) / nslots * s), len(allu) - 1)].idx)
                     for k in range(nslots)))
    con.execute("CREATE TEMP TABLE k3(i INTEGER PRIMARY KEY)")
    con.execute("INSERT INTO k3 VALUES (0), (1), (2)")
    span = days * 86400 * 1000000
    t0 = (T - days * 86400) * 1000000
    step = span // nmsgs
    rng = random.Random(seed + 1)
    ip = SQL_IP % (("ipn",) * 4)
    # one SQL statement a chunk: a recursive CTE counts x and runs three
    # MINSTD generators (deterministic: seeded from SEED) that pick the
    # user (through pick), the identity, the size, spam and the rest
    msg_sql = """
WITH RECURSIVE c(x, r, s, t) AS (
  SELECT :x0, :r, :s, :t
  UNION ALL
  SELECT x + 1, r * 48271 % 2147483647, s * 16807 % 2147483647,
         t * 69621 % 2147483647 FROM c WHERE x < :x1),
g AS (
  SELECT c.x AS id, c.s AS s, c.t AS t, :t0 + (c.x - 1) * :step + c.t % :step AS fs,
         u.sasl AS sasl, u.sender0 AS sender0, u.sdomain AS sdomain, u.hdr AS hdr,
         u.tenant0 AS tenant0, u.ipbase + c.s % u.ipspan AS ipn,
         (c.s / 7) % u.nids AS k
  FROM c CROSS JOIN pick CROSS JOIN u
  WHERE pick.slot = c.r % :nslots AND u.idx = pick.uidx),
h AS (
  SELECT id, s, t, fs, fs + 200000 + s % 4000000 AS ls, sasl, sdomain,
         {IP} AS ip,
         CASE WHEN k = 0 AND sender0 IS NOT NULL THEN sender0
              ELSE 'user' || k || '@' || sdomain END AS sender,
         CASE WHEN hdr THEN 'tenant-' || (tenant0 + k) || '/web' || (k % 3 + 1) END AS xcid,
         CASE WHEN s % 100 < 60 THEN 1 WHEN s % 100 < 85 THEN 2 ELSE 3 END AS nrcpt,
         CASE WHEN t % 1000 < 20 THEN 1 END AS spam,
         printf('%011X', id * 2654435761 % 17592186044416) AS qid,
         'relay' || (1 + id % 2) AS host, 800 + (s / 13) % 120000 AS size
  FROM g),
j AS (
  SELECT *, printf('<%d.%d@%s>', id, t, sdomain) AS mid,
         CASE WHEN xcid IS NOT NULL THEN json_object('X-Client-ID', xcid) END AS hdrs,
         strftime('%Y-%m-%dT%H:%M:%SZ', fs / 1000000, 'unixepoch') AS fs_iso,
         strftime('%Y-%m-%dT%H:%M:%SZ', ls / 1000000, 'unixepoch') AS ls_iso
  FROM h),
k AS (
  SELECT *, CASE WHEN sasl IS NULL THEN
      json_object('type', 'message', 'host', host, 'queue_id', qid,
        'complete', json('true'), 'first_seen', fs_iso, 'last_seen', ls_iso,
        'client_host', 'unknown', 'client_ip', ip, 'sender', sender,
        'size', size, 'nrcpt', nrcpt, 'message_id', mid)
    ELSE
      json_object('type', 'message', 'host', host, 'queue_id', qid,
        'complete', json('true'), 'first_seen', fs_iso, 'last_seen', ls_iso,
        'client_host', 'unknown', 'client_ip', ip, 'sasl_method', 'PLAIN',
        'sasl_username', sasl, 'sender', sender, 'size', size,
        'nrcpt', nrcpt, 'message_id', mid)
    END AS j0
  FROM j)
INSERT INTO messages(id, kind, host, queue_id, complete, open, first_seen,
  last_seen, client_host, client_ip, sasl_method, sasl_username, sender, size,
  nrcpt, message_id, spam, headers, json)
SELECT id, 'message', host, qid, 1, 0, fs, ls, 'unknown', ip,
  CASE WHEN sasl IS NOT NULL THEN 'PLAIN' END, sasl, sender, size, nrcpt, mid,
  spam, hdrs,
  CASE WHEN hdrs IS NULL THEN j0 ELSE json_set(j0, '$.headers', json(hdrs)) END
FROM k
""".replace("{IP}", SQL_IP % (("ipn",) * 4))
    rcpt_sql = """
INSERT INTO recipients(message, idx, address, status, dsn)
SELECT id, i, addr,
  CASE WHEN q < 985 THEN 'sent' ELSE 'bounced' END,
  CASE WHEN q < 985 THEN '2.0.0' WHEN q < 997 THEN '5.1.1' ELSE '5.7.1' END
FROM (SELECT id, i, h, q, d, dom, 'r' || (h / 1000 % 3000) || '@' || dom AS addr FROM (
  SELECT m.id AS id, k3.i AS i, (m.id * 3 + k3.i) * 2654435761 % 4294967291 AS h,
    ((m.id * 3 + k3.i) * 2654435761 % 4294967291) % 1000 AS q,
    m.last_seen - m.first_seen AS d,
    'dest' || ((m.id * 3 + k3.i) * 2654435761 % 4294967291 / 3000000 % 1500) || '.example' AS dom
  FROM messages m CROSS JOIN k3 WHERE k3.i < m.nrcpt AND m.id BETWEEN ?1 AND ?2))
ORDER BY id, i
"""
    verd_sql = """
INSERT INTO verdicts(message, source, spam, trusted, score, required, action, symbols)
SELECT id, 'rspamd', 1, 1, printf('%.2f', 15 + (id % 300) / 10.0), '15.00',
  'add header', 'BAYES_SPAM(5.10),RBL_SPAMHAUS_XBL(4.00),MIME_HTML_ONLY(0.20)'
FROM messages WHERE id BETWEEN ?1 AND ?2 AND spam = 1
"""
    hdr_sql = """
INSERT INTO headers(message, name, value, cut)
SELECT id, 'X-Client-ID', json_extract(headers, '$."X-Client-ID"'), 0
FROM messages WHERE id BETWEEN ?1 AND ?2 AND headers IS NOT NULL
"""
    # a session for every third message (1 to 5 messages in it, 3 on
    # average), and a refused one (no message) for every 30th
    sess_sql = """
INSERT INTO sessions(id, host, pid, program, complete, open, connect,
  disconnect, last_seen, client_host, client_ip, client_port, sasl_method,
  sasl_username, sasl_failures, messages, rejects, lost, counters, json)
SELECT sid, host, pid, prog, 1, 0, cn, dc, dc, 'unknown', client_ip, NULL,
  sasl_method, sasl_username, 0, n, rj,
  NULL, 'ehlo=1' || CASE WHEN sasl_username IS NOT NULL THEN ' auth=1' ELSE '' END
    || ' mail=' || (n + rj) || ' rcpt=' || (n * 2 + rj) || ' data=' || n || ' quit=1 commands='
    || (3 + (sasl_username IS NOT NULL) + 3 * n + 2 * rj),
  json_object('type', 'session', 'host', host, 'program', prog, 'pid', pid,
    'complete', json('true'),
    'connect', strftime('%Y-%m-%dT%H:%M:%SZ', cn / 1000000, 'unixepoch'),
    'disconnect', strftime('%Y-%m-%dT%H:%M:%SZ', dc / 1000000, 'unixepoch'),
    'client_host', 'unknown', 'client_ip', client_ip, 'messages', n, 'rejects', rj)
FROM (SELECT id / 3 * 2 + (id % 3 = 1) AS sid, host, 1000 + id % 30000 AS pid,
        CASE WHEN sasl_username IS NOT NULL THEN 'postfix/submission/smtpd'
             ELSE 'postfix/smtpd' END AS prog,
        first_seen - 1500000 AS cn, last_seen + 300000 AS dc, client_ip,
        sasl_method, sasl_username,
        CASE WHEN id % 3 = 0 THEN 1 + id / 3 % 5 ELSE 0 END AS n,
        CASE WHEN id % 3 = 0 THEN 0 ELSE 1 END AS rj
      FROM messages WHERE id BETWEEN ?1 AND ?2 AND (id % 3 = 0 OR id % 30 = 1))
"""
    chunk = 250000
    done = 0
    log("generating %d messages over %d days before %s (%d users, %d unconfigured senders) ..."
        % (nmsgs, days, iso(T * 1000000), len(us), len(ghosts)))
    spent = [0.0] * 5
    t_gen = time.time()
    while done < nmsgs:
        x0, x1 = done + 1, min(done + chunk, nmsgs)
        t1 = time.time()
        con.execute(msg_sql, {"x0": x0, "x1": x1, "r": rng.randrange(1, 2147483647),
                              "s": rng.randrange(1, 2147483647),
                              "t": rng.randrange(1, 2147483647),
                              "t0": t0, "step": step, "nslots": nslots})
        spent[0] += time.time() - t1
        for n, q in enumerate((rcpt_sql, verd_sql, hdr_sql, sess_sql)):
            t1 = time.time()
            con.execute(q, (x0, x1))
            spent[n + 1] += time.time() - t1
        done = x1
        el = time.time() - t_gen
        log("  %10d messages  %5.0f s  (%.0f/s, about %.0f s to go; messages %.0f s, "
            "recipients %.0f s, verdicts+headers %.0f s, sessions %.0f s)"
            % (done, el, done / el, (nmsgs - done) * el / done, spent[0], spent[1],
               spent[2] + spent[3], spent[4]))
    for name, sql in idx:
        t1 = time.time()
        con.execute(sql)
        log("  index %-16s %5.1f s" % (name, time.time() - t1))
    counts = {}
    for t in ("messages", "recipients", "verdicts", "headers", "sessions"):
        counts[t] = con.execute("SELECT count(*) FROM %s" % t).fetchone()[0]
    con.execute("COMMIT")
    con.execute("PRAGMA journal_mode = WAL")
    con.close()
    print(" ".join("%s=%d" % kv for kv in counts.items()))

def mode_traffic(a):
    """traffic DB users msgs days seed archive T N: one minute after T"""
    db = a[0]
    nusers, nmsgs, days, seed, narchive = args_common(a[1:6])
    T, N = int(a[6]), int(a[7])
    us, ghosts = model(nusers, nmsgs, days, seed, narchive)
    allu = us + ghosts
    rng = random.Random(seed + 2)
    con = sqlite3.connect(db, isolation_level=None, timeout=60)
    mid = con.execute("SELECT COALESCE(max(id), 0) FROM messages").fetchone()[0]
    sid = con.execute("SELECT COALESCE(max(id), 0) FROM sessions").fetchone()[0]
    t0 = T * 1000000
    msgs, rcpts, verds, hdrs, sess = [], [], [], [], []
    counter = {"m": mid, "s": sid, "r": 0}
    what = []

    def message(u, spam=False, k=None, to=None, status=None, session=None, ts=None):
        counter["m"] += 1
        i = counter["m"]
        fs = ts if ts is not None else t0 + rng.randrange(1, 60000000)
        ls = fs + rng.randrange(200000, 3000000)
        if k is None:
            k = rng.randrange(u.nids)
        ipn = u.ipbase + rng.randrange(u.ipspan)
        ip = ip_text(ipn)
        sender = u.sender0 if k == 0 and u.sender0 else "user%d@%s" % (k, u.sdomain)
        xcid = "tenant-%d/web%d" % (u.tenant0 + k, k % 3 + 1) if u.hdr else None
        if to is None:
            n = rng.choice((1, 1, 1, 1, 2, 2, 3))
            to = []
            for _ in range(n):
                counter["r"] += 1
                to.append("r%d@dest%d.example" % (rng.randrange(3000), rng.randrange(1500)))
        qid = "%011X" % (i * 2654435761 % 17592186044416)
        host = "relay%d" % (1 + i % 2)
        msgid = "<%d.new@%s>" % (i, u.sdomain)
        j = {"type": "message", "host": host, "queue_id": qid, "complete": True,
             "first_seen": iso(fs), "last_seen": iso(ls), "client_host": "unknown",
             "client_ip": ip}
        if u.sasl:
            j.update(sasl_method="PLAIN", sasl_username=u.sasl)
        j.update(sender=sender, size=4000, nrcpt=len(to), message_id=msgid)
        if xcid:
            j["headers"] = {"X-Client-ID": xcid}
        msgs.append((i, "message", host, qid, 1, 0, fs, ls, "unknown", ip,
                     "PLAIN" if u.sasl else None, u.sasl, sender, 4000, len(to),
                     msgid, 1 if spam else None,
                     json.dumps({"X-Client-ID": xcid}, separators=(",", ":")) if xcid else None,
                     json.dumps(j, separators=(",", ":"))))
        for n, addr in enumerate(to):
            st, dsn, resp = status or ("sent", "2.0.0", "250 2.0.0 Ok: queued as 4XyZ")
            if st == "bounced":
                resp = "550 5.1.1 <%s>: Recipient address rejected: User unknown in virtual mailbox table" % addr
            rcpts.append((i, n, addr, None, st, dsn, "mx0.dest.example[203.0.113.9]:25",
                          "0.40", resp, 1))
        if spam:
            verds.append((i, "rspamd", 1, 1, "21.30", "15.00", "add header",
                          "BAYES_SPAM(5.10),RBL_SPAMHAUS_XBL(4.00)"))
        if xcid:
            hdrs.append((i, "X-Client-ID", xcid, 0))
        if session or (session is None and i % 3 == 0):
            counter["s"] += 1
            s = counter["s"]
            prog = "postfix/submission/smtpd" if u.sasl else "postfix/smtpd"
            sj = {"type": "session", "host": host, "program": prog, "pid": 4242,
                  "complete": True, "connect": iso(fs - 1500000),
                  "disconnect": iso(ls + 300000), "client_host": "unknown",
                  "client_ip": ip, "messages": 1, "rejects": 0}
            sess.append((s, host, 4242, prog, 1, 0, fs - 1500000, ls + 300000,
                         ls + 300000, "unknown", ip, None, "PLAIN" if u.sasl else None,
                         u.sasl, 0, 1, 0, None,
                         "ehlo=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=6",
                         json.dumps(sj, separators=(",", ":"))))

    never = set([u.name for u in us if u.kind == "sasl"][:2])    # as in config
    pool = [u for u in us if u.auto_lock and u.name not in never]
    # bursts: spam from 8 SASL users and 1 header-identified IP user (each
    # threshold + 2 spam messages of one identity: locks the user and it)
    spam_users = rng.sample([u for u in pool if u.kind == "sasl" and u.thr <= 5], 8)
    spam_users += rng.sample([u for u in pool if u.kind == "ip" and u.hdr and u.thr <= 5], 1)
    for u in spam_users:
        k = u.nids - 1
        for _ in range(u.thr + 2):
            message(u, spam=True, k=k)
        what.append("spam burst: %s (%d spam, threshold %d)" % (u.name, u.thr + 2, u.thr))
    # connections: 2 users over limit_per_minute, one session per message
    conn_users = sorted([u for u in us if u.conn and u.per_minute and u.name not in never], key=lambda u: u.per_minute)
    for u in rng.sample(conn_users[:200], 2):
        for _ in range(u.per_minute + 3):
            message(u, session=True)
        what.append("connection burst: %s (%d sessions, limit_per_minute %d)"
                    % (u.name, u.per_minute + 3, u.per_minute))
    # recipients: one user sends to limit + 20 new distinct recipients
    rc_users = sorted([u for u in us if u.maxrcpt and u.name not in never], key=lambda u: u.maxrcpt)
    u = rng.choice(rc_users[:200])
    want, n = u.maxrcpt + 20, 0
    while n < want:
        m = min(50, want - n)
        message(u, to=["nl%d.%d@list.example" % (counter["m"], x) for x in range(m)])
        n += m
    what.append("recipient burst: %s (%d distinct recipients, max_recipients_per_day %d)"
                % (u.name, want, u.maxrcpt))
    # invalid recipients: one user, limit + 2 bounced 5.1.1
    inv_users = sorted([u for u in us if u.invalid and u.auto_lock and u.name not in never], key=lambda u: u.invalid)
    u = rng.choice(inv_users[:200])
    want, n = u.invalid + 2, 0
    while n < want:
        m = min(10, want - n)
        message(u, to=["nobody%d.%d@dest1.example" % (counter["m"], x) for x in range(m)],
                status=("bounced", "5.1.1", None))
        n += m
    what.append("invalid burst: %s (%d bounced 5.1.1, invalid_recipient_limit %d)"
                % (u.name, want, u.invalid))
    # the rest: ordinary mail by the usual weights, 2% spam here and there
    cum, s = [], 0.0
    for x in allu:
        s += x.weight
        cum.append(s)
    while len(msgs) < N:
        x = allu[min(bisect.bisect_left(cum, rng.random() * s), len(allu) - 1)]
        message(x, spam=rng.random() < 0.02)
    con.execute("BEGIN IMMEDIATE")
    # numbered as the collector numbers its transactions (store/store.c)
    seq = con.execute("SELECT COALESCE(CAST(max(value) AS INTEGER), 0) + 1 FROM meta "
                      "WHERE key = 'seq'").fetchone()[0]
    con.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('seq', ?)", (seq,))
    msgs = [m + (seq,) for m in msgs]
    sess = [x + (seq,) for x in sess]
    con.executemany("INSERT INTO messages(id, kind, host, queue_id, complete, open, "
                    "first_seen, last_seen, client_host, client_ip, sasl_method, "
                    "sasl_username, sender, size, nrcpt, message_id, spam, headers, json, seq) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", msgs)
    con.executemany("INSERT INTO recipients(message, idx, address, status, dsn) "
                    "VALUES (?,?,?,?,?)", [r[:3] + r[4:6] for r in rcpts])
    con.executemany("INSERT INTO verdicts(message, source, spam, trusted, score, required, "
                    "action, symbols) VALUES (?,?,?,?,?,?,?,?)", verds)
    con.executemany("INSERT INTO headers(message, name, value, cut) VALUES (?,?,?,?)", hdrs)
    con.executemany("INSERT INTO sessions(id, host, pid, program, complete, open, connect, "
                    "disconnect, last_seen, client_host, client_ip, client_port, "
                    "sasl_method, sasl_username, sasl_failures, messages, rejects, lost, "
                    "counters, json, seq) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", sess)
    con.execute("COMMIT")
    con.close()
    print("new minute: %d messages, %d recipients, %d spam verdicts, %d sessions"
          % (len(msgs), len(rcpts), len(verds), len(sess)))
    for w in what:
        print("  " + w)

def mode_state(a):
    """state DB ACTION [FILE]: reset (history only, no analyzer state) |
    save FILE | restore FILE | empty (no analyzer state)"""
    db, action = a[0], a[1]
    con = sqlite3.connect(db, isolation_level=None, timeout=60)
    con.execute("BEGIN IMMEDIATE")
    if action == "reset":
        mid, sid = int(a[2]), int(a[3])
        for t in ("recipients", "headers", "verdicts"):
            con.execute("DELETE FROM %s WHERE message > ?" % t, (mid,))
        con.execute("DELETE FROM messages WHERE id > ?", (mid,))
        con.execute("DELETE FROM sessions WHERE id > ?", (sid,))
        con.execute("DELETE FROM meta WHERE key = 'seq'")
    # the analyzer's state: its decisions, its index (analyzer/aindex.c) and
    # what it saw last (meta ana_*)
    state = ("locks", "unlocks", "events", "ana_users", "ana_sessions",
             "ana_messages", "ana_pending", "ana_hvalues", "ana_classes",
             "ana_meta")
    if action in ("reset", "empty", "restore"):
        for t in state[:-1]:
            con.execute("DELETE FROM %s" % t)
        con.execute("DELETE FROM meta WHERE key LIKE 'ana\\_%' ESCAPE '\\'")
    if action in ("save", "restore"):
        con.execute("ATTACH ? AS s", (a[2],))
    for t in state:
        src = "(SELECT * FROM main.meta WHERE key LIKE 'ana\\_%' ESCAPE '\\')" if t == "ana_meta" else "main." + t
        if action == "save":
            con.execute("DROP TABLE IF EXISTS s.%s" % t)
            con.execute("CREATE TABLE s.%s AS SELECT * FROM %s" % (t, src))
        elif action == "restore":
            con.execute("INSERT INTO main.%s SELECT * FROM s.%s"
                        % ("meta" if t == "ana_meta" else t, t))
    con.execute("COMMIT")
    if action == "reset":
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()

{"config": mode_config, "generate": mode_generate, "traffic": mode_traffic,
 "state": mode_state}[sys.argv[1]](sys.argv[2:])
PY

gen() { python3 -c "$GEN" "$@"; }

# --- the cached history -----------------------------------------------------

# the schema exactly as this relayguard creates it: collect a few lines of
# the sample into an empty database, then analyze once (the analyzer's
# tables); prints the schema's fingerprint
make_schema() {
    local d=$1
    mkdir -p "$d/maps" "$d/postfix"
    : > "$d/postfix/main.cf"
    head -n 10 "$top/samples/relay.log" > "$d/tiny.log"
    cat > "$d/tiny.ini" <<INI
[global]
database = $d/schema.db
map_directory = $d/maps
postfix_config_directory = $d/postfix
[parse]
year = 2026
timezone = UTC
[source postfix]
path = $d/tiny.log
INI
    rm -f "$d/schema.db" "$d/schema.db-wal" "$d/schema.db-shm"
    "$rg" -c "$d/tiny.ini" collect --once --quiet >/dev/null
    "$rg" -c "$d/tiny.ini" analyze --now "@$T" >/dev/null
    sqlite3_fp "$d/schema.db"
}
sqlite3_fp() {
    python3 - "$1" <<'PY'
import hashlib, sqlite3, sys
con = sqlite3.connect(sys.argv[1])
v = con.execute("PRAGMA user_version").fetchone()[0]
s = "\n".join(r[0] or "" for r in con.execute(
    "SELECT sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"))
print("user_version=%d schema=%s" % (v, hashlib.sha1(s.encode()).hexdigest()[:12]))
PY
}

cache=$out/analyze-$users-$messages-$days
db=$cache/rg.db
mkdir -p "$cache"
exec 9> "$cache/.lock"
flock -n 9 || { echo "bench/analyze.sh: another run is using $cache" >&2; exit 75; }
schema=$(make_schema "$work/schema")
# versions 4 and 5 only add tables the generator leaves empty; 6 keeps
# the json and headers columns for rows written before it, as these are;
# 7 and 8 add what the generator leaves empty (relays, open_msgs' keys);
# 9 reads text session counters and rows without rec as written before it;
# 10 adds a column to relays (empty here)
case $schema in user_version=[3456789]\ *|user_version=10\ *) ;; *)
    echo "bench/analyze.sh: relayguard made schema '$schema', expected user_version 3 to 10" >&2; exit 70 ;;
esac
key="v$GEN_VERSION users=$users messages=$messages days=$days T=$T seed=$SEED $schema"
if [ -f "$db" ] && [ -f "$cache/meta" ] && [ "$(head -n 1 "$cache/meta")" = "$key" ]; then
    read -r base_mid base_sid < <(sed -n 2p "$cache/meta")
    counts=$(sed -n 3p "$cache/meta")
    echo "database: $db (cached)"
else
    echo "database: generating $db ..."
    rm -f "$db" "$db-wal" "$db-shm" "$cache/meta"
    t0=$EPOCHREALTIME
    cp "$work/schema/schema.db" "$db.tmp"
    counts=$(gen generate "$db.tmp" "$users" "$messages" "$days" "$SEED" "$archive" "$T")
    mv "$db.tmp" "$db"
    read -r base_mid base_sid < <(python3 - "$db" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
print(con.execute("SELECT max(id) FROM messages").fetchone()[0],
      con.execute("SELECT max(id) FROM sessions").fetchone()[0])
PY
)
    printf '%s\n%s %s\n%s\n' "$key" "$base_mid" "$base_sid" "$counts" > "$cache/meta"
    echo "          generated in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s"
fi
# a run that was interrupted may have left its minute and its state behind
gen state "$db" reset "$base_mid" "$base_sid"
echo "          $(du -m "$db" | cut -f1) MiB; rows: $counts; $schema"
if [ "$gen_only" = 1 ]; then exit 0; fi

# --- the configuration --------------------------------------------------------

maps=$work/maps
mkdir -p "$maps" "$work/postfix"
: > "$work/postfix/main.cf"       # postmap -c wants a main.cf there
cfg=$work/rg.ini
echo "config:   $(gen config "$cfg" "$users" "$messages" "$days" "$SEED" "$archive" "$db" "$maps" "$work/postfix")"
echo "          $cfg: $(wc -l < "$cfg") lines, $(du -k "$cfg" | cut -f1) KiB"
echo "binary:   $rg_src (sha1 $(sha1sum < "$rg" | cut -c1-12); tree at $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$top" diff --quiet HEAD -- 2>/dev/null || echo ', with uncommitted changes'))"
echo "times:    history to T = $T_ISO, the new minute (T, T+60s], analyze --now @$T60"

# --- measuring ------------------------------------------------------------------

# measure NAME CMD...: under /usr/bin/time and timeout; sets SECS, CPU (user +
# system seconds, the children's such as postmap included), RSS
# (MiB), RC (124: killed at --timeout); standard output to $work/out.NAME
measure() {
    local name=$1 t0 t1
    shift
    t0=$EPOCHREALTIME
    set +e
    /usr/bin/time -f '%e %M %U %S' -o "$work/time.$name" timeout "$timeout_s" "$@" \
        > "$work/out.$name" 2> "$work/err.$name"
    RC=$?
    set -e
    t1=$EPOCHREALTIME
    SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    RSS=$(awk 'END { printf "%.1f", $2 / 1024 }' "$work/time.$name")
    CPU=$(awk 'END { printf "%.2f", $3 + $4 }' "$work/time.$name")
}
# decisions NAME: "N (lock a, block b, ...)" from the action= lines
decisions() {
    local f=$work/out.$1
    awk '/^action=/ { a = substr($1, 8); if (a != "map" && a != "reload" && a != "skip") { n++; c[a]++ } else o[a]++ }
         END { s = ""; for (k in c) s = s (s == "" ? "" : ", ") k " " c[k];
               m = ""; for (k in o) m = m (m == "" ? "" : ", ") k " " o[k];
               printf "%d%s%s", n, s == "" ? "" : " (" s ")", m == "" ? "" : "; also " m }' "$f"
}
# phases NAME: where the run's time went (its -vv "timing:" lines)
phases() {
    awk '/timing: / { sub(/.*timing: /, ""); s = $NF; $NF = ""; sub(/ +$/, "");
                      out = out (out == "" ? "" : ", ") $0 " " s } END { if (out != "") print "               " out }' "$work/err.$1"
}
results=()
row() {    # row KIND RUN: one line of the table from the last measure
    local status=ok
    if [ "$RC" = 124 ]; then status="KILLED at ${timeout_s}s"
    elif [ "$RC" != 0 ]; then status="exit $RC: $(tail -n 1 "$work/err.$1" 2>/dev/null)"; fi
    results+=("$(printf '%-12s %3s %10s %8s %9s   %s' "$1" "$2" "$SECS" "$CPU" "$RSS" \
        "$( [ "$RC" = 0 ] && decisions "$1" || echo "$status")")")
    printf '  %-12s run %s: %s s (cpu %s s), %s MiB, %s\n' "$1" "$2" "$SECS" "$CPU" "$RSS" \
        "$( [ "$RC" = 0 ] && echo "decisions $(decisions "$1")" || echo "$status")"
}

echo
echo "measuring (each run at most ${timeout_s} s):"
measure check "$rg" -c "$cfg" check-config
# awk, not head: head's early exit would fail the pipe (pipefail) when the
# configuration gives many warnings
awk 'NR <= 3' "$work/out.check" "$work/err.check" | sed 's/^/  check-config: /'
[ "$RC" = 0 ] || { echo "bench/analyze.sh: the configuration does not load" >&2; exit 1; }
check_s=$SECS check_rss=$RSS check_cpu=$CPU
printf '  %-12s      : %s s (cpu %s s), %s MiB (parsing %d users; analyze pays it only when\n                      the file changed: else it reads the compiled cache beside the database)\n' \
    check-config "$check_s" "$check_cpu" "$check_rss" "$users"

# prime: the analyzer's first run, at T, on the history alone
measure prime "$rg" -vv -c "$cfg" analyze --now "@$T"
row prime 1
phases prime
prime_rc=$RC
gen state "$db" save "$work/state.db"
rm -rf "$work/maps.prime" && cp -a "$maps" "$work/maps.prime"
if [ "$prime_rc" != 0 ]; then
    echo "  (the prime run did not finish: the incremental runs start from no state)"
fi

echo "  $(gen traffic "$db" "$users" "$messages" "$days" "$SEED" "$archive" "$T" "$new" | sed '2,$s/^/  /')"

inc_best= inc_cpu=
killed=0
for i in $(seq 1 "$runs"); do
    gen state "$db" restore "$work/state.db"
    rm -rf "$maps" && cp -a "$work/maps.prime" "$maps"
    measure incremental "$rg" -vv -c "$cfg" analyze --now "@$T60"
    row incremental "$i"
    phases incremental
    [ "$RC" = 0 ] && inc_best=$(awk -v a="${inc_best:-1e9}" -v b="$SECS" 'BEGIN { print (b < a) ? b : a }')
    [ "$RC" = 0 ] && inc_cpu=$(awk -v a="${inc_cpu:-1e9}" -v b="$CPU" 'BEGIN { print (b < a) ? b : a }')
    [ "$RC" = 124 ] && { killed=1; break; }
done
# the same minute right after the configuration changed: no snapshot yet
# (the run parses and writes it)
gen state "$db" restore "$work/state.db"
rm -rf "$maps" && cp -a "$work/maps.prime" "$maps"
rm -f "$db.config-cache"
measure changed "$rg" -vv -c "$cfg" analyze --now "@$T60"
row changed 1
phases changed
[ "$RC" = 124 ] && killed=1
for i in $(seq 1 "$runs"); do
    gen state "$db" empty
    rm -rf "$maps" && mkdir -p "$maps"
    measure full "$rg" -vv -c "$cfg" analyze --now "@$T60"
    row full "$i"
    phases full
    [ "$RC" = 124 ] && { killed=1; break; }
done
gen state "$db" reset "$base_mid" "$base_sid"

echo
echo "relayguard analyze, $users users, $messages messages over $days days + $new new in the last minute"
printf '%-12s %3s %10s %8s %9s   %s\n' run "#" seconds "cpu s" "rss MiB" decisions
printf '%-12s %3s %10s %8s %9s   %s\n' check-config 1 "$check_s" "$check_cpu" "$check_rss" "(configuration only)"
for r in "${results[@]}"; do echo "$r"; done
if [ -n "$inc_best" ] && awk -v s="$inc_best" 'BEGIN { exit !(s < 1) }'; then
    echo "target: incremental under 1 s: ok ($inc_best s; cpu $inc_cpu s)"
else
    echo "target: incremental under 1 s: MISSED (${inc_best:-no run finished within ${timeout_s} s}${inc_cpu:+; cpu $inc_cpu s})"
fi
[ "$killed" = 0 ] || echo "note: a run was killed at --timeout $timeout_s; its repetitions were skipped"
