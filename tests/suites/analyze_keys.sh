#!/bin/bash
# analyze_keys.sh - identity keys as Postfix looks them up, against a real
# Postfix (smtputf8_enable = yes) and rspamd: senders that differ only in
# (non-ASCII) case are one identity and one map key, so postmap never sees a
# duplicate and every later map is still written; senders no hash key can
# hold ("a b"@x, #x@y) are locked through the pcre sender map and really
# refused; a header value with invalid UTF-8 (logged with '?') is refused;
# an identity no map can hold is not locked by hand and `users` says so; a
# map that cannot be written keeps no other map back.
set -u
top=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
suite=analyze_keys
RG0=${RELAYGUARD:-$top/build/relayguard}
[ -x "$RG0" ] || { echo "FAIL: $suite: no relayguard binary at $RG0"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: $suite: needs root to run a private Postfix"; exit 0; }
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/wire.sh"
. "$top/tests/lib/rspamd.sh"
work=$(mktemp -d /tmp/rg-akeys.XXXXXX); chmod 755 "$work"
cp "$RG0" "$work/relayguard"; RG=$work/relayguard
cleanup() { pf_stop; rs_stop; [ "${RG_KEEP:-0}" = 1 ] && echo "kept $work" >&2 || rm -rf "$work"; }
trap cleanup EXIT
trap "exit 130" INT TERM HUP
ok() { if [ "$1" = 0 ]; then echo "PASS: $suite: $2"; else echo "FAIL: $suite: $2${3:+: $3}"; fi; }
send() { /usr/bin/python3 "$top/tests/lib/send.py" --port "$PF_PORT" "$@" 2>&1; }
GTUBE='XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'
# collect and analyze what was sent; the analyze output in $work/$1.out
settle_analyze() {
    pf_wait_settled >/dev/null 2>&1; pf_flush_log >/dev/null 2>&1
    "$RG" -c "$work/rg.ini" collect --once --quiet
    "$RG" -c "$work/rg.ini" analyze > "$work/$1.out" 2>&1
    echo $? > "$work/$1.rc"
    sleep 1    # pcre maps: Postfix reloads (asynchronously)
}

rs_start "$work/rs" 2> "$work/rs.err" || { cat "$work/rs.err"; echo "FAIL: $suite: rspamd did not start"; exit 1; }
PF_EXTRA_MAIN="smtputf8_enable = yes" PF_MYNETWORKS="127.0.0.30/31" \
    PF_MILTER=inet:127.0.0.1:$RS_PORT pf_start "$work/pf" 2> "$work/pf.err" \
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
spam_lock_threshold = 2
lock_timeout = 1h
[user "127.0.0.30"]
type = ip
auto_lock = no
identification = envelope_sender
[user "127.0.0.31"]
type = ip
auto_lock = no
identification = header
identity_headers = X-Client-ID
INI
"$RG" -c "$work/rg.ini" init > "$work/a0.out" 2>&1 && "$RG" -c "$work/rg.ini" analyze >> "$work/a0.out" 2>&1; ok $? "init and a first analyze write every (empty) map" "$(head -c 300 "$work/a0.out")"
rg_wire_postfix "$RG" "$work/rg.ini" "$work"; ok $? "Postfix takes postfix-config's lines"
"$RG" -c "$work/rg.ini" check-postfix > "$work/cp.out" 2>&1; ok $? "check-postfix is satisfied (sender_access_pcre listed)" "$(head -c 300 "$work/cp.out")"
[ "$(postconf -c "$PF_CONF" -h smtputf8_enable)" = yes ]; ok $? "the test Postfix has smtputf8_enable = yes"

# 1. senders that differ only in case (ASCII and not) are one identity:
# two spam each (enough to lock each alone, which gave postmap a duplicate
# key and stopped every later map), one rotation each
for s in 'Äbc@evil.example' 'äbc@evil.example' 'Äbc@evil.example' 'äbc@evil.example'; do
    out=$(send --from-ip 127.0.0.30 --smtputf8 --sender "$s" --to lee@example.org --body "$GTUBE")
    grep -q 'REFUSED 554 5.7.1 Gtube' <<<"$out" || echo "FAIL: $suite: GTUBE from $s was not refused by rspamd: $out"
done
for s in 'spam@rot.example' 'Spam@rot.example'; do
    out=$(send --from-ip 127.0.0.30 --sender "$s" --to lee@example.org --body "$GTUBE")
    grep -q 'REFUSED 554 5.7.1 Gtube' <<<"$out" || echo "FAIL: $suite: GTUBE from $s was not refused by rspamd: $out"
done
# 2. senders no hash key can hold, and a header value with invalid UTF-8
for s in '"a b"@odd.example' '#spam@odd.example'; do
    for i in 1 2; do send --from-ip 127.0.0.30 --sender "$s" --to lee@example.org --body "$GTUBE" > /dev/null; done
done
for i in 1 2; do
    send --from-ip 127.0.0.31 --sender app@web.example --to lee@example.org --raw-header 'X-Client-ID: tenant-\xff\xfeA' --body "$GTUBE" > /dev/null
done
settle_analyze a1
ok "$(cat "$work/a1.rc")" "analyze exits 0: no duplicate key, no skipped entry" "$(grep -v '^action=lock' "$work/a1.out" | head -c 600)"
! grep -q 'action=skip\|action=alert' "$work/a1.out"; ok $? "no entry is skipped" "$(grep 'action=skip\|action=alert' "$work/a1.out" | head -c 400)"
grep -q 'action=lock kind=identity user="127.0.0.30" identity="äbc@evil.example" rule=spam ' "$work/a1.out" \
    && ! grep -q 'identity="Äbc@evil.example"' "$work/a1.out"
ok $? "Äbc@ and äbc@ count as one identity (Postfix folds them into one key)" "$(grep action=lock "$work/a1.out" | head -c 600)"
grep -q 'action=lock kind=identity user="127.0.0.30" identity="spam@rot.example" rule=spam .*count=2 ' "$work/a1.out"
ok $? "case-rotated spam@ and Spam@ count as one identity" "$(grep action=lock "$work/a1.out" | head -c 600)"
for s in 'Äbc@evil.example' 'äbc@evil.example' 'ÄBC@evil.example'; do
    out=$(send --from-ip 127.0.0.30 --smtputf8 --sender "$s" --to lee@example.org)
    grep -q 'REFUSED 450 4\.7\.1 .*sending locked: spam' <<<"$out"; ok $? "Postfix refuses the locked identity as $s" "$out"
done
out=$(send --from-ip 127.0.0.30 --sender 'sPAM@rot.example' --to lee@example.org)
grep -q 'REFUSED 450 4\.7\.1 .*sending locked: spam' <<<"$out"; ok $? "Postfix refuses the next case variant sPAM@" "$out"
out=$(send --from-ip 127.0.0.30 --smtputf8 --sender 'öbc@evil.example' --to lee@example.org)
grep -q '^SENT' <<<"$out"; ok $? "another non-ASCII sender of the same user still relays" "$out"
for s in '"a b"@odd.example' '#spam@odd.example'; do
    grep -q "action=lock kind=identity user=\"127.0.0.30\" identity=\"$s\" rule=spam" "$work/a1.out" 2>/dev/null \
        || grep -qF "identity=\"${s//\"/\\\"}\"" "$work/a1.out"
    ok $? "$s is locked" "$(grep action=lock "$work/a1.out" | head -c 600)"
    out=$(send --from-ip 127.0.0.30 --sender "$s" --to lee@example.org)
    grep -q 'REFUSED 450 4\.7\.1 .*sending locked: spam' <<<"$out"; ok $? "Postfix refuses $s (its class's pcre table)" "$out"
done
out=$(send --from-ip 127.0.0.30 --sender '"a c"@odd.example' --to lee@example.org)
grep -q '^SENT' <<<"$out"; ok $? "a near miss (\"a c\"@odd.example) still relays" "$out"
grep -q 'action=lock kind=identity user="127.0.0.31" identity="tenant-??A" rule=spam' "$work/a1.out"
ok $? "the header value with invalid UTF-8 is locked as logged (tenant-??A)" "$(grep action=lock "$work/a1.out" | head -c 600)"
out=$(send --from-ip 127.0.0.31 --sender app@web.example --to lee@example.org --raw-header 'X-Client-ID: tenant-\xff\xfeA')
grep -q 'REFUSED 451 4\.7\.1 .*sending locked' <<<"$out"; ok $? "Postfix refuses the header with the same invalid bytes" "$out"
out=$(send --from-ip 127.0.0.31 --sender app@web.example --to lee@example.org --raw-header 'X-Client-ID: tenant-\xff\xfeB')
grep -q '^SENT' <<<"$out"; ok $? "another header value still relays" "$out"
"$RG" -c "$work/rg.ini" users > "$work/users1.out" 2>&1
! grep -q 'not enforceable' "$work/users1.out"; ok $? "users shows every lock as enforced" "$(grep 'not enforceable' "$work/users1.out" | head -c 300)"

# 3. every later map still updates: a manual header lock after the above
"$RG" -c "$work/rg.ini" lock identity '127.0.0.31/tenant-9' --reason "later map" > "$work/l3.out" 2>&1
ok $? "a later lock is written" "$(cat "$work/l3.out")"
sleep 1
out=$(send --from-ip 127.0.0.31 --sender app@web.example --to lee@example.org --header 'X-Client-ID: tenant-9')
grep -q 'REFUSED 451 4\.7\.1 .*sending locked' <<<"$out"; ok $? "the later header_checks lock is enforced by Postfix" "$out"

# 4. a manual identity lock: folded like a counted one; never unenforceable
"$RG" -c "$work/rg.ini" lock identity '127.0.0.30/"Q R"@Odd.example' --reason "manual" > "$work/l4.out" 2>&1
ok $? "lock a quoted sender by hand" "$(cat "$work/l4.out")"
sleep 1
out=$(send --from-ip 127.0.0.30 --sender '"q r"@odd.example' --to lee@example.org)
grep -q 'REFUSED 450 4\.7\.1 .*sending locked: by the administrator' <<<"$out"; ok $? "Postfix refuses it in any case" "$out"
"$RG" -c "$work/rg.ini" lock identity "127.0.0.30/bad$(printf '\001')x@odd.example" --reason "manual" > "$work/l5.out" 2>&1; rc=$?
[ $rc != 0 ] && grep -q 'not enforceable' "$work/l5.out"; ok $? "lock refuses an identity no map can hold (exit $rc)" "$(cat -v "$work/l5.out")"
! sqlite3 "$work/rg.db" "SELECT identity FROM locks" | grep -q "^bad"; ok $? "and stores no lock for it"
# a lock stored by an older version (or by hand) that no map can hold
sqlite3 "$work/rg.db" "INSERT INTO locks (kind, user, identity, method, reason, since, automatic) SELECT kind, user, 'ctl' || char(1) || 'x@odd.example', method, reason, since, automatic FROM locks WHERE user = '127.0.0.30' LIMIT 1" 2> "$work/ins.err"
ok $? "a stored lock with a control character (setup)" "$(cat "$work/ins.err")"
"$RG" -c "$work/rg.ini" users > "$work/users2.out" 2>&1
grep 'ctl' "$work/users2.out" | grep -q 'not enforceable'; ok $? "users says such a lock is not enforceable" "$(grep ctl "$work/users2.out" | cat -v)"
"$RG" -c "$work/rg.ini" analyze > "$work/a5.out" 2>&1; rc=$?
[ $rc = 0 ] && grep -q 'action=alert kind=map map=sender-pcre rule=bad_entry result=skipped' "$work/a5.out"
ok $? "analyze skips that one entry with an alert and exits 0" "rc=$rc $(cat -v "$work/a5.out" | head -c 400)"
sqlite3 "$work/rg.db" "DELETE FROM locks WHERE identity LIKE 'ctl%'"

# 5. one map that cannot be written keeps no other back: exit 75
# (127.0.0.30's envelope-sender locks are in its restriction class's table)
mkdir "$work/maps/rg_senders_0.new"; touch "$work/maps/rg_senders_0.new/x"   # a stale .new that cannot be removed
"$RG" -c "$work/rg.ini" lock identity '127.0.0.30/blocked@odd.example' --reason "map blocked" > "$work/l6.out" 2>&1; rc=$?
[ $rc = 75 ] && grep -q 'action=alert kind=map name=rg_senders rule=write_failed' "$work/l6.out"
ok $? "a map that cannot be written is an alert, exit 75" "rc=$rc $(head -c 400 "$work/l6.out")"
"$RG" -c "$work/rg.ini" unlock identity '127.0.0.31/tenant-9' > "$work/u6.out" 2>&1; rc=$?
[ $rc = 75 ] && grep -q 'action=map name=header_checks' "$work/u6.out"
ok $? "the next change is still written to the other maps, and says the class table is not (exit $rc)" "$(head -c 400 "$work/u6.out")"
sleep 1
out=$(send --from-ip 127.0.0.31 --sender app@web.example --to lee@example.org --header 'X-Client-ID: tenant-9')
grep -q '^SENT' <<<"$out"; ok $? "Postfix has the header_checks change (tenant-9 unlocked)" "$out"
"$RG" -c "$work/rg.ini" analyze > "$work/a6.out" 2>&1; rc=$?
[ $rc = 75 ]; ok $? "every run says so while it lasts (exit $rc)"
rm -rf "$work/maps/rg_senders_0.new"
"$RG" -c "$work/rg.ini" analyze > "$work/a7.out" 2>&1; ok $? "and exits 0 once the map can be written" "$(head -c 300 "$work/a7.out")"
out=$(send --from-ip 127.0.0.30 --sender blocked@odd.example --to lee@example.org)
grep -q 'REFUSED 450 4\.7\.1' <<<"$out"; ok $? "then the held-back lock is enforced" "$out"
exit 0
