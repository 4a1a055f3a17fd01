#!/bin/bash
# policy.sh - map_backend = pgsql with relayguard's policy service
# ([pgsql] policy_service = yes): a real PostgreSQL and a real Postfix that
# asks `relayguard policy` (spawn(8), wired with exactly what
# `relayguard postfix-config` prints). Every lock check is what Postfix
# answered a client. Then the failure behaviour: PostgreSQL stopped with
# on_failure = open (mail passes, one warning per outage) and closed (4xx);
# the service itself killed (a new one is spawned) and absent (Postfix's
# default_action). And the protocol on garbage, without Postfix.
set -u
top=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
suite=policy
RG0=${RELAYGUARD:-$top/build/relayguard}
[ -x "$RG0" ] || { echo "FAIL: $suite: no relayguard binary at $RG0"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: $suite: needs root to run Postfix and PostgreSQL"; exit 0; }
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
    || { echo "SKIP: $suite: postgresql is not installed (scripts/install-deps test)"; exit 0; }
ls /usr/lib/postfix/postfix-pgsql.so* >/dev/null 2>&1 \
    || { echo "SKIP: $suite: postfix-pgsql is not installed (scripts/install-deps test)"; exit 0; }
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/pgsql.sh"
work=$(mktemp -d /tmp/rg-policy.XXXXXX); chmod 755 "$work"
cp "$RG0" "$work/relayguard"; chmod 755 "$work/relayguard"; RG=$work/relayguard
cleanup() {
    [ -n "${PF_DIR:-}" ] && pf_stop
    pg_stop
    [ "${RG_KEEP:-0}" = 1 ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT TERM HUP
ok() { if [ "$1" = 0 ]; then echo "PASS: $suite: $2"; else echo "FAIL: $suite: $2${3:+: $3}"; fi; }
send() { /usr/bin/python3 "$top/tests/lib/send.py" --port "$PF_PORT" "$@" 2>&1; }
alice() { send --auth alice@example.com:alice-pw --sender alice@example.com --to dave@example.org "$@"; }
bob() { send --auth bob@example.com:bob-pw --sender bob@example.com --to dave@example.org "$@"; }
# until_ok WANT CMD...: CMD until its output matches WANT (a reload, a spawn)
until_ok() {
    local want=$1 i; shift
    for i in $(seq 1 50); do
        o=$("$@"); grep -q "$want" <<<"$o" && return 0
        sleep 0.2
    done
    return 1
}

pg_start "$work/pg" 2> "$work/pg.err" || { cat "$work/pg.err"; echo "FAIL: $suite: PostgreSQL did not start"; exit 1; }
pg_sql postgres "CREATE ROLE relayguard LOGIN" && pg_sql postgres "CREATE ROLE postfix LOGIN" \
    && pg_sql postgres "CREATE DATABASE relayguard OWNER relayguard"
ok $? "PostgreSQL up with the relayguard and postfix roles"
export PF_MYNETWORKS="127.0.0.10/31 127.0.0.16/29"
pf_start "$work/relay" 2> "$work/pf.err" || { cat "$work/pf.err"; echo "FAIL: $suite: Postfix did not start"; exit 1; }
# an address extension, so that the service's access(5) keys are tested
postconf -c "$PF_CONF" -e recipient_delimiter=+

cat > "$work/rg.ini" <<INI
[global]
database = $work/rg.db
map_directory = $work/maps
map_backend = pgsql
postfix_config_directory = $PF_CONF
admin_contact = abuse@example.org
identity_lock_classes = 2
[pgsql]
host = $PG_SOCK
port = $PG_PORT
query_directory = $work/pgsql
policy_service = yes
query_timeout = 2s
[user "alice@example.com"]
[user "bob@example.com"]
[user "127.0.0.16/29"]
type = ip
[user "127.0.0.20"]
type = ip
INI
chmod 644 "$work/rg.ini"
"$RG" -c "$work/rg.ini" check-config > "$work/cc.out" 2>&1; ok $? "a policy_service configuration is valid" "$(head -c 300 "$work/cc.out")"
sed 's/^policy_service = yes/&\non_failure = maybe/' "$work/rg.ini" > "$work/bad.ini"
o=$("$RG" -c "$work/bad.ini" check-config 2>&1); rc=$?
[ $rc = 78 ] && grep -q 'bad.ini:[0-9]*: .*on_failure' <<<"$o"; ok $? "on_failure = maybe is refused with FILE:LINE, exit 78 (exit $rc)" "$o"
"$RG" -c "$work/rg.ini" init > /dev/null 2>&1
"$RG" -c "$work/rg.ini" analyze > "$work/a0.out" 2>&1; ok $? "a first analyze writes the tables" "$(tail -3 "$work/a0.out")"

# ---- Postfix wired with postfix-config's lines and its master.cf service
"$RG" -c "$work/rg.ini" postfix-config > "$work/pc.out" 2>&1
ok $? "postfix-config prints the policy mode's main.cf lines" "$(head -c 300 "$work/pc.out")"
grep -q 'check_policy_service { unix:private/rgpolicy, timeout=10s, default_action=DUNNO }' "$work/pc.out" \
    && ! grep -v '^#' "$work/pc.out" | grep -q 'pgsql:'
ok $? "... with check_policy_service { ..., default_action=DUNNO } and no pgsql: table at all (none can fail closed)"
apply() {
    local s bad=
    while IFS= read -r s; do postconf -c "$PF_CONF" -e "$s" || bad+="$s; "; done < <(pc_settings "$1")
    [ -z "$bad" ]
}
apply "$work/pc.out"; ok $? "Postfix takes the printed main.cf lines"
"$RG" -c "$work/rg.ini" postfix-config --policy-service --policy-user nobody > "$work/ms.out" 2>&1
grep -q "^rgpolicy  unix .* spawn$" "$work/ms.out" && grep -q "^  user=nobody argv=$RG -c $work/rg.ini policy$" "$work/ms.out"
ok $? "postfix-config --policy-service prints the spawn service" "$(cat "$work/ms.out")"
# the service's diagnostics to a file (this machine has no syslog)
: > "$work/policy.log"; chown nobody "$work/policy.log"
grep -v '^#' "$work/ms.out" | sed "s|policy\$|policy --log-file $work/policy.log|" >> "$PF_CONF/master.cf"
postfix -c "$PF_CONF" reload > /dev/null 2>&1
pf_flush_log > /dev/null 2>&1
o=$("$RG" -c "$work/rg.ini" check-postfix 2>&1); rc=$?
[ $rc = 0 ]; ok $? "check-postfix is satisfied (policy element, master.cf service, a test request)" "$o"

# ---- decisions, through the real Postfix
until_ok '^SENT' alice; ok $? "an unlocked login is relayed through the policy service" "$o"
grep -q 'relayguard/policy' "$PF_LOG" && { echo "FAIL: $suite: the service wrote into Postfix's log: $(grep relayguard/policy "$PF_LOG" | head -2)"; }
"$RG" -c "$work/rg.ini" lock user bob@example.com --reason test > /dev/null 2>&1
o=$(bob); grep -q 'REFUSED 450 4\.7\.1 .*sending locked' <<<"$o"; ok $? "a locked login is refused 450 4.7.1 at its next message" "$o"
o=$(send --auth bob@example.com:bob-pw --sender bob@example.com --to abuse@example.org)
grep -q '^SENT' <<<"$o"; ok $? "... but may still write to the admin contact (admin_access: OK)" "$o"
"$RG" -c "$work/rg.ini" lock user 127.0.0.16/29 --reason cidr > /dev/null 2>&1
o=$(send --from-ip 127.0.0.21 --sender x@example.com --to dave@example.org)
grep -q 'REFUSED 450 4\.7\.1' <<<"$o"; ok $? "an address in a locked network is refused" "$o"
o=$(send --from-ip 127.0.0.20 --sender x@example.com --to dave@example.org)
grep -q '^SENT' <<<"$o"; ok $? "its own unlocked user inside the network is relayed (most specific network)" "$o"
"$RG" -c "$work/rg.ini" lock identity alice@example.com/spoof@example.net --reason t > /dev/null 2>&1
o=$(send --auth alice@example.com:alice-pw --sender Spoof+x@Example.NET --to dave@example.org)
grep -q 'REFUSED 450 4\.7\.1' <<<"$o"; ok $? "a scoped identity lock refuses alice's Spoof+x@Example.NET (folded, extension)" "$o"
o=$(alice); grep -q '^SENT' <<<"$o"; ok $? "... and alice's own sender still passes (her class answered, nothing matched)" "$o"
o=$(send --auth carol@example.net:carol-pw --sender spoof@example.net --to dave@example.org)
grep -q '^SENT' <<<"$o"; ok $? "... and carol may use spoof@example.net (the lock is alice's only)" "$o"
# the same keys through the pgsql: tables of the table mode and through
# the policy service: the same answers (no table row is DUNNO)
sed 's/^policy_service = yes/policy_service = no/' "$work/rg.ini" > "$work/tables.ini"
mkdir -p "$work/pgsql"
"$RG" -c "$work/tables.ini" postfix-config --query-directory "$work/pgsql" > /dev/null 2>&1
ckeys="127.0.0.16 127.0.0.20 127.0.0.21 127.0.0.23 127.0.0.24 127.0.0.15 10.1.2.3 2001:db8::1 ::ffff:127.0.0.21 127.0.0"
skeys="bob@example.com alice@example.com carol@example.net nobody@example.com"
{ for k in $ckeys; do printf 'request=smtpd_access_policy\nclient_address=%s\n\n' "$k"; done
  for k in $skeys; do printf 'request=smtpd_access_policy\nsasl_username=%s\n\n' "$k"; done
} | "$RG" -c "$work/rg.ini" policy --log-file "$work/diff.log" | grep '^action=' | sed 's/^action=//' > "$work/pol.ans"
bad=; i=0
for k in $ckeys $skeys; do
    i=$((i + 1))
    case $k in *@*) t=sasl_access ;; *) t=client_access ;; esac
    v=$(postmap -c "$PF_CONF" -q "$k" "pgsql:$work/pgsql/$t.cf" 2>&1) || v=DUNNO
    p=$(sed -n "${i}p" "$work/pol.ans")
    [ "$v" = "$p" ] || bad+="$k: table '$v', policy '$p'; "
done
[ -z "$bad" ] && [ "$i" = "$(wc -l < "$work/pol.ans")" ]
ok $? "the policy service answers $i logins and addresses as the pgsql: tables do" "$bad"
"$RG" -c "$work/rg.ini" unlock user 127.0.0.16/29 > /dev/null 2>&1

# ---- PostgreSQL down, on_failure = open: mail passes, one warning
pg_stop; ok $? "PostgreSQL stopped"
o=$(alice); grep -q '^SENT' <<<"$o"; ok $? "open: alice is relayed while PostgreSQL is down" "$o"
o=$(bob --count 3); grep -q '^SENT' <<<"$o" && ! grep -q REFUSED <<<"$o"
ok $? "open: locked bob is relayed too while PostgreSQL is down (the price of failing open)" "$o"
n=$(grep -c 'answering DUNNO (on_failure = open)' "$work/policy.log")
p=$(grep 'answering DUNNO (on_failure = open)' "$work/policy.log" | grep -o 'policy\[[0-9]*\]' | sort -u | wc -l)
[ "$n" -ge 1 ] && [ "$n" = "$p" ]; ok $? "open: the outage is logged once by each policy process ($n warning(s), $p process(es), 4 messages)" "$(cat "$work/policy.log")"
pg_restart_start; ok $? "PostgreSQL started again"
until_ok 'REFUSED 450 4\.7\.1' bob; ok $? "bob is refused again once PostgreSQL is back, no reload" "$o"
grep -q 'PostgreSQL answers again after' "$work/policy.log"; ok $? "the end of the outage is logged" "$(tail -2 "$work/policy.log")"

# ---- on_failure = closed: 4xx while PostgreSQL is down
sed -i 's/^policy_service = yes/&\non_failure = closed/' "$work/rg.ini"
"$RG" -c "$work/rg.ini" postfix-config > "$work/pc2.out" 2>&1
grep -q 'default_action=DEFER_IF_PERMIT }' "$work/pc2.out"; ok $? "closed: postfix-config prints default_action=DEFER_IF_PERMIT"
apply "$work/pc2.out"
postfix -c "$PF_CONF" reload > /dev/null 2>&1   # new smtpd processes: new policy processes
until_ok '^SENT' alice; ok $? "closed: alice is relayed while PostgreSQL is up" "$o"
pg_stop
o=$(alice); grep -q '^REFUSED 450 4\.3\.0 .*lock state is unavailable' <<<"$o"
ok $? "closed: alice gets 450 4.3.0 while PostgreSQL is down" "$o"
grep -q 'answering DEFER_IF_PERMIT (on_failure = closed)' "$work/policy.log"; ok $? "closed: logged"
pg_restart_start
until_ok '^SENT' alice; ok $? "closed: alice is relayed again once PostgreSQL is back" "$o"

# ---- the service itself: killed (spawn starts another), absent (default_action)
pids=$(pgrep -f "^$RG -c $work/rg.ini policy" | paste -sd' ')
o="no policy process found to kill"
[ -n "$pids" ] && kill $pids && { o=$(bob); grep -q 'REFUSED 450 4\.7\.1 .*sending locked' <<<"$o"; }
ok $? "a killed policy process is replaced: bob is still refused (killed: $pids)" "$o"
postconf -c "$PF_CONF" -M# rgpolicy/unix
postfix -c "$PF_CONF" reload > /dev/null 2>&1
until_ok '^REFUSED 450 4\.7\.1' alice
ok $? "service absent, default_action=DEFER_IF_PERMIT: 450 4.7.1" "$o"
sed -i '/^on_failure = closed/d' "$work/rg.ini"
lz=$(stat -c %s "$PF_LOG")
"$RG" -c "$work/rg.ini" postfix-config > "$work/pc3.out" 2>&1; apply "$work/pc3.out"
postfix -c "$PF_CONF" reload > /dev/null 2>&1
until_ok '^SENT' bob; ok $? "service absent, default_action=DUNNO: even locked bob is relayed" "$o"
pf_flush_log > /dev/null 2>&1
tail -c +$((lz + 1)) "$PF_LOG" | grep -q 'private/rgpolicy'; ok $? "Postfix logs the service it cannot reach" "$(grep -i policy "$PF_LOG" | tail -2)"
o=$("$RG" -c "$work/rg.ini" check-postfix 2>&1); rc=$?
[ $rc = 1 ] && grep -q 'master.cf has no rgpolicy unix service' <<<"$o"
ok $? "check-postfix names the missing master.cf service (exit $rc)" "$(head -c 300 <<<"$o")"
postconf -c "$PF_CONF" -e "smtpd_recipient_restrictions = check_policy_service unix:private/rgpolicy, check_sender_access pcre:$work/maps/sender_access_pcre, permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination"
o=$("$RG" -c "$work/rg.ini" check-postfix 2>&1)
grep -q 'check_policy_service has no default_action' <<<"$o"; ok $? "check-postfix: a policy service without default_action (451 when it is down)" "$(head -c 300 <<<"$o")"

# ---- the protocol: garbage in, one answer per complete request, no crash
python3 - > "$work/garbage.in" <<'PY'
import sys, random
o = sys.stdout.buffer
R = b'request=smtpd_access_policy\n'
o.write(R + b'sasl_username=bob@example.com\n' + b'x' * 10000 + b'\nsender=a@b\n\n')  # 1: 450
o.write(R + b'sasl_username=' + b'b' * 9000 + b'\n\n')                             # 2: DUNNO
o.write(R + b'sasl_username=bob@example.com\x00evil\n\n')                          # 3: DUNNO
o.write(R + b'sasl_username=bob@example.com\nsender=\xff\xfe@x\n\n')               # 4: 450
o.write(R + b"client_address=x'; DROP TABLE rg_map; --\nsender=\"q\\\"{,}\"@x\n\n") # 5: DUNNO
o.write(b'garbage line\nno equals\n\n')                                            # 6: DUNNO
o.write(b'\n\n\n')                                                                 # nothing
o.write(R + b'sasl_username=BOB@example.com\r\n\r\n')                             # 7: 450
o.write(b'=' * 5000 + b'\n\n')                                                     # 8: DUNNO
o.write(R + b'client_address=1.2.3\nrecipient=\nsender=\n\n')                     # 9: DUNNO
random.seed(7)
for i in range(300):                                                               # 10..309
    o.write(R)
    for j in range(random.randint(0, 6)):
        k = random.choice([b'sasl_username', b'sender', b'client_address', b'recipient', b'x', b''])
        v = bytes(random.choice([0, 10, 13, 0x22, 0x27, 0x5c, 0x7b, 0xc3, 0xff, 0x40, 0x41, 0x2e])
                  for _ in range(random.randint(0, 40)))
        o.write(k + b'=' + v.replace(b'\n', b'') + b'\n')
    o.write(b'\n')
o.write(R + b'sasl_username=bob@example.com\n')                                    # cut short: none
PY
"$RG" -c "$work/rg.ini" policy --log-file "$work/garbage.log" < "$work/garbage.in" > "$work/garbage.out"; rc=$?
n=$(grep -c '^action=' "$work/garbage.out"); bad=$(grep -v -e '^action=' -e '^$' "$work/garbage.out" | head -3)
first=$(grep '^action=' "$work/garbage.out" | head -9 | cut -c1-10 | paste -sd' ')
[ $rc = 0 ] && [ -z "$bad" ] && [ "$first" = "action=450 action=DUN action=DUN action=450 action=DUN action=DUN action=450 action=DUN action=DUN" ]
ok $? "malformed requests: bounded lines, NUL, invalid UTF-8, junk; a lock still holds (exit $rc)" "$first $bad"
# the random requests are cut where a value held a newline: count the
# complete requests as the reader sees them (blocks ended by an empty line)
want=$(python3 -c '
import sys
d = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n")
n = 0
for b in d.split(b"\n\n"):
    if b.strip(b"\n"):
        n += 1
print(n - 1)' "$work/garbage.in")
[ "$n" = "$want" ]; ok $? "one answer per complete request ($n of $want), none for the request cut short"
[ "$(pg_sql relayguard "SELECT count(*) FROM rg_map WHERE map = 'sasl_access'")" -ge 1 ]; ok $? "rg_map intact after the injection attempt"

# ---- a server that takes the connection and never answers: each request
#      is answered within query_timeout (2s), the next at once (no new try
#      within a second), never a hang
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True); time.sleep(300)' > "$work/silent.port" &
silent=$!
for _ in $(seq 1 100); do [ -s "$work/silent.port" ] && break; sleep 0.05; done
sed -e "s|^host = .*|host = 127.0.0.1|" -e "s|^port = .*|port = $(cat "$work/silent.port")|" "$work/rg.ini" > "$work/silent.ini"
one='request=smtpd_access_policy\nsasl_username=bob@example.com\n\n'
run_silent() {  # run_silent N: N requests; sets ms, rc
    local t0 n
    t0=$(date +%s%N)
    for n in $(seq 1 "$1"); do printf "$one"; done \
        | timeout 30 "$RG" -c "$work/silent.ini" policy --log-file "$work/silent.log" > "$work/silent.out"; rc=$?
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
}
run_silent 1; ms1=$ms; rc1=$rc
run_silent 3; ms3=$ms
kill "$silent" 2> /dev/null
[ $rc1 = 0 ] && [ $rc = 0 ] && [ "$(grep -c '^action=DUNNO$' "$work/silent.out")" = 3 ] && [ $ms1 -ge 2000 ] \
    && [ $((ms3 - ms1)) -lt 1000 ] && grep -q 'no answer in \[pgsql\] query_timeout' "$work/silent.log"
ok $? "a server that never answers: DUNNO after query_timeout ($ms1 ms), the next ones at once (3 requests: $ms3 ms)" "$(cat "$work/silent.out" "$work/silent.log")"
exit 0
