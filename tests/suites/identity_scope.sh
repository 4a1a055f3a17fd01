#!/bin/bash
# identity_scope.sh - an envelope-sender identity lock stops that sender in
# its own user's mail only (issue 10, item 3), against a real Postfix wired
# with exactly what `relayguard postfix-config` prints: the pool of
# restriction classes, a class per locked user, the nested-network DUNNO,
# the escalation when the pool is used up, and the unlock.
#
# RG_CLASSES (default 2) is written as [global] identity_lock_classes; set
# it empty to run the suite against a relayguard that predates the key.
set -u
top=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
suite=identity_scope
RG0=${RELAYGUARD:-$top/build/relayguard}
[ -x "$RG0" ] || { echo "FAIL: $suite: no relayguard binary at $RG0"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: $suite: needs root to run a private Postfix"; exit 0; }
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/wire.sh"
work=$(mktemp -d /tmp/rg-idscope.XXXXXX); chmod 755 "$work"
cp "$RG0" "$work/relayguard"; RG=$work/relayguard
cleanup() { pf_stop; [ "${RG_KEEP:-0}" = 1 ] && echo "kept $work" >&2 || rm -rf "$work"; }
trap cleanup EXIT
trap "exit 130" INT TERM HUP
ok() { if [ "$1" = 0 ]; then echo "PASS: $suite: $2"; else echo "FAIL: $suite: $2${3:+: $3}"; fi; }
send() { /usr/bin/python3 "$top/tests/lib/send.py" --port "$PF_PORT" "$@" 2>&1; }
# expect WANT ARGS...: send until Postfix gives WANT (SENT or REFUSED 450),
# as a reloaded Postfix takes a cidr map in its new smtpd processes only;
# prints the last answer, fails after 50 answers that never gave WANT
expect() {
    local want=$1 out i
    shift
    for i in $(seq 1 50); do
        out=$(send "$@")
        grep -q "^$want" <<<"$out" && { echo "$out"; return 0; }
        sleep 0.2
    done
    echo "$out"; return 1
}
classes=${RG_CLASSES-2}

PF_USERS="$PF_USERS dave@example.com:dave-pw"
pf_start "$work/pf" 2> "$work/pf.err" || { cat "$work/pf.err"; echo "FAIL: $suite: Postfix did not start"; exit 1; }
cat > "$work/rg.ini" <<INI
[global]
database = $work/rg.db
map_directory = $work/maps
postfix_config_directory = $PF_CONF
admin_contact = abuse@example.org
never_lock = carol@example.net
${classes:+identity_lock_classes = $classes}
[parse]
timezone = UTC
[source postfix]
path = $PF_LOG
[defaults]
lock_timeout = 1h
[user "alice@example.com"]
[user "bob@example.com"]
[user "carol@example.net"]
[user "dave@example.com"]
[user "127.0.0.10/31"]
type = ip
[user "127.0.0.11"]
type = ip
INI
"$RG" -c "$work/rg.ini" check-config > "$work/cc.out" 2>&1; ok $? "the test configuration is valid" "$(cat "$work/cc.out")"
printf '[user "127.0.0.20"]\ntype = ip\nidentification = header\n' > "$work/hdr.ini"
"$RG" -c "$work/hdr.ini" check-config > "$work/hdr.out" 2>&1; rc=$?
[ $rc = 0 ] && grep -q "^$work/hdr.ini:1: warning: \[user 127.0.0.20\] identification = header: a locked header identity is refused in every user's mail" "$work/hdr.out"
ok $? "check-config warns that header identities are global (exit $rc)" "$(cat "$work/hdr.out")"
"$RG" -c "$work/rg.ini" init > "$work/a0.out" 2>&1 && "$RG" -c "$work/rg.ini" analyze >> "$work/a0.out" 2>&1; ok $? "init and a first analyze write every (empty) map" "$(head -c 300 "$work/a0.out")"
n=$(ls "$work/maps" | grep -c '^rg_senders_[0-9]*$')
[ "$n" = "$classes" ]; ok $? "one (empty) sender table per class: $n of $classes"
"$RG" -c "$work/rg.ini" check-postfix > "$work/cp0.out" 2>&1
grep -q 'smtpd_restriction_classes lacks 2 of the 2 identity lock classes' "$work/cp0.out"
ok $? "check-postfix says when the classes are not declared" "$(cat "$work/cp0.out")"
rg_wire_postfix "$RG" "$work/rg.ini" "$work"; ok $? "Postfix takes postfix-config's lines"
"$RG" -c "$work/rg.ini" check-postfix > "$work/cp1.out" 2>&1; ok $? "check-postfix is satisfied with postfix-config's lines" "$(cat "$work/cp1.out")"
postconf -c "$PF_CONF" -e "rg_c1 = permit"
"$RG" -c "$work/rg.ini" check-postfix > "$work/cp2.out" 2>&1
grep -q '^rg_c1 is not "check_sender_access hash:.*/rg_senders_1, check_sender_access pcre:.*/rg_senders_pcre_1"' "$work/cp2.out"
ok $? "check-postfix says when a class is not bound to its table" "$(cat "$work/cp2.out")"
postconf -c "$PF_CONF" -e "rg_c1 = check_sender_access hash:$work/maps/rg_senders_1, check_sender_access pcre:$work/maps/rg_senders_pcre_1"

# 1. alice's spam used bob's address: the lock stops it in alice's mail only
"$RG" -c "$work/rg.ini" lock identity alice@example.com/bob@example.com --reason "spam with bob's address" > "$work/l1.out" 2>&1
ok $? "lock identity alice@example.com/bob@example.com" "$(cat "$work/l1.out")"
grep -q 'action=class user="alice@example.com" class=rg_c0 identities=1' "$work/l1.out"; ok $? "alice is given the first class" "$(cat "$work/l1.out")"
"$RG" -c "$work/rg.ini" explain user alice@example.com > "$work/x1.out" 2>&1
grep -q 'its envelope-sender identity locks: restriction class rg_c0' "$work/x1.out"; ok $? "explain shows alice's class" "$(cat "$work/x1.out")"
! grep -qi 'bob@example.com' "$work/maps/sender_access"; ok $? "the global sender_access does not hold bob's address" "$(cat "$work/maps/sender_access")"
out=$(expect 'REFUSED 450' --auth alice@example.com:alice-pw --sender bob@example.com --to dave@example.org)
grep -q 'REFUSED 450 4\.7\.1 .*sending locked' <<<"$out"; ok $? "alice is refused with the locked sender" "$out"
out=$(send --auth alice@example.com:alice-pw --sender alice@example.com --to dave@example.org)
grep -q '^SENT' <<<"$out"; ok $? "alice relays with her other senders" "$out"
out=$(send --auth bob@example.com:bob-pw --sender bob@example.com --to dave@example.org)
grep -q '^SENT' <<<"$out"; ok $? "bob relays with his own address, locked in alice's mail" "$out"
"$RG" -c "$work/rg.ini" users --json > "$work/users1.json"
! grep '"user":"bob@example.com"' "$work/users1.json" | grep -q '"locks":\[{'; ok $? "users shows bob unlocked" "$(grep bob "$work/users1.json")"

# 2. a never_lock address used by alice
"$RG" -c "$work/rg.ini" lock identity alice@example.com/carol@example.net --reason "spam with carol's address" > "$work/l2.out" 2>&1
out=$(expect 'REFUSED 450' --auth alice@example.com:alice-pw --sender carol@example.net --to dave@example.org)
grep -q 'REFUSED 450 4\.7\.1' <<<"$out"; ok $? "alice is refused with the never_lock user's address" "$out"
out=$(send --auth carol@example.net:carol-pw --sender carol@example.net --to dave@example.org)
grep -q '^SENT' <<<"$out"; ok $? "the never_lock user relays with its own address" "$out"

# 3. a second user's identity lock, in another class: an IP user (cidr map,
#    reload), with a nested IP user of its own inside its network
"$RG" -c "$work/rg.ini" lock identity 127.0.0.10/31/app@tenant7.example --reason "spam" --for 1h > "$work/l3.out" 2>&1
grep -q 'action=class user="127.0.0.10/31" class=rg_c1' "$work/l3.out"; ok $? "the IP user is given the second class" "$(cat "$work/l3.out")"
grep -q 'action=reload' "$work/l3.out"; ok $? "the changed cidr map reloads Postfix" "$(cat "$work/l3.out")"
grep -qx $'127.0.0.10/31\trg_c1' "$work/maps/client_access" && grep -qx $'127.0.0.11/32\tDUNNO' "$work/maps/client_access"
ok $? "client_access: the network answers its class, the nested user DUNNO" "$(cat "$work/maps/client_access")"
grep -q '^app@tenant7.example' "$work/maps/rg_senders_1" && ! grep -q 'tenant7' "$work/maps/rg_senders_0"
ok $? "each class's table holds its own user's identities only"
out=$(expect 'REFUSED 450' --from-ip 127.0.0.10 --sender app@tenant7.example --to lee@example.org)
grep -q 'REFUSED 450 4\.7\.1 .*sending locked' <<<"$out"; ok $? "the IP user is refused with its locked sender" "$out"
out=$(send --from-ip 127.0.0.10 --sender other@tenant7.example --to lee@example.org)
grep -q '^SENT' <<<"$out"; ok $? "the IP user relays with another sender" "$out"
out=$(send --from-ip 127.0.0.11 --sender app@tenant7.example --to lee@example.org)
grep -q '^SENT' <<<"$out"; ok $? "the nested IP user relays with that sender" "$out"
out=$(send --auth alice@example.com:alice-pw --sender app@tenant7.example --to lee@example.org)
grep -q '^SENT' <<<"$out"; ok $? "alice relays with the IP user's locked sender" "$out"
out=$(send --auth alice@example.com:alice-pw --sender bob@example.com --to dave@example.org)
grep -q '^REFUSED 450' <<<"$out"; ok $? "alice's own lock still holds" "$out"

# 4. a user lock wins over the class
"$RG" -c "$work/rg.ini" lock user alice@example.com --reason "whole user" --for 1h > /dev/null 2>&1
out=$(expect 'REFUSED 450' --auth alice@example.com:alice-pw --sender alice@example.com --to dave@example.org)
grep -q 'REFUSED 450 4\.7\.1 .*by the administrator' <<<"$out"; ok $? "alice's user lock refuses all her mail" "$out"
"$RG" -c "$work/rg.ini" unlock user alice@example.com > /dev/null 2>&1
out=$(expect SENT --auth alice@example.com:alice-pw --sender alice@example.com --to dave@example.org)
grep -q '^SENT' <<<"$out"; ok $? "after the user unlock alice relays again" "$out"
out=$(send --auth alice@example.com:alice-pw --sender bob@example.com --to dave@example.org)
grep -q '^REFUSED 450' <<<"$out"; ok $? "and her identity lock is back in her class" "$out"

# 5. the pool is used up: the third user is locked whole, never globally
"$RG" -c "$work/rg.ini" lock identity dave@example.com/x@spam.example --reason "spam" > "$work/l5.out" 2>&1
grep -q 'action=alert kind=identity_classes user="dave@example.com" classes=2 identities=1' "$work/l5.out"
ok $? "no class left: an alert line" "$(cat "$work/l5.out")"
! grep -q 'spam.example' "$work/maps/sender_access"; ok $? "the global sender_access still holds no identity"
out=$(expect 'REFUSED 450' --auth dave@example.com:dave-pw --sender dave@example.com --to lee@example.org)
grep -q 'REFUSED 450 4\.7\.1 .*sending locked' <<<"$out"; ok $? "dave's whole mail is refused" "$out"
out=$(send --auth bob@example.com:bob-pw --sender x@spam.example --to lee@example.org)
grep -q '^SENT' <<<"$out"; ok $? "bob relays with dave's locked sender" "$out"
"$RG" -c "$work/rg.ini" analyze > "$work/a5.out" 2>&1
grep -q 'action=alert kind=identity_classes user="dave@example.com"' "$work/a5.out"; ok $? "the alert repeats at each run" "$(cat "$work/a5.out")"

# 6. the unlock: alice relays again; her class rests one run, then dave has it
"$RG" -c "$work/rg.ini" unlock identity alice@example.com/bob@example.com > "$work/u6.out" 2>&1
"$RG" -c "$work/rg.ini" unlock identity alice@example.com/carol@example.net >> "$work/u6.out" 2>&1
grep -q 'action=class_release user="alice@example.com" class=rg_c0' "$work/u6.out"; ok $? "alice's class is given back" "$(cat "$work/u6.out")"
out=$(expect SENT --auth alice@example.com:alice-pw --sender bob@example.com --to dave@example.org)
grep -q '^SENT' <<<"$out"; ok $? "after the unlock alice relays with bob's address" "$out"
"$RG" -c "$work/rg.ini" analyze --dry-run > "$work/d6.out" 2>&1
grep -q 'action=class user="dave@example.com" class=rg_c0 identities=1 dry_run=yes' "$work/d6.out" && grep -q '^x@spam.example' "$work/d6.out"
ok $? "a dry run shows the class it would give, and its table" "$(grep -v '^#' "$work/d6.out" | head -c 400)"
"$RG" -c "$work/rg.ini" analyze > "$work/a6.out" 2>&1
grep -q 'action=class user="dave@example.com" class=rg_c0' "$work/a6.out"; ok $? "the next run gives dave the free class" "$(cat "$work/a6.out")"
out=$(expect SENT --auth dave@example.com:dave-pw --sender dave@example.com --to lee@example.org)
grep -q '^SENT' <<<"$out"; ok $? "dave relays again with his own address" "$out"
out=$(send --auth dave@example.com:dave-pw --sender x@spam.example --to lee@example.org)
grep -q '^REFUSED 450 4\.7\.1' <<<"$out"; ok $? "dave is refused with his locked sender only" "$out"

# 7. assignments are stable: a run with nothing new changes nothing
"$RG" -c "$work/rg.ini" analyze > "$work/a7.out" 2>&1
! grep -q 'action=\(class\|map\|alert\)' "$work/a7.out"; ok $? "a quiet run keeps every class and map" "$(cat "$work/a7.out")"
exit 0
