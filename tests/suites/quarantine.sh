#!/bin/bash
# quarantine.sh - the quarantine against a real Postfix 3.7 and rspamd 3.4:
# rspamd runs the rule `relayguard rspamd-config --quarantine` prints, so
# GTUBE from alice (quarantine = yes) lands in Postfix's hold queue while
# the client sees 250, and bob's (quarantine = no) is refused. Then the
# commands: list (checked against postqueue -j), show, release (delivered),
# delete (gone), a manual postsuper seen by list, retention in analyze; the
# stored states and the events follow.
set -u
top=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
suite=quarantine
RG0=${RELAYGUARD:-$top/build/relayguard}
[ -x "$RG0" ] || { echo "FAIL: $suite: no relayguard binary at $RG0"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: $suite: needs root to run a private Postfix"; exit 0; }
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/rspamd.sh"
work=$(mktemp -d /tmp/rg-quarantine.XXXXXX); chmod 755 "$work"
cp "$RG0" "$work/relayguard"; RG=$work/relayguard
cleanup() { pf_stop; rs_stop; [ "${RG_KEEP:-0}" = 1 ] && echo "kept $work" >&2 || rm -rf "$work"; }
trap cleanup EXIT
trap "exit 130" INT TERM HUP
ok() { if [ "$1" = 0 ]; then echo "PASS: $suite: $2"; else echo "FAIL: $suite: $2${3:+: $3}"; fi; }
send() { /usr/bin/python3 "$top/tests/lib/send.py" --port "$PF_PORT" "$@" 2>&1; }
# GTUBE is a forced result: rspamd 3.4 skips every postfilter (the rule
# too), so the spam here is a token that a test-only rule scores 50
SPAM='hello RG-TEST-SPAM-TOKEN'

# relayguard's configuration first: rspamd's rule is printed from it
ini() {
    cat <<INI
[global]
database = $work/rg.db
map_directory = $work/maps
postfix_config_directory = ${PF_CONF:-$work}
hostname = relay
[parse]
timezone = UTC
[source postfix]
path = ${PF_LOG:-$work/none.log}
[source rspamd]
path = ${RS_LOG:-$work/none2.log}
[defaults]
auto_lock = no
lock_identities = no
[user "alice@example.com"]
quarantine = yes
[user "bob@example.com"]
[user "carol@example.net"]
quarantine = yes
INI
}
ini > "$work/rg.ini"
mkdir -p "$work/rslocal"
"$RG" -c "$work/rg.ini" rspamd-config --quarantine > "$work/rslocal/rspamd.lua"; ok $? "rspamd-config --quarantine prints the rule"
cat >> "$work/rslocal/rspamd.lua" <<'LUA'

-- test only: a token that scores as spam (reject) without a forced result
rspamd_config:register_symbol({
  name = 'RG_TEST_SPAM',
  score = 50.0,
  callback = function(task)
    local b = task:get_rawbody()
    return b ~= nil and tostring(b):find('RG-TEST-SPAM-TOKEN', 1, true) ~= nil
  end,
})
LUA
RS_LOCAL_FILES=$work/rslocal rs_start "$work/rs" 2> "$work/rs.err" || { cat "$work/rs.err"; echo "FAIL: $suite: rspamd did not start"; exit 1; }
grep -qi "error.*rspamd.lua\|lua.*error" "$RS_LOG" && echo "FAIL: $suite: rspamd reports an error in the rule: $(grep -i 'lua' "$RS_LOG" | head -3)"
PF_SINK_KEEP=yes PF_MILTER=inet:127.0.0.1:$RS_PORT pf_start "$work/pf" 2> "$work/pf.err" || { cat "$work/pf.err"; echo "FAIL: $suite: Postfix did not start"; exit 1; }
ini > "$work/rg.ini"

qids() { postqueue -c "$PF_CONF" -j | /usr/bin/python3 -c 'import json,sys
for l in sys.stdin: d=json.loads(l); print(d["queue_name"], d["queue_id"])'; }
collect() { pf_flush_log >/dev/null 2>&1; "$RG" -c "$work/rg.ini" collect --once --quiet; }
state_of() {    # state_of QID: quarantine list's state of it
    "$RG" -c "$work/rg.ini" quarantine list --json | /usr/bin/python3 -c 'import json,sys
for l in sys.stdin:
    d = json.loads(l)
    if d["queue_id"] == sys.argv[1]: print(d["state"])' "$1"
}

# 1. alice's spam is held, the client sees 250; bob's is refused
a1=$(send --auth alice@example.com:alice-pw --sender alice@example.com --to dave@example.org --subject "held one" --body "$SPAM")
grep -q '^SENT' <<<"$a1"; ok $? "a quarantined user's spam is accepted (250)" "$a1"
q1=$(sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' <<<"$a1")
b1=$(send --auth bob@example.com:bob-pw --sender bob@example.com --to dave@example.org --body "$SPAM")
grep -q 'REFUSED 554 5.7.1' <<<"$b1"; ok $? "another user's spam is refused" "$b1"
c1=$(send --auth alice@example.com:alice-pw --sender alice@example.com --to dave@example.org --subject "clean")
grep -q '^SENT' <<<"$c1"; ok $? "a quarantined user's clean mail is accepted" "$c1"
pf_wait_settled >/dev/null 2>&1
qids > "$work/q1"
grep -qx "hold $q1" "$work/q1"; ok $? "the spam is in the hold queue (postqueue -j)" "$(cat "$work/q1")"
[ "$(grep -c '^hold ' "$work/q1")" = 1 ]; ok $? "only the spam is held" "$(cat "$work/q1")"
grep -q "$q1: milter-hold: END-OF-MESSAGE" "$PF_LOG"; ok $? "Postfix logs milter-hold" "$(grep "$q1" "$PF_LOG" | head -3)"

# 2. the collector stores it held, with its verdict; list agrees with the queue
collect
held=$(sqlite3 "$work/rg.db" "SELECT held, spam FROM messages WHERE queue_id = '$q1'")
[ "$held" = "1|1" ]; ok $? "the store has it held, with a spam verdict" "$held"
[ "$(state_of "$q1")" = held ]; ok $? "quarantine list: held" "$(state_of "$q1")"
out=$("$RG" -c "$work/rg.ini" quarantine list --user alice@example.com)
grep -q "^$q1 *held .* alice@example.com *alice@example.com *-$" <<<"$out"; ok $? "quarantine list --user: the line with the user (no Subject logged: -)" "$out"
out=$("$RG" -c "$work/rg.ini" quarantine list --user bob@example.com | tail -n +2)
[ -z "$out" ]; ok $? "bob has nothing held" "$out"
out=$("$RG" -c "$work/rg.ini" quarantine show "$q1")
grep -q "Subject: held one" <<<"$out" && grep -q "RG-TEST-SPAM-TOKEN" <<<"$out"; ok $? "quarantine show: headers and body" "$(head -c 300 <<<"$out")"

# 3. release delivers it; the state follows; an event records it
out=$("$RG" -c "$work/rg.ini" quarantine release "$q1"); rc=$?
[ $rc = 0 ] && grep -q "action=quarantine rule=release queue_id=$q1 .*method=postsuper-H" <<<"$out"; ok $? "release: postsuper -H (young mail)" "rc=$rc $out"
pf_wait_settled >/dev/null 2>&1
grep -q "$q1: to=<dave@example.org>.*status=sent" "$PF_LOG"; ok $? "the released message is delivered" "$(grep "$q1" "$PF_LOG" | tail -3)"
collect
[ "$(state_of "$q1")" = released ]; ok $? "quarantine list: released" "$(state_of "$q1")"
ev=$(sqlite3 "$work/rg.db" "SELECT action, kind, user, identity, rule FROM events WHERE identity = '$q1'")
[ "$ev" = "quarantine|message|alice@example.com|$q1|release" ]; ok $? "the release is an event" "$ev"

# 4. delete removes it
d1=$(send --auth carol@example.net:carol-pw --sender carol@example.net --to dave@example.org --body "$SPAM")
q2=$(sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' <<<"$d1")
pf_wait_settled >/dev/null 2>&1; collect
out=$("$RG" -c "$work/rg.ini" quarantine delete "$q2"); rc=$?
[ $rc = 0 ] && ! qids | grep -q "$q2"; ok $? "delete: gone from the queue" "rc=$rc $out"
collect
[ "$(state_of "$q2")" = deleted ] && [ "$(sqlite3 "$work/rg.db" "SELECT deleted FROM messages WHERE queue_id = '$q2'")" = 1 ]; ok $? "quarantine list and the store: deleted"

# 5. a manual postsuper is seen: list reads the queue, not only the log
m1=$(send --auth alice@example.com:alice-pw --sender alice@example.com --to dave@example.org --body "$SPAM")
q3=$(sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' <<<"$m1")
pf_wait_settled >/dev/null 2>&1; collect
postsuper -c "$PF_CONF" -d "$q3" hold 2>/dev/null
[ "$(state_of "$q3")" = deleted ]; ok $? "a manual postsuper -d shows as deleted before the log is collected" "$(state_of "$q3")"
m2=$(send --auth alice@example.com:alice-pw --sender alice@example.com --to dave@example.org --body "$SPAM")
q4=$(sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' <<<"$m2")
pf_wait_settled >/dev/null 2>&1
[ "$(state_of "$q4")" = held ]; ok $? "held mail not collected yet is listed" "$(state_of "$q4")"
collect

# 6. retention: analyze deletes held mail older than quarantine_retention
"$RG" -c "$work/rg.ini" analyze --now "@$(( $(date +%s) + 13 * 86400 ))" > "$work/a1.out" 2>&1
qids | grep -q "hold $q4"; ok $? "held mail younger than 14 days stays" "$(cat "$work/a1.out")"
"$RG" -c "$work/rg.ini" analyze --now "@$(( $(date +%s) + 15 * 86400 ))" > "$work/a2.out" 2>&1
! qids | grep -q "$q4" && grep -q "action=quarantine rule=expire queue_id=$q4" "$work/a2.out"; ok $? "older held mail is deleted by analyze" "$(cat "$work/a2.out" | tail -3)"
collect
[ "$(state_of "$q4")" = expired ]; ok $? "quarantine list: expired" "$(state_of "$q4")"
[ "$("$RG" -c "$work/rg.ini" quarantine list --state expired | tail -n +2 | wc -l)" = 1 ]; ok $? "list --state expired"

# 7. a bad queue ID is refused before postsuper sees it
out=$("$RG" -c "$work/rg.ini" quarantine release '-d ALL' 2>&1); rc=$?
[ $rc != 0 ]; ok $? "release refuses what is not on hold (exit $rc)" "$out"

# 7b. mail too old for -H (maximal_queue_lifetime 0 here) is re-queued with
# postsuper -r: a new queue ID (orig_id= in the log), delivered
r1=$(send --auth alice@example.com:alice-pw --sender alice@example.com --to dave@example.org --body "$SPAM")
q5=$(sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' <<<"$r1")
pf_wait_settled >/dev/null 2>&1; collect
pf_postconf -e maximal_queue_lifetime=0
out=$("$RG" -c "$work/rg.ini" quarantine release "$q5"); rc=$?
[ $rc = 0 ] && grep -q "rule=requeue queue_id=$q5 .*method=postsuper-r" <<<"$out"; ok $? "release of old mail: postsuper -r" "rc=$rc $out"
pf_wait_settled >/dev/null 2>&1
q6=$(sed -n "s/.*postfix\/pickup\[[0-9]*\]: \([0-9A-Za-z]*\): .*orig_id=$q5.*/\1/p" "$PF_LOG" | head -1)
[ -n "$q6" ] && grep -q "$q6: to=<dave@example.org>.*status=sent" "$PF_LOG"; ok $? "the re-queued message ($q6) is delivered" "$(grep -e "$q5" ${q6:+-e "$q6"} "$PF_LOG" | tail -4)"
pf_postconf -e maximal_queue_lifetime=5d

# 8. check-postfix: the milter that holds is there; without one it says so
out=$("$RG" -c "$work/rg.ini" check-postfix 2>&1)
! grep -q "smtpd_milters" <<<"$out"; ok $? "check-postfix: smtpd_milters lists the filter" "$out"
mkdir -p "$work/pc"; : > "$work/pc/main.cf"
sed "s|^postfix_config_directory = .*|postfix_config_directory = $work/pc|" "$work/rg.ini" > "$work/rg2.ini"
out=$("$RG" -c "$work/rg2.ini" check-postfix 2>&1)
grep -q "smtpd_milters is empty" <<<"$out"; ok $? "check-postfix: no milter, no quarantine" "$out"
"$RG" -c "$work/rg.ini" postfix-config | grep -q "^# quarantine: rspamd's milter holds"; ok $? "postfix-config explains the Postfix side"
