#!/bin/bash
# fleet.sh - many relays, one enforcer (map_backend = pgsql): a real
# PostgreSQL and two private Postfix relays, both wired with exactly what
# `relayguard postfix-config` prints (proxy:pgsql: tables). One collector
# reads the two relays' logs merged into one file (as rsyslog forwarding
# writes it), one analyzer decides, and every check is what each relay's
# Postfix really answered a client.
set -u
top=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
suite=fleet
RG0=${RELAYGUARD:-$top/build/relayguard}
[ -x "$RG0" ] || { echo "FAIL: $suite: no relayguard binary at $RG0"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: $suite: needs root to run Postfix and PostgreSQL"; exit 0; }
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
    || { echo "SKIP: $suite: postgresql is not installed (scripts/install-deps test)"; exit 0; }
ls /usr/lib/postfix/postfix-pgsql.so* >/dev/null 2>&1 \
    || { echo "SKIP: $suite: postfix-pgsql is not installed (scripts/install-deps test)"; exit 0; }
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/pgsql.sh"
work=$(mktemp -d /tmp/rg-fleet.XXXXXX); chmod 755 "$work"
cp "$RG0" "$work/relayguard"; RG=$work/relayguard

cleanup() {
    if [ -n "${A_DIR:-}" ]; then relay_use A; pf_stop; fi
    if [ -n "${B_DIR:-}" ]; then relay_use B; pf_stop; fi
    pg_stop
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

# ---- PostgreSQL: the enforcer's tables; a writer role and a read-only role
pg_start "$work/pg" 2> "$work/pg.err" || { cat "$work/pg.err"; echo "FAIL: $suite: PostgreSQL did not start"; exit 1; }
pg_sql postgres "CREATE ROLE relayguard LOGIN" && pg_sql postgres "CREATE ROLE postfix LOGIN" \
    && pg_sql postgres "CREATE DATABASE relayguard OWNER relayguard"
ok $? "PostgreSQL up with the relayguard and postfix roles"

# ---- two relays, each its own Postfix (ports, queue, log, host name)
export PF_MYNETWORKS="127.0.0.10/31 127.0.0.16/29"
PF_EXTRA_MAIN="myhostname = relay1.example.test" pf_start "$work/relay1" 2> "$work/pf1.err" \
    || { cat "$work/pf1.err"; echo "FAIL: $suite: relay 1 did not start"; exit 1; }
relay_save A
unset PF_DIR
PF_EXTRA_MAIN="myhostname = relay2.example.test" pf_start "$work/relay2" 2> "$work/pf2.err" \
    || { cat "$work/pf2.err"; echo "FAIL: $suite: relay 2 did not start"; exit 1; }
relay_save B
[ "$A_PORT" != "$B_PORT" ]; ok $? "two relays on their own ports ($A_PORT, $B_PORT)"

# the one collector's input: both relays' logs merged into one file (what
# rsyslog forwarding or journal-remote + the journal source give)
# (appended to, as rsyslog does; the new lines of each relay merged by time)
ma=0; mb=0
merge_logs() {
    local na nb
    na=$(wc -l < "$A_LOG"); nb=$(wc -l < "$B_LOG")
    { sed -n "$((ma + 1)),${na}p" "$A_LOG"; sed -n "$((mb + 1)),${nb}p" "$B_LOG"; } \
        | sort -s -k1,1M -k2,2n -k3,3 >> "$work/fleet.log"
    ma=$na; mb=$nb
}
: > "$work/fleet.log"
cat > "$work/rg.ini" <<INI
[global]
database = $work/rg.db
map_directory = $work/maps
map_backend = pgsql
postfix_config_directory = $A_CONF
admin_contact = abuse@example.org
trusted_verdicts = client-header
identity_lock_classes = 2
[pgsql]
host = $PG_SOCK
port = $PG_PORT
query_directory = $work/pgsql
[parse]
timezone = UTC
[source fleet]
path = $work/fleet.log
[defaults]
spam_lock_threshold = 5
spam_lock_window = 1h
lock_timeout = 1h
[user "alice@example.com"]
[user "bob@example.com"]
[user "carol@example.net"]
identification = header
identity_headers = X-Client-ID
[user "127.0.0.16/29"]
type = ip
[user "127.0.0.20"]
type = ip
INI
"$RG" -c "$work/rg.ini" check-config > "$work/cc.out" 2>&1; ok $? "the fleet configuration is valid" "$(head -c 300 "$work/cc.out")"
# [pgsql] password files: refused when group- or world-readable (FILE:LINE, 78)
echo secret > "$work/pw"; chmod 640 "$work/pw"
sed "s|^port = .*|&\npassword_file = $work/pw|" "$work/rg.ini" > "$work/pw.ini"
o=$("$RG" -c "$work/pw.ini" check-config 2>&1); rc=$?
[ $rc = 78 ] && grep -q "pw.ini:[0-9]*: password_file: .* can be read by group or others" <<<"$o"
ok $? "a group-readable [pgsql] password_file is refused with FILE:LINE, exit 78 (exit $rc)" "$o"
chmod 600 "$work/pw"
"$RG" -c "$work/pw.ini" check-config > /dev/null 2>&1; ok $? "... and taken at mode 600"
sed 's/^map_backend = pgsql/map_backend = mysql/' "$work/rg.ini" > "$work/bad.ini"
o=$("$RG" -c "$work/bad.ini" check-config 2>&1); rc=$?
[ $rc = 78 ] && grep -q 'bad.ini:[0-9]*: .*map_backend' <<<"$o"; ok $? "an unknown map_backend is refused (exit $rc)" "$o"
"$RG" -c "$work/rg.ini" init > /dev/null 2>&1
"$RG" -c "$work/rg.ini" analyze > "$work/a0.out" 2>&1; rc=$?
[ $rc = 0 ] && grep -q 'name=sasl_access entries=0 backend=pgsql' "$work/a0.out"
ok $? "a first analyze creates the tables and writes the empty maps (exit $rc)" "$(tail -3 "$work/a0.out")"
# a relays' role that does not exist (yet) is no error: no grant
sed "s|^query_directory = .*|&\npostfix_user = nosuchrole|" "$work/rg.ini" > "$work/norole.ini"
"$RG" -c "$work/norole.ini" analyze > "$work/nr.out" 2>&1; ok $? "analyze with a postfix_user role that does not exist" "$(tail -2 "$work/nr.out")"
n=$(pg_sql relayguard "SELECT count(*) FROM rg_maps")
[ "$n" = 10 ]; ok $? "one rg_maps row per map held in PostgreSQL (8 maps + 2 class tables)" "$n"

# ---- both relays wired with exactly postfix-config's lines and query files
mkdir -p "$work/pgsql"
"$RG" -c "$work/rg.ini" postfix-config --query-directory "$work/pgsql" > "$work/pc.out" 2>&1
ok $? "postfix-config writes the pgsql: query files" "$(head -c 300 "$work/pc.out")"
m=$(stat -c %a "$work/pgsql"/*.cf | sort -u | paste -sd' ')
[ "$m" = 640 ] && [ ! -e "$work/pgsql/sasl_access.cf.new" ]; ok $? "the query files are mode 640 (they may hold a password)" "$m"
chgrp postfix "$work/pgsql"/*.cf
pc_settings "$work/pc.out" > "$work/settings"
for R in A B; do
    relay_use $R
    bad=
    while IFS= read -r s; do
        postconf -c "$PF_CONF" -e "$s" || bad+="$s; "
    done < "$work/settings"
    # the verdicts: a client-written X-Spam-Flag, logged by the test
    # relay's own INFO rule (trusted_verdicts = client-header above),
    # stands in for a content filter
    postconf -c "$PF_CONF" -e "header_checks = $(postconf -c "$PF_CONF" -h header_checks), pcre:$PF_CONF/header_checks"
    postfix -c "$PF_CONF" reload > /dev/null 2>&1
    [ -z "$bad" ]; ok $? "relay $R takes postfix-config's main.cf lines" "$bad"
done
# the pgsql: tables answer through each relay's own proxymap
for R in A B; do
    relay_use $R
    for _ in $(seq 1 100); do
        o=$(send $R --auth alice@example.com:alice-pw --sender alice@example.com --to dave@example.org)
        grep -q '^SENT' <<<"$o" && break
        sleep 0.2
    done
    grep -q '^SENT' <<<"$o"; ok $? "relay $R relays alice through the pgsql: tables" "$o"
done
o=$("$RG" -c "$work/rg.ini" check-postfix 2>&1); rc=$?
[ $rc = 0 ]; ok $? "check-postfix is satisfied on relay A (proxy_read_maps, test lookups)" "$o"

# ---- 1. a lock decided from both relays' traffic: 3 + 3 spam = 6 >= 5
for R in A B; do
    for i in 1 2 3; do
        send $R --auth bob@example.com:bob-pw --sender bob@example.com --to x$i@example.org \
            --header "X-Spam-Flag: YES" --subject "spam $R $i" > /dev/null
    done
done
for R in A B; do relay_use $R; pf_wait_settled 60 > /dev/null 2>&1; pf_flush_log --marker > /dev/null 2>&1; done
# one relay's log alone is under the threshold (its own database, dry run)
sed -e "s|^database = .*|database = $work/one.db|" -e "s|^path = .*|path = $A_LOG|" \
    -e 's/^map_backend = pgsql/map_backend = files/' "$work/rg.ini" > "$work/one.ini"
"$RG" -c "$work/one.ini" init > /dev/null 2>&1
"$RG" -c "$work/one.ini" collect --once --quiet > "$work/c1.out" 2>&1
"$RG" -c "$work/one.ini" analyze --dry-run > "$work/a1.out" 2>&1
n1=$(sqlite3 "$work/one.db" "SELECT count(*) FROM messages WHERE sasl_username = 'bob@example.com'")
[ "$n1" = 3 ] && ! grep -q 'action=lock .*user="bob@example.com"' "$work/a1.out"
ok $? "3 spam through relay 1 alone do not lock bob (threshold 5; bob's messages in relay 1's log: $n1)" "$(grep action= "$work/a1.out" | head -3)"
merge_logs
grep -q '^... .. ..:..:.. relay1 postfix' "$work/fleet.log" && grep -q '^... .. ..:..:.. relay2 postfix' "$work/fleet.log"
ok $? "the merged log holds both relays' host names"
"$RG" -c "$work/rg.ini" collect --once --quiet > "$work/c2.out" 2>&1
"$RG" -c "$work/rg.ini" analyze > "$work/a2.out" 2>&1; rc=$?
n=$(sqlite3 "$work/rg.db" "SELECT m.host || ':' || count(*) FROM messages m JOIN verdicts v ON v.message = m.id WHERE v.spam = 1 AND m.sasl_username = 'bob@example.com' GROUP BY m.host ORDER BY m.host" | paste -sd' ')
[ "$n" = "relay1:3 relay2:3" ] && grep -q 'action=lock kind=user user="bob@example.com" rule=spam' "$work/a2.out"
ok $? "one collector over the merged log counts 3 + 3 spam (per host: $n) and locks bob (exit $rc)" "$(grep -E 'action=(lock|map)' "$work/a2.out" | head -5)"
grep -q 'action=map name=rg_senders_0 entries=1 backend=pgsql' "$work/a2.out"
ok $? "bob's envelope-sender identity lock is scoped through a class table in PostgreSQL (rg_senders_0)"
! grep -q 'action=reload' "$work/a2.out"; ok $? "no Postfix reload for a lock in PostgreSQL"
for R in A B; do
    o=$(send $R --auth bob@example.com:bob-pw --sender bob@example.com --to dave@example.org)
    grep -q 'REFUSED 450 4\.7\.1 .*sending locked' <<<"$o"; ok $? "relay $R refuses locked bob with 450 4.7.1" "$o"
    o=$(send $R --auth alice@example.com:alice-pw --sender alice@example.com --to dave@example.org)
    grep -q '^SENT' <<<"$o"; ok $? "relay $R still relays alice" "$o"
done

# ---- 1b. the same two logs through systemd-journal-remote into one journal
#          directory (one file per relay, as journal-upload sends them),
#          read by one journal source: the same count per host
JR=/lib/systemd/systemd-journal-remote
if [ -x "$JR" ]; then
    cat > "$work/export.py" <<'PY'
import calendar, re, sys, time
rx = re.compile(r'^(\w{3}) +(\d+) (\d\d):(\d\d):(\d\d) (\S+) ([^\[: ]+)\[(\d+)\]: (.*)$')
MON = {m: i for i, m in enumerate('Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec'.split(), 1)}
year, n = time.gmtime().tm_year, 0
out = sys.stdout.buffer
for l in open(sys.argv[1], encoding='utf-8', errors='replace'):
    m = rx.match(l.rstrip('\n'))
    if not m:
        continue
    mon, day, hh, mm, ss, host, prog, pid, msg = m.groups()
    n += 1
    usec = calendar.timegm((year, MON[mon], int(day), int(hh), int(mm), int(ss))) * 1000000 + n
    for k, v in (('__CURSOR', 's=%s;i=%x' % (host, n)), ('__REALTIME_TIMESTAMP', str(usec)),
                 ('__MONOTONIC_TIMESTAMP', str(1000000 + n)), ('_BOOT_ID', '%032x' % (hash(host) & (2**128 - 1))),
                 ('_HOSTNAME', host), ('SYSLOG_IDENTIFIER', prog), ('_PID', pid),
                 ('_SYSTEMD_UNIT', 'postfix@-.service'), ('MESSAGE', msg)):
        out.write(('%s=%s\n' % (k, v)).encode())
    out.write(b'\n')
PY
    mkdir -p "$work/remote"
    jbad=
    for R in A B; do
        eval "lg=\$${R}_LOG"
        python3 "$work/export.py" "$lg" > "$work/$R.export" \
            && "$JR" --output="$work/remote/remote-$R.journal" "$work/$R.export" > "$work/jr.out" 2>&1 \
            || jbad+="relay $R: $(head -c 200 "$work/jr.out"); "
    done
    chmod -R a+rX "$work/remote"
    sed -e "s|^database = .*|database = $work/jr.db|" -e 's/^map_backend = pgsql/map_backend = files/' \
        -e "s|^path = .*|type = journal\ndirectory = $work/remote\nmatch = _SYSTEMD_UNIT=postfix@-.service|" \
        "$work/rg.ini" > "$work/jr.ini"
    "$RG" -c "$work/jr.ini" init > /dev/null 2>&1
    "$RG" -c "$work/jr.ini" collect --once --quiet > "$work/jc.out" 2>&1 || jbad+="collect: $(head -c 200 "$work/jc.out"); "
    n=$(sqlite3 "$work/jr.db" "SELECT m.host || ':' || count(*) FROM messages m JOIN verdicts v ON v.message = m.id WHERE v.spam = 1 AND m.sasl_username = 'bob@example.com' GROUP BY m.host ORDER BY m.host" | paste -sd' ')
    "$RG" -c "$work/jr.ini" analyze --dry-run > "$work/ja.out" 2>&1
    [ -z "$jbad" ] && [ "$n" = "relay1:3 relay2:3" ] && grep -q 'action=lock kind=user user="bob@example.com" rule=spam' "$work/ja.out"
    ok $? "journal-remote: one journal directory of both relays, one journal source: 3 + 3 spam ($n), bob locked" "$jbad"
else
    echo "SKIP: $suite: journal-remote: $JR is missing (systemd-journal-remote)"
fi

# ---- 2. unlock: accepted by both, no reload
pid1=$(sed 's/ //g' "$A_QUEUE/pid/master.pid"); pid2=$(sed 's/ //g' "$B_QUEUE/pid/master.pid")
r1=$(grep -c 'reload' "$A_LOG"); r2=$(grep -c 'reload' "$B_LOG")
"$RG" -c "$work/rg.ini" unlock user bob@example.com > "$work/u.out" 2>&1 \
    && "$RG" -c "$work/rg.ini" unlock identity bob@example.com/bob@example.com >> "$work/u.out" 2>&1
ok $? "unlock bob and his sender identity" "$(cat "$work/u.out")"
for R in A B; do
    o=$(send $R --auth bob@example.com:bob-pw --sender bob@example.com --to dave@example.org)
    grep -q '^SENT' <<<"$o"; ok $? "relay $R accepts bob again at the next lookup" "$o"
done
[ "$(grep -c 'reload' "$A_LOG")" = "$r1" ] && [ "$(grep -c 'reload' "$B_LOG")" = "$r2" ] \
    && [ "$(sed 's/ //g' "$A_QUEUE/pid/master.pid")" = "$pid1" ] && [ "$(sed 's/ //g' "$B_QUEUE/pid/master.pid")" = "$pid2" ]
ok $? "neither relay was reloaded or restarted for the unlock"

# ---- 2b. a header identity lock: header_checks is a pgsql: table too (the
#          whole header line is its key); refused on both relays with no
#          file copied to them and no reload
bad=
for R in A B; do
    relay_use $R
    hc=$(postconf -c "$PF_CONF" -h header_checks)
    case $hc in "proxy:pgsql:$work/pgsql/header_checks.cf, pcre:$work/maps/header_static"*) ;; *) bad+="relay $R: $hc; " ;; esac
done
[ -z "$bad" ]; ok $? "both relays look header identities up in PostgreSQL (postfix-config's header_checks)" "$bad"
"$RG" -c "$work/rg.ini" lock identity carol@example.net/tenant-7 --reason "header test" > "$work/l2b.out" 2>&1; rc=$?
[ $rc = 0 ] && grep -q 'action=map name=header_checks entries=1 backend=pgsql' "$work/l2b.out" \
    && [ ! -e "$work/maps/header_checks" ] && ! grep -q 'action=reload' "$work/l2b.out"
ok $? "a header identity lock goes into PostgreSQL: no header_checks file, no reload (exit $rc)" "$(cat "$work/l2b.out")"
for R in A B; do
    for h in "X-Client-ID: tenant-7" "x-client-id:   tenant-7  "; do
        o=$(send $R --auth carol@example.net:carol-pw --sender carol@example.net --to dave@example.org --header "$h")
        grep -q 'REFUSED 4[0-9][0-9] 4\.7\.1 .*locked' <<<"$o"; ok $? "relay $R refuses carol's mail with '$h' (its header identity is locked)" "$o"
    done
    for h in "X-Client-ID: tenant-8" "X-Client-ID: Tenant-7" "X-Client-ID: tenant-77"; do
        o=$(send $R --auth carol@example.net:carol-pw --sender carol@example.net --to dave@example.org --header "$h")
        grep -q '^SENT' <<<"$o"; ok $? "relay $R relays carol's mail with '$h' (another identity)" "$o"
    done
done
"$RG" -c "$work/rg.ini" unlock identity carol@example.net/tenant-7 > "$work/u2b.out" 2>&1
for R in A B; do
    o=$(send $R --auth carol@example.net:carol-pw --sender carol@example.net --to dave@example.org --header "X-Client-ID: tenant-7")
    grep -q '^SENT' <<<"$o"; ok $? "relay $R relays tenant-7 again after the unlock" "$o"
done
[ "$(grep -c 'reload' "$A_LOG")" = "$r1" ] && [ "$(grep -c 'reload' "$B_LOG")" = "$r2" ] \
    && [ "$(sed 's/ //g' "$A_QUEUE/pid/master.pid")" = "$pid1" ] && [ "$(sed 's/ //g' "$B_QUEUE/pid/master.pid")" = "$pid2" ]
ok $? "neither relay was reloaded or restarted for the header identity lock and unlock"

# ---- 3. a CIDR user with a nested unlocked network, as the cidr map has it
"$RG" -c "$work/rg.ini" lock user 127.0.0.16/29 --reason "cidr test" > "$work/l3.out" 2>&1
ok $? "lock the network 127.0.0.16/29" "$(cat "$work/l3.out")"
for R in A B; do
    o=$(send $R --from-ip 127.0.0.21 --sender x@example.com --to dave@example.org)
    grep -q 'REFUSED 450 4\.7\.1' <<<"$o"; ok $? "relay $R refuses 127.0.0.21 (in the locked /29)" "$o"
    o=$(send $R --from-ip 127.0.0.20 --sender x@example.com --to dave@example.org)
    grep -q '^SENT' <<<"$o"; ok $? "relay $R relays 127.0.0.20 (its own unlocked user inside the /29)" "$o"
done
# the same keys through the file backend's cidr map and the SQL function
sed -e 's/^map_backend = pgsql/map_backend = files/' -e "s|^map_directory = .*|map_directory = $work/fmaps|" \
    -e "s|^postfix_config_directory = .*|postfix_config_directory = $work/nopf|" "$work/rg.ini" > "$work/files.ini"
mkdir -p "$work/nopf"; echo "compatibility_level = 3.6" > "$work/nopf/main.cf"
"$RG" -c "$work/files.ini" analyze > "$work/fa.out" 2>&1
printf '%s\n' 127.0.0.16 127.0.0.20 127.0.0.21 127.0.0.23 127.0.0.24 127.0.0.15 10.1.2.3 2001:db8::1 > "$work/keys"
bad=
while read -r k; do
    f=$(postmap -c "$work/nopf" -q "$k" "cidr:$work/fmaps/client_access" 2>&1) || f=DUNNO
    p=$(postmap -c "$work/nopf" -q "$k" "pgsql:$work/pgsql/client_access.cf" 2>&1) || p="(none: $p)"
    [ "$f" = "$p" ] || bad+="$k: cidr '$f', pgsql '$p'; "
done < "$work/keys"
[ -z "$bad" ]; ok $? "pgsql answers every address as the cidr map does (no match = DUNNO)" "$bad"
# keys that are not whole addresses: no row and no SQL error (an error would
# be 451 4.3.5 for the client); an IPv4-mapped IPv6 address is no IPv4 match
bad=
for k in 127.0.0 127.0 127 relay.example.test unknown "1.2.3.4/24" "::ffff:127.0.0.21" "x'; DROP TABLE rg_map; --"; do
    o=$(postmap -c "$work/nopf" -q "$k" "pgsql:$work/pgsql/client_access.cf" 2>&1); rc=$?
    case $k in
    ::ffff:*) [ "$o" = DUNNO ] || bad+="$k gave '$o' (rc $rc); " ;;
    *) [ $rc = 1 ] && [ -z "$o" ] || bad+="$k gave '$o' (rc $rc); " ;;
    esac
done
[ -z "$bad" ]; ok $? "partial keys, host names and junk find nothing, without an SQL error; ::ffff:127.0.0.21 is not in 127.0.0.16/29" "$bad"
"$RG" -c "$work/rg.ini" unlock user 127.0.0.16/29 > /dev/null 2>&1

# ---- 4. PostgreSQL stops: the relays answer 4xx, analyze changes nothing
#         and exits 75, and after a restart the next run catches up
for R in A B; do
    for i in 1 2 3; do
        send $R --auth alice@example.com:alice-pw --sender alice@example.com --to y$i@example.org \
            --header "X-Spam-Flag: YES" --subject "spam $R $i" > /dev/null
    done
done
for R in A B; do relay_use $R; pf_wait_settled 60 > /dev/null 2>&1; pf_flush_log --marker > /dev/null 2>&1; done
merge_logs
"$RG" -c "$work/rg.ini" collect --once --quiet > /dev/null 2>&1
pg_stop; ok $? "PostgreSQL stopped"
for R in A B; do
    o=$(send $R --auth carol@example.net:carol-pw --sender carol@example.net --to dave@example.org)
    grep -q 'REFUSED 4[0-9][0-9] 4\.3\.' <<<"$o"; ok $? "relay $R answers 4xx while PostgreSQL is down" "$o"
done
o=$("$RG" -c "$work/rg.ini" check-postfix 2>&1); rc=$?
[ $rc = 1 ] && grep -q 'sasl_access.cf: a test lookup failed' <<<"$o"
ok $? "check-postfix's test lookup fails while PostgreSQL is down (exit $rc)" "$(head -c 300 <<<"$o")"
before=$(sqlite3 "$work/rg.db" "SELECT count(*) FROM locks; SELECT count(*) FROM events" | paste -sd/)
"$RG" -c "$work/rg.ini" analyze > "$work/a4.out" 2>&1; rc=$?
[ $rc = 75 ]; ok $? "analyze exits 75 when PostgreSQL is down" "exit $rc: $(head -c 300 "$work/a4.out")"
after=$(sqlite3 "$work/rg.db" "SELECT count(*) FROM locks; SELECT count(*) FROM events" | paste -sd/)
[ "$before" = "$after" ] && ! grep -q 'action=lock' "$work/a4.out"
ok $? "... and decides nothing (locks/events $before -> $after)"
pg_restart_start; ok $? "PostgreSQL started again"
"$RG" -c "$work/rg.ini" analyze > "$work/a5.out" 2>&1; rc=$?
[ $rc = 0 ] && grep -q 'action=lock .*user="alice@example.com"' "$work/a5.out"
ok $? "the next analyze catches up: alice locked (exit $rc)" "$(grep action= "$work/a5.out" | head -3)"
# Postfix's pgsql client marks a server that failed dead for 60 s
# (dict_pgsql's RETRY_CONN_INTV): relay B is reloaded (a new proxymap);
# relay A too, unless FLEET_RETRY=1, which leaves it alone and measures
# how long it keeps answering 451 (about a minute: slow, so not by default)
refused_after() {   # refused_after R TRIES PAUSE: alice refused 450 on relay R
    local i
    for i in $(seq 1 "$2"); do
        o=$(send "$1" --auth alice@example.com:alice-pw --sender alice@example.com --to dave@example.org)
        grep -q 'REFUSED 450 4\.7\.1' <<<"$o" && return 0
        sleep "$3"
    done
    return 1
}
relay_use B; postfix -c "$B_CONF" reload > /dev/null 2>&1
refused_after B 50 0.2; ok $? "relay B (reloaded) refuses alice after the outage" "$o"
t0=$SECONDS
if [ "${FLEET_RETRY:-0}" = 1 ]; then
    refused_after A 100 1
    ok $? "relay A (no reload) refuses alice once its pgsql client retries ($((SECONDS - t0)) s after the catch-up)" "$o"
else
    relay_use A; postfix -c "$A_CONF" reload > /dev/null 2>&1
    refused_after A 50 0.2; ok $? "relay A (reloaded) refuses alice after the outage" "$o"
fi

# ---- 5. check-postfix: a proxy: table missing from proxy_read_maps
relay_use B
postconf -c "$B_CONF" -e "proxy_read_maps = \$smtpd_recipient_restrictions"
o=$(sed "s|^postfix_config_directory = .*|postfix_config_directory = $B_CONF|" "$work/rg.ini" > "$work/b.ini"; "$RG" -c "$work/b.ini" check-postfix 2>&1); rc=$?
[ $rc = 1 ] && grep -q 'rg_senders_0.cf is not in proxy_read_maps' <<<"$o" && ! grep -q 'sasl_access.cf is not in' <<<"$o"
ok $? "check-postfix names the class tables missing from proxy_read_maps (exit $rc)" "$(head -c 400 <<<"$o")"
exit 0
