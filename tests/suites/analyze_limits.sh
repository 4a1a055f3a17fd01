#!/bin/bash
# analyze_limits.sh - the analyzer's limits, archiving, header removal and
# hostile header identities against a real Postfix (and a real rspamd for the
# spam verdicts), wired in with exactly what `relayguard postfix-config`
# prints. Every check is what Postfix really answered a client, what it
# logged, or what its relayhost sink received (PF_SINK_KEEP=yes).
#
#   1. connections per minute: 3 queued sessions block the user (450 4.7.1
#      at RCPT); `analyze --now +3min` unblocks it; sessions refused by the
#      block do not count
#   2. distinct recipients per rolling day: repeats do not count (also not
#      from another client address of the same login); the 3rd distinct
#      recipient blocks; another user is not affected
#   3. invalid recipients: a 550 5.1.1 bounce from the rejecting sink plus
#      Postfix's own 550 5.1.1 RCPT reject (unknown local user) lock the user;
#      after a manual unlock, new invalid recipients lock it again
#   4. archiving: after analyze, the user's mail is copied to archive_address
#      (a delivery to=<archive@...> for that queue ID, and the sink's copy);
#      another user's mail is not, even with an envelope sender the archived
#      user once used
#   5. remove = yes: smtp_header_checks IGNOREs the identity header: the
#      sink's copy has no X-Client-ID while the log still has its INFO line
#   6. hostile header identities (whole value, no regex): each locks exactly
#      itself; a value the log may have cut never locks by its prefix
#
# RG_KEEP=1 keeps the work directory.
set -u
top=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
suite=analyze_limits
RG0=${RELAYGUARD:-$top/build/relayguard}
[ -x "$RG0" ] || { echo "FAIL: $suite: no relayguard binary at $RG0"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: $suite: needs root to run a private Postfix"; exit 0; }
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/wire.sh"
. "$top/tests/lib/rspamd.sh"
work=$(mktemp -d /tmp/rg-analyze-limits.XXXXXX); chmod 755 "$work"
cp "$RG0" "$work/relayguard"; RG=$work/relayguard
cleanup() { pf_stop; rs_stop; [ "${RG_KEEP:-0}" = 1 ] && echo "kept $work" >&2 || rm -rf "$work"; }
trap cleanup EXIT
trap "exit 130" INT TERM HUP
ok() { if [ "$1" = 0 ]; then echo "PASS: $suite: $2"; else echo "FAIL: $suite: $2${3:+: $3}"; fi; }
short() { tr '\n' '|' | head -c "${1:-600}"; }

# more SASL users than the harness's three (it takes PF_USERS at pf_start)
PF_USERS="$PF_USERS dave@example.com:dave-pw erin@example.com:erin-pw frank@example.com:frank-pw grace@example.com:grace-pw"
rs_start "$work/rs" 2> "$work/rs.err" || { cat "$work/rs.err"; echo "FAIL: $suite: rspamd did not start"; exit 1; }
PF_SINK_KEEP=yes PF_MILTER=inet:127.0.0.1:$RS_PORT pf_start "$work/pf" 2> "$work/pf.err" \
    || { cat "$work/pf.err"; echo "FAIL: $suite: Postfix did not start"; exit 1; }
[ -n "$PF_SINK_DIR" ] && [ -d "$PF_SINK_DIR" ]; ok $? "the relayhost sink keeps messages (PF_SINK_KEEP=yes)"

cat > "$work/rg.ini" <<INI
[global]
database = $work/rg.db
map_directory = $work/maps
postfix_config_directory = $PF_CONF
admin_contact = abuse@example.org
hostname = relay
safety_valve = 100
[parse]
timezone = UTC
[source postfix]
path = $PF_LOG
[source rspamd]
path = $RS_LOG
[defaults]
lock_timeout = 1h
[user "alice@example.com"]
connection_limits = yes
limit_per_minute = 3
[user "frank@example.com"]
connection_limits = yes
limit_per_minute = 3
[user "bob@example.com"]
max_recipients_per_day = 3
[user "carol@example.net"]
max_recipients_per_day = 3
[user "grace@example.com"]
max_recipients_per_day = 3
[user "dave@example.com"]
invalid_recipient_limit = 2
[user "erin@example.com"]
archive = yes
archive_address = archive@example.org
max_recipients_per_day = 4
[user "127.0.0.20"]
type = ip
identification = header
identity_headers = X-Client-ID
auto_lock = no
spam_lock_threshold = 1
[identity_header "X-Client-ID"]
remove = yes
INI
"$RG" -c "$work/rg.ini" check-config > "$work/cc.out" 2>&1; ok $? "the test configuration is valid" "$(short < "$work/cc.out")"
"$RG" -c "$work/rg.ini" init > /dev/null || echo "FAIL: $suite: init failed"
"$RG" -c "$work/rg.ini" analyze > "$work/a0.out" 2>&1; ok $? "a first analyze writes every (empty) map" "$(short < "$work/a0.out")"
grep -qx '/^X\\-Client\\-ID:/ IGNORE' "$work/maps/smtp_header_checks"
ok $? "remove = yes: smtp_header_checks IGNOREs X-Client-ID" "$(short < "$work/maps/smtp_header_checks")"
grep -q 'action=reload' "$work/a0.out"; ok $? "the new smtp_header_checks makes analyze reload Postfix" "$(short < "$work/a0.out")"

# wire it in with exactly the lines postfix-config prints
rg_wire_postfix "$RG" "$work/rg.ini" "$work"; ok $? "Postfix takes postfix-config's lines"

send() { /usr/bin/python3 "$top/tests/lib/send.py" --port "$PF_PORT" "$@" 2>&1; }
# each SASL user from its own loopback address (Postfix's anvil limits are
# per client; none of these is in mynetworks)
ip_of() {
    case $1 in
    alice) echo 127.0.0.2 ;; bob) echo 127.0.0.3 ;; carol) echo 127.0.0.4 ;;
    dave) echo 127.0.0.5 ;; erin) echo 127.0.0.6 ;; frank) echo 127.0.0.7 ;;
    grace) echo 127.0.0.8 ;;
    esac
}
# as U RCPT... [send.py options]: one session as SASL user U (sender U@domain)
as() {
    local u=$1 dom=example.com; shift
    [ "$u" = carol ] && dom=example.net
    send --from-ip "$(ip_of "$u")" --auth "$u@$dom:$u-pw" --sender "$u@$dom" "$@"
}
settle() { pf_wait_settled 30 >/dev/null 2>&1; pf_flush_log >/dev/null 2>&1; sleep 1; }
collect() { "$RG" -c "$work/rg.ini" collect --once --quiet > "$work/collect.out" 2>&1 || echo "FAIL: $suite: collect: $(short < "$work/collect.out")"; }
# analyze NAME [--now T]: run it into $work/NAME.out
analyze() { local n=$1; shift; "$RG" -c "$work/rg.ini" analyze "$@" > "$work/$n.out" 2>&1 || echo "FAIL: $suite: analyze $n exited $?: $(short < "$work/$n.out")"; }
acts() { grep 'action=' "$work/$1.out" | short 700; }
sent() { grep -q '^SENT' <<<"$1"; }
refused_limit() { grep -q "REFUSED 450 4\.7\.1 .*sending limit reached: $2" <<<"$1"; }
now_plus() { date -u -d "@$(( $1 ))" +%Y-%m-%dT%H:%M:%SZ; }

# ---------------------------------------------------------------- 1. connections per minute
for i in 1 2 3; do
    out=$(as alice --to "c$i@example.org")
    sent "$out" || echo "FAIL: $suite: alice's session $i was not accepted: $out"
done
settle; collect; analyze a1
grep -q 'action=block kind=user user="alice@example.com" rule=connections-minute' "$work/a1.out"
ok $? "3 queued sessions within a minute block alice (limit_per_minute = 3)" "$(acts a1)"
out=$(as alice --to c4@example.org)
refused_limit "$out" "connections"; ok $? "Postfix refuses alice's next session at RCPT: 450 4.7.1 and the limit text" "$out"
out=$(as dave --to d-other@example.org)
sent "$out"; ok $? "dave is not blocked by alice's limit" "$out"
later=$(date -u -d '+3 minutes' +%Y-%m-%dT%H:%M:%SZ)
analyze a1b --now "$later"
grep -q 'action=unblock kind=user user="alice@example.com" rule=timeout' "$work/a1b.out"
ok $? "analyze --now +3min unblocks alice" "$(acts a1b)"
! grep -q 'action=block kind=user user="alice@example.com"' "$work/a1b.out"
ok $? "... and does not block her again" "$(acts a1b)"
out=$(as alice --to c5@example.org)
sent "$out"; ok $? "after the window Postfix accepts alice again" "$out"

# refused sessions do not count: frank is blocked, tries 4 more times
# (refused), then at T0+62s only those refused sessions are in the window
t0=$(date -u +%s)
for i in 1 2 3; do
    out=$(as frank --to "f$i@example.org")
    sent "$out" || echo "FAIL: $suite: frank's session $i was not accepted: $out"
done
settle; collect; analyze a1c
grep -q 'action=block kind=user user="frank@example.com" rule=connections-minute' "$work/a1c.out"
ok $? "3 sessions block frank" "$(acts a1c)"
while [ "$(date -u +%s)" -lt $((t0 + 4)) ]; do sleep 0.2; done
nref=0
for i in 1 2 3 4; do
    out=$(as frank --to "f-refused$i@example.org")
    refused_limit "$out" "connections" && nref=$((nref + 1))
done
[ $nref = 4 ]; ok $? "frank's 4 sessions during the block are refused by Postfix" "$nref of 4"
[ "$(date -u +%s)" -lt $((t0 + 60)) ] || echo "FAIL: $suite: too slow: the refused sessions left the window (timing)"
settle; collect
analyze a1d --now "$(now_plus $((t0 + 62)))"
grep -q 'action=unblock kind=user user="frank@example.com" rule=timeout' "$work/a1d.out"
ok $? "once his 3 queued sessions left the minute, frank is unblocked" "$(acts a1d)"
! grep -q 'action=block kind=user user="frank@example.com"' "$work/a1d.out"
ok $? "sessions refused because of the block do not count toward the limit" "$(acts a1d)"
out=$(as frank --to f-after@example.org)
sent "$out"; ok $? "Postfix accepts frank again" "$out"

# ---------------------------------------------------------------- phase 2: traffic before the limits
# 2. bob: 5 messages, 2 distinct recipients (r1 repeated); carol: 2 distinct
as bob --to r1@example.org > "$work/s.out"
as bob --to r1@example.org --to r2@example.org > "$work/s.out"
as bob --to r1@example.org --count 2 > "$work/s.out"
as bob --to r2@example.org > "$work/s.out"
as carol --to k1@example.org > "$work/s.out"
as carol --to k2@example.org --to k1@example.org > "$work/s.out"
# grace: one recipient from three client addresses, and a second one
for ip in 127.0.0.8 127.0.0.9 127.0.0.12; do
    send --from-ip $ip --auth grace@example.com:grace-pw --sender grace@example.com --to g1@example.org > "$work/s.out"
done
as grace --to g2@example.org > "$work/s.out"
# 3. dave: one invalid recipient, bounced 5.1.1 by the rejecting sink
out=$(as dave --to "nobody@$PF_DOMAIN_REJECT")
sent "$out" || echo "FAIL: $suite: dave's message to the rejecting sink was not queued: $out"
# 4. erin (archive = yes): two envelope senders of her own
as erin --to e1@example.org > "$work/s.out"
send --from-ip "$(ip_of erin)" --auth erin@example.com:erin-pw --sender erin.alt@example.com --to e1@example.org > "$work/s.out"
# ... and once with dave's address as envelope sender (nothing stops that here)
send --from-ip "$(ip_of erin)" --auth erin@example.com:erin-pw --sender dave@example.com --to e1@example.org > "$work/s.out"
# 5. an identity header through the relayhost: removed on the way out
out=$(send --from-ip 127.0.0.20 --sender app@web.example --to rm1@example.org \
      --header "X-Client-ID: remove-me-42" --message-id "<rm1.$$@send.example.test>")
sent "$out"; ok $? "a message with X-Client-ID from the IP user is accepted" "$out"
settle; collect; analyze a2
! grep -q 'user="bob@example.com"' "$work/a2.out"
ok $? "5 messages to 2 distinct recipients do not block bob (repeats do not count)" "$(acts a2)"
! grep -q 'user="dave@example.com"' "$work/a2.out"
ok $? "one invalid recipient does not lock dave (limit 2)" "$(acts a2)"
out=$(as bob --to r1@example.org)
sent "$out"; ok $? "bob still relays below the limit" "$out"
! grep -q 'user="grace@example.com"' "$work/a2.out"
ok $? "one recipient from 3 client addresses of one login is one distinct recipient (grace not blocked)" "$(grep grace "$work/a2.out" | short)"

# 5. the sink's copy has no X-Client-ID; the log still has the INFO line
f=$(grep -l "^Message-ID: <rm1.$$@send.example.test>" "$PF_SINK_DIR"/* 2>/dev/null | head -1)
[ -n "$f" ]; ok $? "the relayhost sink kept the message" "$(ls "$PF_SINK_DIR" | head -5 | short)"
if [ -n "$f" ]; then
    ! grep -qi '^X-Client-ID:' "$f"; ok $? "remove = yes: the delivered message has no X-Client-ID" "$(grep -i '^X-Client-ID' "$f" | short)"
    grep -q '^X-Rcpt-Args: <rm1@example.org>' "$f" || grep -q 'rm1@example.org' "$f"
    ok $? "... and is the one sent (its recipient)" "$(head -c 400 "$f" | short)"
fi
grep -q 'info: header X-Client-ID: remove-me-42 from ' "$PF_LOG"
ok $? "... while Postfix's log still has the INFO line with the value" "$(grep -i 'remove-me' "$PF_LOG" | short)"

# 4. archiving (the BCC action of archive_sasl, checked before everything
# else, for erin's login): her next mail is copied
grep -q '^erin@example.com[[:space:]]*BCC archive@example.org' "$work/maps/archive_sasl"
ok $? "the archive map copies erin's login (BCC)" \
    "$(cat "$work/maps/sasl_access" "$work/maps/sender_bcc" | short)"
! grep -q '^bob@' "$work/maps/sender_bcc" && ! grep -q '^bob@.*BCC' "$work/maps/sasl_access"
ok $? "the maps have no archiving for bob (archive = no)"
out=$(as erin --to e2@example.org --message-id "<ar1.$$@send.example.test>")
sent "$out"; ok $? "erin's next message is accepted" "$out"
out=$(send --from-ip "$(ip_of erin)" --auth erin@example.com:erin-pw --sender erin.alt@example.com --to e2@example.org --message-id "<ar2.$$@send.example.test>")
sent "$out"; ok $? "erin's next message as erin.alt is accepted" "$out"
out=$(as bob --to r1@example.org --message-id "<ar3.$$@send.example.test>")
out=$(as dave --to d-ok1@example.org --message-id "<ar4.$$@send.example.test>")
sent "$out" || echo "FAIL: $suite: dave's message was refused: $out"
# a message of erin's to the admin contact alone is outgoing mail of hers too
out=$(as erin --to abuse@example.org --message-id "<ar5.$$@send.example.test>")
sent "$out" || echo "FAIL: $suite: erin's message to the admin contact was refused: $out"
settle
for mid in ar1 ar2 ar3 ar4 ar5; do
    qid=$(grep "message-id=<$mid.$$@send.example.test>" "$PF_LOG" | grep cleanup | head -1 | sed -E 's/.*: ([0-9A-Za-z]+): message-id=.*/\1/')
    eval "qid_$mid=\$qid"
done
desc_ar1="erin's message"; desc_ar2="erin's message as erin.alt"; desc_ar5="erin's message to the admin contact alone"
for mid in ar1 ar2 ar5; do
    eval "qid=\$qid_$mid; desc=\$desc_$mid"
    [ -n "$qid" ] && grep -q " $qid: to=<archive@example.org>,.* status=sent" "$PF_LOG"
    rc=$?; ok $rc "archive: $desc ($qid) is delivered to archive@example.org too" "$( [ -n "$qid" ] && grep " $qid: " "$PF_LOG" | short 900)"
    [ $rc = 0 ] || continue
    f=$(grep -l "^Message-ID: <$mid.$$@send.example.test>" "$PF_SINK_DIR"/* 2>/dev/null | xargs -r grep -l 'archive@example.org' | head -1)
    [ -n "$f" ]; ok $? "archive: the relayhost sink received $desc for archive@example.org" \
        "$(grep -l "^Message-ID: <$mid.$$@send.example.test>" "$PF_SINK_DIR"/* 2>/dev/null | xargs -r head -8 | short)"
done
[ -n "$qid_ar3" ] && ! grep -q " $qid_ar3: to=<archive@example.org>" "$PF_LOG"
ok $? "archive: bob's message ($qid_ar3) is not copied" "$( [ -n "$qid_ar3" ] && grep " $qid_ar3: " "$PF_LOG" | short)"
[ -n "$qid_ar4" ] && ! grep -q " $qid_ar4: to=<archive@example.org>" "$PF_LOG"
ok $? "archive: dave's own message ($qid_ar4) is not copied to erin's archive (erin once used dave's address as sender)" \
    "$(grep -i '^dave@' "$work/maps/sender_bcc" | short) / $( [ -n "$qid_ar4" ] && grep " $qid_ar4: to=" "$PF_LOG" | short)"

# ---------------------------------------------------------------- phase 3: over the limits
# 2. bob's third distinct recipient (and r1 again)
out=$(as bob --to r3@example.org --to r1@example.org)
sent "$out" || echo "FAIL: $suite: bob's third recipient was not accepted: $out"
as carol --to k1@example.org > "$work/s.out"
# 3. dave: Postfix's own 550 5.1.1 for an unknown local user, in a session
# that also queues (Postfix 3.7 logs the login only with a queued message)
out=$(as dave --to "nosuch@$PF_LOCAL_DOMAIN" --to d-ok@example.org)
grep -q "REFUSED 550 5\.1\.1 .*rcpt=nosuch@$PF_LOCAL_DOMAIN" <<<"$out" && sent "$out"
ok $? "Postfix refuses an unknown local recipient 550 5.1.1 at RCPT" "$out"

# 6. hostile identity values: one GTUBE each from the IP user (threshold 1)
GTUBE='XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'
long186=$(python3 -c 'print("L186-" + "abcdefghij" * 18 + "x")')
long187=$(python3 -c 'print("L187-" + "abcdefghij" * 18 + "xy")')
long250=$(python3 -c 'print("L250-" + "abcdefghij" * 24 + "zzzzz")')
names=(dot metas spaces dollar ok backslash inject utf8 tab l186 l187)
vals=(
    'm.x'
    'k.*+?^$()[]{}|/#-'
    'a b  c'
    'pay$1'
    'OK'
    'back\slash'
    'evil from x[1.2.3.4]; from=<a@b.example> to=<c@d.example> proto=ESMTP helo=<h>'
    'umlaut-ü-ß'
    $'ctl\tx'
    "$long186"
    "$long187"
)
# the same value with one character changed (for "m.x": what m.x matches unescaped)
changed=(
    'mAx'
    'k.*+?^$()[]{}|/#_'
    'a b  d'
    'pay$2'
    'OJ'
    'back\slasH'
    'Evil from x[1.2.3.4]; from=<a@b.example> to=<c@d.example> proto=ESMTP helo=<h>'
    'umlaut-ü-s'
    $'ctl\ty'
    "${long186%x}y"
    "${long187%y}z"
)
[ ${#long186} = 186 ] && [ ${#long187} = 187 ] && [ ${#long250} = 250 ] || echo "FAIL: $suite: test values have the wrong lengths"
for i in "${!vals[@]}"; do
    out=$(send --from-ip 127.0.0.20 --sender app@web.example --to "sp$i@example.org" --header "X-Client-ID: ${vals[$i]}" --body "$GTUBE")
    grep -q 'REFUSED 554 5.7.1' <<<"$out" || echo "FAIL: $suite: GTUBE with identity ${names[$i]} was not refused by rspamd: $out"
done
out=$(send --from-ip 127.0.0.20 --sender app@web.example --to sp-long@example.org --header "X-Client-ID: $long250" --body "$GTUBE")
grep -q 'REFUSED 554 5.7.1' <<<"$out" || echo "FAIL: $suite: GTUBE with the 250-character identity was not refused by rspamd: $out"

settle; collect; analyze a3
grep -q 'action=block kind=user user="bob@example.com" rule=recipients' "$work/a3.out"
ok $? "the 3rd distinct recipient blocks bob (max_recipients_per_day = 3)" "$(acts a3)"
! grep -q 'user="carol@example.net"' "$work/a3.out"
ok $? "carol (2 distinct recipients, same limit) is not blocked" "$(acts a3)"
! grep -q 'user="erin@example.com"' "$work/a3.out"
ok $? "erin's archive copies are not her recipients: 3 distinct (e1, e2, the admin contact) do not block her (limit 4)" "$(grep erin "$work/a3.out" | short)"
grep -q 'action=lock kind=user user="dave@example.com" rule=invalid' "$work/a3.out"
ok $? "a 5.1.1 bounce and a 550 5.1.1 RCPT reject lock dave (invalid_recipient_limit = 2)" "$(acts a3)"
grep -q 'action=reload' "$work/a3.out"; ok $? "the header_checks map changed: Postfix reloaded" "$(acts a3)"
sleep 1
out=$(as bob --to r1@example.org)
refused_limit "$out" "recipients per day"; ok $? "Postfix refuses bob: 450 4.7.1 and the limit text" "$out"
out=$(as carol --to k1@example.org)
sent "$out"; ok $? "carol still relays" "$out"
out=$(as bob --to abuse@example.org)
sent "$out"; ok $? "blocked bob still reaches the admin contact" "$out"
out=$(as dave --to d-ok2@example.org)
grep -q 'REFUSED 450 4\.7\.1 .*sending locked: invalid recipients' <<<"$out"
ok $? "Postfix refuses the invalid-recipient-locked dave: 450 4.7.1" "$out"

# 6. each hostile value is locked exactly: itself refused 451, a neighbour passes
for i in "${!vals[@]}"; do
    n=${names[$i]}
    [ "$n" = l187 ] && continue   # below
    out=$(send --from-ip 127.0.0.20 --sender app@web.example --to "x$i@example.org" --header "X-Client-ID: ${vals[$i]}")
    grep -q 'REFUSED 451 4\.7\.1 .*sending locked' <<<"$out"
    ok $? "identity '$n' is locked: exactly that value is refused 451 4.7.1" "$out"
    out=$(send --from-ip 127.0.0.20 --sender app@web.example --to "y$i@example.org" --header "X-Client-ID: ${changed[$i]}")
    sent "$out"; ok $? "identity '$n' with one character changed passes" "$out"
done
# 187 characters: the logged header text is exactly Postfix's 200-character
# cut-off, so it may have been cut: per README never an identity. Whether or
# not it is locked, nothing but exactly itself may be refused.
out=$(send --from-ip 127.0.0.20 --sender app@web.example --to y187@example.org --header "X-Client-ID: ${changed[10]}")
sent "$out"; ok $? "a 187-character value's neighbour passes" "$out"
out=$(send --from-ip 127.0.0.20 --sender app@web.example --to y187b@example.org --header "X-Client-ID: ${long187}-and-more")
sent "$out"; ok $? "a longer value that starts with the 187-character one passes" "$out"
# 250 characters (cut in the log): no lock by its 187-character prefix
p187=${long250:0:187}
out=$(send --from-ip 127.0.0.20 --sender app@web.example --to y250a@example.org --header "X-Client-ID: ${p187}DIFFERENT-TAIL")
sent "$out"; ok $? "a different value sharing the first 187 characters of a cut 250-character one passes" "$out"
out=$(send --from-ip 127.0.0.20 --sender app@web.example --to y250b@example.org --header "X-Client-ID: $p187")
sent "$out"; ok $? "the 187-character prefix of a cut value itself passes" "$out"
! grep -q "identity=\"L250-" "$work/a3.out"; ok $? "a cut value is never an identity" "$(grep 'L250-' "$work/a3.out" | short)"
# exactly one identity lock per hostile value (no merging, nothing extra)
nlock=$(grep -c 'action=lock kind=identity user="127.0.0.20"' "$work/a3.out")
[ "$nlock" = 10 ] || [ "$nlock" = 11 ]; ok $? "one identity lock per lockable value (10, or 11 with the 187-character one)" "$nlock: $(grep 'kind=identity' "$work/a3.out" | short 1500)"
! grep -q 'action=lock kind=user user="127.0.0.20"' "$work/a3.out"; ok $? "the IP user itself is not locked (auto_lock = no)"
out=$(send --from-ip 127.0.0.20 --sender app@web.example --to z@example.org --header "X-Client-ID: innocent")
sent "$out"; ok $? "another identity of the IP user passes" "$out"
out=$(send --from-ip 127.0.0.20 --sender app@web.example --to z2@example.org)
sent "$out"; ok $? "mail without an identity header passes" "$out"

# 3b. after a manual unlock, new invalid recipients count: 2 more lock again
"$RG" -c "$work/rg.ini" unlock user dave@example.com > "$work/u3.out" 2>&1; ok $? "unlock dave" "$(short < "$work/u3.out")"
# the log has whole seconds: let the new invalid recipients come a second later
sleep 1.1
out=$(as dave --to d-ok3@example.org)
sent "$out"; ok $? "after the unlock Postfix accepts dave" "$out"
out=$(as dave --to "nobody2@$PF_DOMAIN_REJECT")
sent "$out" || echo "FAIL: $suite: dave's second message to the rejecting sink was not queued: $out"
out=$(as dave --to "nosuch2@$PF_LOCAL_DOMAIN" --to d-ok4@example.org)
grep -q "REFUSED 550 5\.1\.1" <<<"$out" || echo "FAIL: $suite: nosuch2 was not refused 550 5.1.1: $out"
settle; collect; analyze a4
grep -q 'action=lock kind=user user="dave@example.com" rule=invalid' "$work/a4.out"
rc=$?; ok $rc "2 new invalid recipients after the unlock lock dave again" "analyze printed: '$(short < "$work/a4.out")'"
if [ $rc = 0 ]; then
    out=$(as dave --to d-ok5@example.org)
    grep -q 'REFUSED 450 4\.7\.1 .*sending locked: invalid recipients' <<<"$out"
    ok $? "... and Postfix refuses him again" "$out"
fi
exit 0
