#!/bin/bash
# analyze.sh - the analyzer against a real Postfix: the maps it writes are
# wired in with exactly what `relayguard postfix-config` prints, and every
# check is what Postfix really answered a client.
set -u
top=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
suite=analyze
RG0=${RELAYGUARD:-$top/build/relayguard}
[ -x "$RG0" ] || { echo "FAIL: $suite: no relayguard binary at $RG0"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: $suite: needs root to run a private Postfix"; exit 0; }
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/wire.sh"
. "$top/tests/lib/rspamd.sh"
work=$(mktemp -d /tmp/rg-analyze.XXXXXX); chmod 755 "$work"
cp "$RG0" "$work/relayguard"; RG=$work/relayguard
cleanup() { pf_stop; rs_stop; [ "${RG_KEEP:-0}" = 1 ] && echo "kept $work" >&2 || rm -rf "$work"; }
trap cleanup EXIT
trap "exit 130" INT TERM HUP
ok() { if [ "$1" = 0 ]; then echo "PASS: $suite: $2"; else echo "FAIL: $suite: $2${3:+: $3}"; fi; }

# a real content filter: rspamd as a milter (GTUBE gives a spam reject)
rs_start "$work/rs" 2> "$work/rs.err" || { cat "$work/rs.err"; echo "FAIL: $suite: rspamd did not start"; exit 1; }
PF_MYNETWORKS="127.0.0.10/31 127.0.0.20/32 127.0.0.22/32" PF_MILTER=inet:127.0.0.1:$RS_PORT pf_start "$work/pf" 2> "$work/pf.err" || { cat "$work/pf.err"; echo "FAIL: $suite: Postfix did not start"; exit 1; }
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
[user "alice@example.com"]
[user "bob@example.com"]
max_days_to_retry = 2
[user "carol@example.net"]
[user "127.0.0.10/31"]
type = ip
archive = yes
archive_address = archive@example.org
[user "127.0.0.20"]
type = ip
auto_lock = no
identification = header
identity_headers = X-Client-ID
[user "127.0.0.22"]
type = ip
quarantine_response = accepted
[identity_header "X-Client-ID"]
regex = ^tenant-([0-9]+)
INI
"$RG" -c "$work/rg.ini" check-config > /dev/null; ok $? "the test configuration is valid"
"$RG" -c "$work/rg.ini" init > /dev/null; ok $? "init creates the database and the map directory"
"$RG" -c "$work/rg.ini" analyze > "$work/a0.out" 2>&1; rc=$?
ok $rc "a first analyze writes every (empty) map" "$(head -c 300 "$work/a0.out")"
for m in sasl_access sender_access client_access header_checks header_static admin_access sender_bcc; do
    [ -f "$work/maps/$m" ] || echo "FAIL: $suite: map $m missing"
done
"$RG" -c "$work/rg.ini" check-postfix > "$work/cp0.out" 2>&1; rc=$?
[ $rc = 1 ] && grep -q 'does not list .*sasl_access' "$work/cp0.out"; ok $? "check-postfix finds the maps missing before wiring (exit $rc)" "$(head -c 200 "$work/cp0.out")"
# wire it in with exactly the lines postfix-config prints
rg_wire_postfix "$RG" "$work/rg.ini" "$work"; ok $? "Postfix takes postfix-config's lines"
send() { /usr/bin/python3 "$top/tests/lib/send.py" --port "$PF_PORT" "$@" 2>&1; }
"$RG" -c "$work/rg.ini" check-postfix > "$work/cp1.out" 2>&1; ok $? "check-postfix is satisfied with postfix-config's lines" "$(head -c 300 "$work/cp1.out")"
# a fresh session each time: Postfix re-reads a changed map at its next connection
out=$(send --auth alice@example.com:alice-pw --sender alice@example.com --to dave@example.org)
grep -q '^SENT' <<<"$out"; ok $? "before any lock alice relays" "$out"
# a message of bob's that the next hop defers (for max_days_to_retry below)
out=$(send --auth bob@example.com:bob-pw --sender bob@example.com --to later@defer.example.org)
deferred_qid=$(sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' <<<"$out")

# 1. a manual lock: Postfix refuses alice with the 4.7.1 text; others pass
"$RG" -c "$work/rg.ini" lock user alice@example.com --reason "test lock" > "$work/l1.out" 2>&1; ok $? "lock user" "$(cat "$work/l1.out")"
out=$(send --auth alice@example.com:alice-pw --sender alice@example.com --to dave@example.org)
grep -q 'REFUSED 450 4\.7\.1 .*sending locked' <<<"$out"; ok $? "a locked SASL user is refused 450 4.7.1 by Postfix" "$out"
out=$(send --auth bob@example.com:bob-pw --sender bob@example.com --to dave@example.org)
grep -q '^SENT' <<<"$out"; ok $? "another user still relays" "$out"
out=$(send --auth alice@example.com:alice-pw --sender alice@example.com --to abuse@example.org)
grep -q '^SENT' <<<"$out"; ok $? "the locked user still reaches the admin contact" "$out"
"$RG" -c "$work/rg.ini" users --json > "$work/users.json"
grep -q '"user":"alice@example.com".*"reason":"manual"' "$work/users.json"; ok $? "users shows the lock"

# 2. unlock: accepted again
"$RG" -c "$work/rg.ini" unlock user alice@example.com > /dev/null 2>&1
out=$(send --auth alice@example.com:alice-pw --sender alice@example.com --to dave@example.org)
grep -q '^SENT' <<<"$out"; ok $? "after unlock alice relays again" "$out"

# 3. an IP user in a CIDR: refused through check_client_access (a cidr map: reload)
"$RG" -c "$work/rg.ini" lock user 127.0.0.10/31 --reason "test" --for 1h > "$work/l3.out" 2>&1
grep -q 'action=reload' "$work/l3.out"; ok $? "a changed cidr map reloads Postfix" "$(cat "$work/l3.out")"
sleep 1
out=$(send --from-ip 127.0.0.11 --sender app@tenant7.example --to lee@example.org)
grep -q 'REFUSED 450 4\.7\.1 .*sending locked' <<<"$out"; ok $? "a locked IP user is refused by check_client_access" "$out"
out=$(send --from-ip 127.0.0.20 --sender app@other.example --to lee@example.org)
grep -q '^SENT' <<<"$out"; ok $? "another IP still relays" "$out"
"$RG" -c "$work/rg.ini" unlock user 127.0.0.10/31 > /dev/null 2>&1; sleep 1
out=$(send --from-ip 127.0.0.11 --sender app@tenant7.example --to lee@example.org)
grep -q '^SENT' <<<"$out"; ok $? "after unlock the IP user relays again" "$out"

# 4. a timed lock expires by itself (analyze --now after its end)
"$RG" -c "$work/rg.ini" lock user bob@example.com --reason "short" --for 10m > /dev/null 2>&1
out=$(send --auth bob@example.com:bob-pw --sender bob@example.com --to dave@example.org)
grep -q 'REFUSED 450' <<<"$out"; ok $? "a timed lock refuses" "$out"
later=$(date -u -d '+11 minutes' +%Y-%m-%dT%H:%M:%SZ)
"$RG" -c "$work/rg.ini" analyze --now "$later" > "$work/a4.out" 2>&1
grep -q 'action=unlock kind=user user="bob@example.com" rule=timeout' "$work/a4.out"; ok $? "analyze ends it at its time" "$(head -c 300 "$work/a4.out")"
out=$(send --auth bob@example.com:bob-pw --sender bob@example.com --to dave@example.org)
grep -q '^SENT' <<<"$out"; ok $? "after the timeout Postfix accepts again" "$out"

# 5. spam from a real content filter locks the SASL user: GTUBE twice
GTUBE='XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'
for i in 1 2; do
    out=$(send --auth alice@example.com:alice-pw --sender alice@example.com --to dave@example.org --body "$GTUBE")
    grep -q 'REFUSED 554 5.7.1 Gtube' <<<"$out" || echo "FAIL: $suite: GTUBE $i was not refused by rspamd: $out"
done
# a client-written X-Spam-Flag from bob does not count
for i in 1 2 3; do send --auth bob@example.com:bob-pw --sender bob@example.com --to dave@example.org --header "X-Spam-Flag: YES" > /dev/null; done
pf_wait_settled >/dev/null 2>&1; pf_flush_log >/dev/null 2>&1; sleep 1
"$RG" -c "$work/rg.ini" collect --once --quiet; ok $? "collect the Postfix and rspamd logs"
"$RG" -c "$work/rg.ini" analyze > "$work/a5.out" 2>&1
grep -q 'action=lock kind=user user="alice@example.com" rule=spam' "$work/a5.out"; ok $? "2 spam from rspamd lock alice" "$(grep action= "$work/a5.out" | head -c 400)"
! grep -q 'user="bob@example.com" rule=spam' "$work/a5.out"; ok $? "a client-written X-Spam-Flag does not lock bob"
out=$(send --auth alice@example.com:alice-pw --sender alice@example.com --to dave@example.org)
grep -q 'REFUSED 450 4\.7\.1 .*sending locked: spam, until' <<<"$out"; ok $? "Postfix refuses the spam-locked user, saying why and until when" "$out"
out=$(send --auth bob@example.com:bob-pw --sender bob@example.com --to dave@example.org)
grep -q '^SENT' <<<"$out"; ok $? "bob still relays" "$out"
"$RG" -c "$work/rg.ini" users --json | grep '"user":"alice@example.com"' > "$work/users5.json"
grep -q '"counts":{"spam":2,"spam_threshold":2,' "$work/users5.json"; ok $? "users counts alice's spam against her threshold" "$(cat "$work/users5.json")"
"$RG" -c "$work/rg.ini" explain user alice@example.com > "$work/explain.out" 2>&1
grep -q 'lock: user reason=spam' "$work/explain.out" && [ "$(grep -c 'source=rspamd' "$work/explain.out")" -ge 2 ]
ok $? "explain shows the lock and the rspamd verdicts behind it" "$(head -c 400 "$work/explain.out")"
out=$(send --auth alice@example.com:alice-pw --sender alice@example.com --to abuse@example.org)
grep -q '^SENT' <<<"$out"; ok $? "alice still reaches the admin contact" "$out"

# 6. a header identity (regex capture) locks alone, through header_checks
for i in 1 2; do
    send --from-ip 127.0.0.20 --sender app@web.example --to lee@example.org --header "X-Client-ID: tenant-7/app$i" --body "$GTUBE" > /dev/null
done
pf_wait_settled >/dev/null 2>&1; pf_flush_log >/dev/null 2>&1; sleep 1
"$RG" -c "$work/rg.ini" collect --once --quiet
"$RG" -c "$work/rg.ini" analyze > "$work/a6.out" 2>&1
grep -q 'action=lock kind=identity user="127.0.0.20" identity="7" rule=spam' "$work/a6.out"; ok $? "the identity tenant-7 is locked" "$(grep action= "$work/a6.out" | head -c 400)"
grep -q 'action=reload' "$work/a6.out"; ok $? "the pcre map changed: Postfix reloaded"
sleep 1
out=$(send --from-ip 127.0.0.20 --sender app@web.example --to lee@example.org --header "X-Client-ID: tenant-7/app1")
grep -q 'REFUSED 451 4\.7\.1 .*sending locked' <<<"$out"; ok $? "the locked identity is refused at the header (451 4.7.1)" "$out"
"$RG" -c "$work/rg.ini" identities --user 127.0.0.20 --json > "$work/ids.json"
grep -q '"identity":"7","messages":2,"spam":2,"locked":true' "$work/ids.json"; ok $? "identities lists the locked identity" "$(cat "$work/ids.json")"
out=$(send --from-ip 127.0.0.20 --sender app@web.example --to lee@example.org --header "X-Client-ID: tenant-9/app1")
grep -q '^SENT' <<<"$out"; ok $? "another identity of the same user passes" "$out"
out=$(send --from-ip 127.0.0.20 --sender app@web.example --to lee@example.org --header "X-Client-ID: tenant-77/app1")
grep -q '^SENT' <<<"$out"; ok $? "an identity that only starts like it passes" "$out"
# 7. collect --follow --analyze: the lock follows within seconds
"$RG" -c "$work/rg.ini" collect --follow --quiet --analyze > "$work/follow.out" 2>&1 &
fpid=$!
sleep 1
for i in 1 2; do send --auth carol@example.net:carol-pw --sender carol@example.net --to dave@example.org --body "$GTUBE" > /dev/null; done
locked=1
for _ in $(seq 1 40); do
    if grep -q 'user="carol@example.net" rule=spam' "$work/follow.out" 2>/dev/null; then locked=0; break; fi
    sleep 0.25
done
ok $locked "collect --follow --analyze locks within seconds" "$(tail -c 300 "$work/follow.out")"
out=$(send --auth carol@example.net:carol-pw --sender carol@example.net --to dave@example.org)
grep -q 'REFUSED 450 4\.7\.1 .*sending locked: spam' <<<"$out"; ok $? "and Postfix refuses the user at once" "$out"
kill -TERM "$fpid"; wait "$fpid"; ok $? "the follower exits 0 on SIGTERM"
# 8. archiving: a copy of every message of an archived user (the access map's BCC)
"$RG" -c "$work/rg.ini" analyze > /dev/null 2>&1; sleep 1
out=$(send --from-ip 127.0.0.10 --sender app@tenant7.example --to kim@example.org)
qid=$(sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' <<<"$out")
pf_wait_settled >/dev/null 2>&1; pf_flush_log >/dev/null 2>&1
grep -q "$qid: to=<archive@example.org>.*status=sent" "$PF_LOG" && grep -q "$qid: to=<kim@example.org>.*status=sent" "$PF_LOG"
ok $? "an archived user's message is also delivered to the archive address" "qid=$qid $out"
out=$(send --auth bob@example.com:bob-pw --sender bob@example.com --to kim@example.org)
qid=$(sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' <<<"$out")
pf_wait_settled >/dev/null 2>&1; pf_flush_log >/dev/null 2>&1
! grep -q "$qid: to=<archive@example.org>" "$PF_LOG"; ok $? "another user's message is not archived" "qid=$qid"
# 9. quarantine_response = accepted: a locked sender is accepted and held
"$RG" -c "$work/rg.ini" lock user 127.0.0.22 --reason "quarantine test" > /dev/null 2>&1; sleep 1
out=$(send --from-ip 127.0.0.22 --sender web@host22.example --to kim@example.org)
qid=$(sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' <<<"$out")
sleep 1
postqueue -c "$PF_CONF" -j 2>/dev/null | grep "\"$qid\"" | grep -q '"queue_name": *"hold"'
ok $? "the locked sender is told nothing and its message waits in the hold queue" "$out qid=$qid"
# 10. max_days_to_retry: bob's deferred message, three days later, is returned
pf_wait_settled >/dev/null 2>&1
"$RG" -c "$work/rg.ini" collect --once --quiet
later=$(date -u -d '+3 days' +%Y-%m-%dT%H:%M:%SZ)
"$RG" -c "$work/rg.ini" analyze --now "$later" > "$work/a10.out" 2>&1
grep -q "action=expire kind=user user=\"bob@example.com\" queue_id=$deferred_qid" "$work/a10.out"
ok $? "a message queued longer than max_days_to_retry is expired" "qid=$deferred_qid $(grep expire "$work/a10.out" | head -c 300)"
postqueue -c "$PF_CONF" -i "$deferred_qid" >/dev/null 2>&1
for _ in $(seq 1 40); do grep -q "$deferred_qid: from=<bob@example.com>, status=force-expired" "$PF_LOG" && break; sleep 0.25; done
grep -q "$deferred_qid: from=<bob@example.com>, status=force-expired, returned to sender" "$PF_LOG"
ok $? "Postfix returns it to its sender" "$(grep "$deferred_qid" "$PF_LOG" | tail -2)"
exit 0
