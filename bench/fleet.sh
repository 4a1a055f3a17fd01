#!/bin/bash
# bench/fleet.sh - map_backend = pgsql against the file maps: how many
# lookups a second one Postfix gets from relayguard's pgsql: table through
# proxy: (and directly), next to the hash map of the same entries, and the
# time from a lock decision to its first refusal on a second relay.
#
# Starts a private PostgreSQL (tests/lib/pgsql.sh) and two private Postfix
# relays (tests/lib/postfix.sh), wires both with `relayguard
# postfix-config`, fills sasl_access with --entries logins, then
#   postmap -q - TABLE < keys   one process for all --keys keys (half of
#                               them present), for hash:, pgsql: and
#                               proxy:pgsql: (through the relay's proxymap)
#   lock user alice             relayguard lock (its transaction), then
#                               SMTP sessions on relay 2 until one is
#                               refused: the decision-to-refusal time
#   relayguard policy           the same keys as policy requests through
#                               spawn's socket and through a pipe
# and prints a table. Target: lock to first refusal under 1 s.
#
# Usage: bench/fleet.sh [--entries N] [--keys N] [--keep]   (as root)
# Environment: RELAYGUARD (the binary, default build/relayguard).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
RG=${RELAYGUARD:-$top/build/relayguard}
entries=10000 keys=20000 keep=0
while [ $# -gt 0 ]; do
    case $1 in
    --entries) entries=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "usage: $0 [--entries N] [--keys N] [--keep]" >&2; exit 64 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "fleet.sh: run as root (PostgreSQL and Postfix are started)" >&2; exit 77; }
[ -x "$RG" ] || { echo "fleet.sh: no $RG (make)" >&2; exit 69; }
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/pgsql.sh"
work=$(mktemp -d /tmp/rg-fleetbench.XXXXXX); chmod 755 "$work"
cleanup() {
    if [ -n "${A_DIR:-}" ]; then relay_use A; pf_stop; fi
    if [ -n "${B_DIR:-}" ]; then relay_use B; pf_stop; fi
    pg_stop
    [ $keep = 1 ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT TERM HUP
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

pg_start "$work/pg" >&2 || exit 1
pg_sql postgres "CREATE ROLE relayguard LOGIN" && pg_sql postgres "CREATE ROLE postfix LOGIN" \
    && pg_sql postgres "CREATE DATABASE relayguard OWNER relayguard" || exit 1
PF_EXTRA_MAIN="myhostname = relay1.example.test" pf_start "$work/relay1" >&2 || exit 1
relay_save A; unset PF_DIR
PF_EXTRA_MAIN="myhostname = relay2.example.test" pf_start "$work/relay2" >&2 || exit 1
relay_save B
cat > "$work/rg.ini" <<INI
[global]
database = $work/rg.db
map_directory = $work/maps
map_backend = pgsql
postfix_config_directory = $A_CONF
identity_lock_classes = 2
[pgsql]
host = $PG_SOCK
port = $PG_PORT
query_directory = $work/pgsql
[user "alice@example.com"]
INI
"$RG" -c "$work/rg.ini" init > /dev/null && "$RG" -c "$work/rg.ini" analyze > /dev/null || exit 1
mkdir -p "$work/pgsql"
"$RG" -c "$work/rg.ini" postfix-config --query-directory "$work/pgsql" > "$work/pc.out" || exit 1
chgrp postfix "$work/pgsql"/*.cf
pc_settings "$work/pc.out" > "$work/settings"
for R in A B; do
    relay_use $R
    while IFS= read -r s; do postconf -c "$PF_CONF" -e "$s"; done < "$work/settings"
    postfix -c "$PF_CONF" reload > /dev/null 2>&1
done

# the entries: the same logins in PostgreSQL (beside analyze's own rows,
# under another map name) and in a hash map
seq 1 "$entries" | awk '{ printf "user%d@example.com\tREJECT 5.7.1 bench\n", $1 }' > "$work/bench_map"
postmap -c "$A_CONF" "hash:$work/bench_map"
pg_sql relayguard "INSERT INTO rg_map SELECT 'bench', 'user' || i || '@example.com', 'REJECT 5.7.1 bench' FROM generate_series(1, $entries) i"
sed 's/sasl_access/bench/g' "$work/pgsql/sasl_access.cf" > "$work/pgsql/bench.cf"
chgrp postfix "$work/pgsql/bench.cf"; chmod 640 "$work/pgsql/bench.cf"
postconf -c "$A_CONF" -e "proxy_read_maps = $(postconf -c "$A_CONF" -h proxy_read_maps) proxy:pgsql:$work/pgsql/bench.cf"
postfix -c "$A_CONF" reload > /dev/null 2>&1
sleep 1
awk -v n="$keys" -v e="$entries" 'BEGIN { srand(1); for (i = 0; i < n; i++) printf "user%d@example.com\n", int(rand() * 2 * e) + 1 }' > "$work/keys"

printf '%-28s %10s %10s %12s\n' table keys found lookups/s
for t in "hash:$work/bench_map" "pgsql:$work/pgsql/bench.cf" "proxy:pgsql:$work/pgsql/bench.cf"; do
    t0=$(now)
    found=$(postmap -c "$A_CONF" -q - "$t" < "$work/keys" 2> "$work/err" | wc -l)
    t1=$(now)
    [ -s "$work/err" ] && { echo "fleet.sh: $t: $(head -c 300 "$work/err")" >&2; }
    printf '%-28s %10d %10d %12.0f\n' "${t%%:$work*}" "$keys" "$found" \
        "$(awk -v k="$keys" -v s="$(secs "$t0" "$t1")" 'BEGIN { print k / s }')"
done

# lock decision to first refusal on relay 2, measured in one python process
# (no interpreter start in the figure): a few sessions before the lock (the
# session time), then `relayguard lock` and sessions until one is refused.
# A session is what a client does: connect, EHLO, AUTH, MAIL, RCPT.
cat > "$work/lock.py" <<'PY'
import subprocess, sys, time
sys.path.insert(0, sys.argv[1])
from send import send_session
port, rg, ini, logf = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
msg = [{"sender": "alice@example.com", "recipients": ["dave@example.org"], "data": "Subject: b\n\nb\n",
        "abort": "RCPT"}]
def rcpt():
    r = send_session("127.0.0.1", port, auth=("alice@example.com", "alice-pw"), messages=msg)
    return r["results"][0]["rcpts"]["dave@example.org"][0] if r["results"] and r["results"][0]["rcpts"] else 0
t = []
for _ in range(5):
    t0 = time.monotonic(); c = rcpt(); t.append(time.monotonic() - t0)
    if c != 250:
        sys.exit("relay 2 does not take alice before the lock: %d" % c)
t0 = time.monotonic()
p = subprocess.run([rg, "-vv", "-c", ini, "lock", "user", "alice@example.com", "--reason", "bench"],
                   stdout=subprocess.PIPE, stderr=open(logf, "w"))
t1 = time.monotonic()
if p.returncode != 0:
    sys.exit("lock failed")
n = 0
while True:
    n += 1
    c = rcpt()
    if c == 450:
        break
    if n >= 200:
        sys.exit("relay 2 never refused alice")
t2 = time.monotonic()
print("one SMTP session before the lock (median of 5): %.3f s" % sorted(t)[2])
print("lock command (relayguard lock: decide, one transaction): %.3f s" % (t1 - t0))
print("then to the first refusal on relay 2: %.3f s (%d SMTP session(s))" % (t2 - t1, n))
print("lock decision to first refusal on relay 2, in all: %.3f s" % (t2 - t0))
PY
echo
/usr/bin/python3 "$work/lock.py" "$top/tests/lib" "$B_PORT" "$RG" "$work/rg.ini" "$work/lock.err" || exit 1
echo "the lock command's phases (-vv):"
sed 's/^relayguard: timing: /  /' "$work/lock.err" | grep -v '^relayguard' 

# the policy service ([pgsql] policy_service = yes): the same keys, looked up
# in sasl_access by `relayguard policy`, one request at a time as smtpd
# asks (a full request: login, address, sender, recipient: one prepared
# statement each), through spawn's socket of relay 1 and through a pipe
pg_sql relayguard "INSERT INTO rg_map SELECT 'sasl_access', 'user' || i || '@example.com', 'REJECT 5.7.1 bench' FROM generate_series(1, $entries) i ON CONFLICT DO NOTHING"
sed 's/^query_directory = .*/&\npolicy_service = yes/' "$work/rg.ini" > "$work/policy.ini"; chmod 644 "$work/policy.ini"
relay_use A
"$RG" -c "$work/policy.ini" postfix-config --policy-service --policy-user nobody | grep -v '^#' >> "$A_CONF/master.cf"
postfix -c "$A_CONF" reload > /dev/null 2>&1
python3 - "$work/keys" "$A_QUEUE/private/rgpolicy" "$RG" "$work/policy.ini" <<'PY'
import socket, subprocess, sys, time
keys = [l.strip() for l in open(sys.argv[1])]
def req(k, i):
    return ("request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
            "client_address=10.%d.%d.%d\nsasl_username=%s\nsender=%s\n"
            "recipient=dave@example.org\n\n" % (i >> 16 & 255, i >> 8 & 255, i & 255, k, k)).encode()
def socket_run(path, ks):
    for _ in range(100):        # the reload's new master listens soon
        try:
            s = socket.socket(socket.AF_UNIX); s.connect(path); break
        except OSError:
            time.sleep(0.1)
    f = s.makefile("rb"); found = 0
    t0 = time.monotonic()
    for i, k in enumerate(ks):
        s.sendall(req(k, i))
        a = f.readline(); f.readline()
        found += not a.startswith(b"action=DUNNO")
    return time.monotonic() - t0, found
dt, found = socket_run(sys.argv[2], keys)
print("%-28s %10d %10d %12.0f" % ("policy (spawn socket)", len(keys), found, len(keys) / dt))
data = b"".join(req(k, i) for i, k in enumerate(keys))
t0 = time.monotonic()
out = subprocess.run([sys.argv[3], "-c", sys.argv[4], "policy", "--log-file", "/dev/null"],
                     input=data, stdout=subprocess.PIPE).stdout
dt = time.monotonic() - t0
found = sum(1 for l in out.split(b"\n") if l.startswith(b"action=") and not l.startswith(b"action=DUNNO"))
print("%-28s %10d %10d %12.0f" % ("policy (pipe, one process)", len(keys), found, len(keys) / dt))
PY
