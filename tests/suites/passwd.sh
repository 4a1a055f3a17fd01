#!/bin/bash
# passwd.sh - `relayguard passwd user NAME` against the real Dovecot of the
# test harness, read through the passdb `relayguard dovecot-config` prints,
# with Dovecot's auth cache on: the set password logs in (SMTP AUTH through
# the test Postfix), a wrong one is refused, a changed one takes effect at
# once and the old one stops working (the cache entry is flushed when the
# cache is on; Dovecot does not cache a passwd-file passdb whose path has no
# %variables, so that step is checked by auth_cache=flushed), and a
# locked user still logs in but is refused at RCPT with the lock's reason.
# Live, a `type = domain` user with match_sender_domain = yes: it logs in as
# the domain name, and once locked both its login and its domain as any
# client's envelope sender are refused at RCPT.
set -u
top=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
suite=passwd
RG0=${RELAYGUARD:-$top/build/relayguard}
[ -x "$RG0" ] || { echo "FAIL: $suite: no relayguard binary at $RG0"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: $suite: needs root to run a private Postfix"; exit 0; }
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/wire.sh"
work=$(mktemp -d /tmp/rg-passwd.XXXXXX); chmod 755 "$work"
cp "$RG0" "$work/relayguard"; RG=$work/relayguard
cleanup() { pf_stop; [ "${RG_KEEP:-0}" = 1 ] && echo "kept $work" >&2 || rm -rf "$work"; }
trap cleanup EXIT
trap "exit 130" INT TERM HUP
ok() { if [ "$1" = 0 ]; then echo "PASS: $suite: $2"; else echo "FAIL: $suite: $2${3:+: $3}"; fi; }

pf_start "$work/pf" 2> "$work/pf.err" || { cat "$work/pf.err"; echo "FAIL: $suite: Postfix did not start"; exit 1; }
dv=$PF_DIR/dovecot
mkdir -p "$work/dovecot"
cat > "$work/rg.ini" <<INI
[global]
database = $work/rg.db
map_directory = $work/maps
postfix_config_directory = $PF_CONF
admin_contact = abuse@example.org
dovecot_passwd_file = $work/dovecot/relayguard.passwd
dovecot_config_file = $dv/dovecot.conf
[source postfix]
path = $PF_LOG
[user "alice@example.com"]
[user "bob@example.com"]
[user "127.0.0.10/31"]
type = ip
[user "customer.example"]
type = domain
match_sender_domain = yes
INI
"$RG" -c "$work/rg.ini" init > /dev/null 2>&1; "$RG" -c "$work/rg.ini" analyze > /dev/null 2>&1
rg_wire_postfix "$RG" "$work/rg.ini" "$work"; ok $? "Postfix takes postfix-config's lines"

# Dovecot reads relayguard's file through exactly the printed passdb, with
# the auth cache on
"$RG" -c "$work/rg.ini" dovecot-config > "$work/passdb.conf"; ok $? "dovecot-config prints the passdb"
python3 - "$dv/dovecot.conf" "$work/passdb.conf" <<'PY'
import re, sys
conf, passdb = sys.argv[1], open(sys.argv[2]).read()
s = open(conf).read()
s = re.sub(r"passdb \{.*?\n\}\n", lambda m: passdb, s, count=1, flags=re.S)
s += "auth_cache_size = 1M\nauth_cache_ttl = 1h\nauth_cache_negative_ttl = 0\n"
open(conf, "w").write(s)
PY
doveadm -c "$dv/dovecot.conf" reload > /dev/null 2>&1; ok $? "Dovecot reloads with the printed passdb"
# wait until the reloaded auth service answers (a lookup, whatever it says)
for _ in $(seq 50); do doveadm -c "$dv/dovecot.conf" auth test nobody x > /dev/null 2>&1; [ $? -le 77 ] && break; sleep 0.2; done

send() { /usr/bin/python3 "$top/tests/lib/send.py" --port "$PF_PORT" "$@" 2>&1; }
# setpw USER PASSWORD: relayguard passwd. Dovecot stats a passwd-file at
# most once per wall-clock second (at a lookup), so a change is seen by the
# first lookup in a later second than the write: wait for that second.
setpw() {
    printf '%s\n' "$2" | "$RG" -c "$work/rg.ini" passwd user "$1" > "$work/setpw.out" 2>&1
    local rc=$? done_at
    done_at=$(date +%s)
    while [ "$(date +%s)" -le "$done_at" ]; do sleep 0.05; done
    return $rc
}
setpw alice@example.com first-Secret-1; rc=$?; cp "$work/setpw.out" "$work/p1.out"
ok $rc "passwd user from standard input, and Dovecot takes it" "$(cat "$work/p1.out")"
grep -q 'auth_cache=flushed' "$work/p1.out"; ok $? "the auth cache is seen on and flushed" "$(cat "$work/p1.out")"
f=$work/dovecot/relayguard.passwd
grep -q '^alice@example.com:{SHA512-CRYPT}\$6\$[./0-9A-Za-z]\{16\}\$[./0-9A-Za-z]\{86\}$' "$f"
ok $? "the file holds a crypt(3) SHA-512 hash, not the password" "$(cat "$f")"
! grep -q 'first-Secret-1' "$f" "$work/p1.out"; ok $? "the password is neither stored nor printed"
[ "$(stat -c '%a %U %G' "$f")" = "640 root dovecot" ]; ok $? "root:dovecot 0640" "$(stat -c '%a %U %G' "$f")"
out=$(send --auth alice@example.com:first-Secret-1 --sender alice@example.com --to dave@example.org)
grep -q '^SENT' <<<"$out"; ok $? "the set password logs in and relays" "$out"
out=$(send --auth alice@example.com:wrong-Secret --sender alice@example.com --to dave@example.org)
grep -q 'REFUSED 535 .*stage=AUTH' <<<"$out"; ok $? "a wrong password is refused" "$out"
out=$(send --auth alice@example.com:alice-pw --sender alice@example.com --to dave@example.org)
grep -q 'REFUSED 535 .*stage=AUTH' <<<"$out"; ok $? "the harness's old PLAIN password is not read any more" "$out"

# a second user: the first one's line is kept
setpw bob@example.com bob-Secret-1
[ "$(grep -c '' "$f")" = 2 ] && grep -q '^alice@' "$f"; ok $? "another user's line is kept" "$(cat "$f")"

# change: the new one works at once, the old one (cached) does not
setpw alice@example.com second-Secret-2
out=$(send --auth alice@example.com:second-Secret-2 --sender alice@example.com --to dave@example.org)
grep -q '^SENT' <<<"$out"; ok $? "a changed password takes effect without a restart" "$out"
out=$(send --auth alice@example.com:first-Secret-1 --sender alice@example.com --to dave@example.org)
grep -q 'REFUSED 535 .*stage=AUTH' <<<"$out"; ok $? "the old password is refused at once" "$out"
out=$(send --auth bob@example.com:bob-Secret-1 --sender bob@example.com --to dave@example.org)
grep -q '^SENT' <<<"$out"; ok $? "the other user still logs in" "$out"

# a locked user still authenticates, and is refused at RCPT with the reason
"$RG" -c "$work/rg.ini" lock user alice@example.com --reason "passwd test" > /dev/null 2>&1
out=$(send --auth alice@example.com:second-Secret-2 --sender alice@example.com --to dave@example.org)
! grep -q 'stage=AUTH' <<<"$out" && grep -q 'REFUSED 450 4\.7\.1 .*sending locked.*rcpt=dave@example.org' <<<"$out"
ok $? "a locked user logs in but is refused at RCPT" "$out"

# live: a domain user logging in as its domain name, with
# match_sender_domain = yes: locked, its login is refused at RCPT, and so is
# its domain as the envelope sender of an IP user; other senders relay
setpw customer.example domain-Secret-1
out=$(send --auth customer.example:domain-Secret-1 --sender news@customer.example --to dave@example.org)
grep -q '^SENT' <<<"$out"; ok $? "a domain user logs in as its domain name" "$out"
"$RG" -c "$work/rg.ini" lock user customer.example --reason "domain test" > /dev/null 2>&1
out=$(send --auth customer.example:domain-Secret-1 --sender news@customer.example --to dave@example.org)
grep -q 'REFUSED 450 4\.7\.1 .*sending locked.*rcpt=' <<<"$out"; ok $? "a locked domain user is refused at RCPT" "$out"
out=$(send --from-ip 127.0.0.10 --sender shop@customer.example --to dave@example.org)
grep -q 'REFUSED 450 4\.7\.1 .*sending locked' <<<"$out"; ok $? "match_sender_domain: the locked domain as an IP user's sender is refused" "$out"
out=$(send --from-ip 127.0.0.10 --sender shop@other.example --to dave@example.org)
grep -q '^SENT' <<<"$out"; ok $? "another sender of that IP user relays" "$out"

# refusals
printf 'x-Secret\n' | "$RG" -c "$work/rg.ini" passwd user 127.0.0.10/31 > /dev/null 2>&1; rc=$?
[ $rc = 64 ]; ok $? "an IP user gets no password (exit 64)" "exit $rc"
printf 'x-Secret\n' | "$RG" -c "$work/rg.ini" passwd user nobody@example.com > /dev/null 2>&1; rc=$?
[ $rc = 64 ]; ok $? "an unknown user is refused (exit 64)" "exit $rc"
printf '\n' | "$RG" -c "$work/rg.ini" passwd user bob@example.com > /dev/null 2>&1; rc=$?
[ $rc = 65 ] && grep -q '^bob@' "$f"; ok $? "an empty password is refused and changes nothing (exit 65)" "exit $rc"
sed "s|^dovecot_passwd_file = .*|dovecot_passwd_file = $work/maps/passwd|" "$work/rg.ini" > "$work/bad.ini"
printf 'x-Secret\n' | "$RG" -c "$work/bad.ini" passwd user bob@example.com > /dev/null 2>&1; rc=$?
[ $rc = 78 ] && [ ! -e "$work/maps/passwd" ]; ok $? "a passwd file inside map_directory is refused (exit 78)" "exit $rc"
