#!/bin/bash
# wiring.sh - postfix-config and check-postfix against a real Postfix that
# has a mind of its own: main.cf with the relay's own recipient
# restrictions, a master.cf submission service that overrides them (-o),
# no content filter. postfix-config's output appended to main.cf must
# parse; --merge must keep the relay's restrictions in order and still
# lock; check-postfix must find the override; enforce = dry-run must let a
# locked sender through with a reject_warning, and enforce = yes refuse it.
set -u
top=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
suite=wiring
RG0=${RELAYGUARD:-$top/build/relayguard}
[ -x "$RG0" ] || { echo "FAIL: $suite: no relayguard binary at $RG0"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: $suite: needs root to run a private Postfix"; exit 0; }
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/wire.sh"
work=$(mktemp -d /tmp/rg-wiring.XXXXXX); chmod 755 "$work"
cp "$RG0" "$work/relayguard"; RG=$work/relayguard
cleanup() { pf_stop; [ "${RG_KEEP:-0}" = 1 ] && echo "kept $work" >&2 || rm -rf "$work"; }
trap cleanup EXIT
trap "exit 130" INT TERM HUP
ok() { if [ "$1" = 0 ]; then echo "PASS: $suite: $2"; else echo "FAIL: $suite: $2${3:+: $3}"; fi; }
send() { /usr/bin/python3 "$top/tests/lib/send.py" "$@" 2>&1; }

pf_start "$work/pf" 2> "$work/pf.err" || { cat "$work/pf.err"; echo "FAIL: $suite: Postfix did not start"; exit 1; }
# the relay's own rules: a recipient it refuses, before the permits
printf 'blocked@example.org REJECT refused by the relay'"'"'s own rule\n' > "$PF_CONF/rcpt_block"
pf_postconf -e "smtpd_recipient_restrictions = reject_non_fqdn_recipient, check_recipient_access texthash:$PF_CONF/rcpt_block, permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination"
# the submission service overrides the lists (as Debian's commented master.cf does)
sub=127.0.0.1:$PF_SUBMISSION_PORT/inet
pf_postconf -P "$sub/smtpd_recipient_restrictions=permit_sasl_authenticated,reject"
pf_postconf -P "$sub/smtpd_relay_restrictions=permit_sasl_authenticated,reject"
postfix -c "$PF_CONF" reload > /dev/null 2>&1
cat > "$work/rg.ini" <<INI
[global]
database = $work/rg.db
map_directory = $work/maps
postfix_config_directory = $PF_CONF
admin_contact = abuse@example.org
[parse]
timezone = UTC
[source postfix]
path = $PF_LOG
[user "alice@example.com"]
[user "bob@example.com"]
[user "127.0.0.20"]
type = ip
auto_lock = no
identification = header
identity_headers = X-Client-ID
INI
"$RG" -c "$work/rg.ini" init > /dev/null && "$RG" -c "$work/rg.ini" analyze > "$work/a0.out" 2>&1
ok $? "init and a first analyze" "$(head -c 300 "$work/a0.out")"
miss=
for m in header_static smtp_header_checks milter_header_checks; do
    [ -f "$work/maps/$m" ] || miss="$miss $m"
done
[ -z "$miss" ]; ok $? "analyze writes the fixed maps postfix-config names (header_static, smtp_header_checks, milter_header_checks)" "missing:$miss"

# aged FILE: a main.cf the test wrote, complete, made older: Postfix reads a
# main.cf whose mtime is not before the read began again after a second
# (2 s per postconf on a new one, measured)
aged() { touch -d '-1 minute' "$@"; }

# 1. every line printed is a main.cf line: appended as it is, postconf reads it
for opt in "" --merge --filter; do
    d=$work/append${opt:+-${opt#--}}
    mkdir -p "$d"; cp "$PF_CONF/main.cf" "$PF_CONF/master.cf" "$d/"
    "$RG" -c "$work/rg.ini" postfix-config $opt >> "$d/main.cf"; aged "$d/main.cf"
    postconf -c "$d" -n > "$d/n.out" 2> "$d/n.err"; rc=$?
    [ $rc = 0 ] && ! grep -q "missing '='" "$d/n.err"
    ok $? "postfix-config $opt appended to main.cf: postconf reads it (exit $rc)" "$(head -c 300 "$d/n.err")"
done
grep -q '^smtpd_milters = inet:localhost:11332$' "$work/append-filter/n.out" \
    && grep -q "^milter_header_checks = pcre:$work/maps/milter_header_checks" "$work/append-filter/n.out"
ok $? "postfix-config --filter wires rspamd's proxy as a milter"
grep -q '^enable_long_queue_ids = yes' "$work/append/n.out"; ok $? "postfix-config sets enable_long_queue_ids = yes"
"$RG" -c "$work/rg.ini" postfix-config --master | grep -q '^127.0.0.1:10587 inet n - n - - smtpd$'
ok $? "the master.cf service for relayguard's own mail is printed by --master"

# 2. check-postfix before wiring: the missing checks, the warnings, postconf's own words
"$RG" -c "$work/rg.ini" check-postfix > "$work/cp0.out" 2>&1; rc=$?
[ $rc = 1 ] && grep -q 'enable_long_queue_ids is not yes' "$work/cp0.out" \
    && grep -q 'no verdict source.*without verdicts there are no spam locks' "$work/cp0.out" \
    && grep -q '^note: mail submitted with sendmail' "$work/cp0.out"
ok $? "check-postfix: locks missing, short queue IDs, no verdict source, sendmail (exit $rc)" "$(cat "$work/cp0.out")"
sed "s|^postfix_config_directory = .*|postfix_config_directory = $work/broken|" "$work/rg.ini" > "$work/rg-broken.ini"
mkdir -p "$work/broken"; cp "$PF_CONF/main.cf" "$PF_CONF/master.cf" "$work/broken/"
printf '/^X-Client-ID:/ INFO\n' >> "$work/broken/main.cf"; aged "$work/broken/main.cf"
"$RG" -c "$work/rg-broken.ini" check-postfix > "$work/cpb.out" 2>&1; rc=$?
[ $rc = 69 ] && grep -q "line [0-9]*: missing '=' after attribute name" "$work/cpb.out"
ok $? "check-postfix relays postconf's own message (exit $rc)" "$(cat "$work/cpb.out")"

# 3. --merge keeps the relay's list, in order, with relayguard's checks before the first permit
rg_wire_postfix "$RG" "$work/rg.ini" "$work" --merge; ok $? "Postfix takes postfix-config --merge's lines"
cp "$work/postfix-config.out" "$work/merge1.out"
M=$work/maps
expect="reject_non_fqdn_recipient
check_recipient_access texthash:$PF_CONF/rcpt_block
check_sasl_access hash:$M/archive_sasl
check_client_access cidr:$M/archive_client
check_recipient_access hash:$M/admin_access
check_sasl_access hash:$M/sasl_access
check_client_access cidr:$M/client_access
check_sender_access hash:$M/sender_access
check_sender_access pcre:$M/sender_access_pcre
permit_mynetworks
permit_sasl_authenticated
reject_unauth_destination"
got=$(pf_postconf -h smtpd_recipient_restrictions | sed 's/, */\n/g')
[ "$got" = "$expect" ]; ok $? "the merged list: the relay's own restrictions in order, relayguard's before the permits" "$got"
"$RG" -c "$work/rg.ini" postfix-config --merge > "$work/merge2.out"
lst() { sed -n '/^smtpd_recipient_restrictions =/,/^[^ ]/p' "$1" | sed '$d'; }
[ -n "$(lst "$work/merge2.out")" ] && [ "$(lst "$work/merge1.out")" = "$(lst "$work/merge2.out")" ]
ok $? "--merge on a merged list gives the same list (idempotent)" "$(diff <(lst "$work/merge1.out") <(lst "$work/merge2.out"))"
[ "$(lst "$work/merge2.out" | grep -c 'archive_sasl')" = 1 ]; ok $? "no duplicates after a second merge" "$(lst "$work/merge2.out")"

# 4. the master.cf override: check-postfix finds it; --merge prints the postconf -P line
"$RG" -c "$work/rg.ini" check-postfix > "$work/cp1.out" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "^master.cf: $sub -o smtpd_recipient_restrictions does not list $M/sasl_access" "$work/cp1.out"
ok $? "check-postfix names the service whose -o smtpd_recipient_restrictions skips the locks (exit $rc)" "$(cat "$work/cp1.out")"
grep -q "^#   postconf -c $PF_CONF -P '$sub/smtpd_recipient_restrictions=check_sasl_access,hash:$M/archive_sasl," "$work/merge1.out"
ok $? "--merge prints the postconf -P line for that service" "$(grep -A3 '^# master.cf' "$work/merge1.out")"
apply_p() { sed -n 's/^#   postconf /postconf /p' "$1" > "$work/p.sh"; bash "$work/p.sh" && postfix -c "$PF_CONF" reload > /dev/null 2>&1; }
apply_p "$work/merge1.out"; ok $? "the postconf -P line runs"
"$RG" -c "$work/rg.ini" check-postfix > "$work/cp2.out" 2>&1; rc=$?
[ $rc = 0 ] && ! grep -q 'enable_long_queue_ids' "$work/cp2.out" && grep -q '^Postfix at .* is wired' "$work/cp2.out"
ok $? "check-postfix is satisfied after the merge and the -P line (exit $rc)" "$(cat "$work/cp2.out")"
"$RG" -c "$work/rg.ini" postfix-config --merge > "$work/merge3.out"
[ "$(sed -n 's/^#   postconf //p' "$work/merge1.out")" = "$(sed -n 's/^#   postconf //p' "$work/merge3.out")" ]
ok $? "the -P line is idempotent too" "$(grep '^#   postconf' "$work/merge3.out")"

# 5. the lock still refuses, on both services; the relay's own rule still answers
"$RG" -c "$work/rg.ini" lock user alice@example.com --reason "wiring test" > /dev/null 2>&1
for port in "$PF_PORT" "$PF_SUBMISSION_PORT"; do
    out=$(send --port "$port" --auth alice@example.com:alice-pw --sender alice@example.com --to dave@example.org)
    grep -q 'REFUSED 450 4\.7\.1 .*sending locked' <<<"$out"; ok $? "the merged lock refuses alice on port $port" "$out"
done
out=$(send --port "$PF_PORT" --auth bob@example.com:bob-pw --sender bob@example.com --to blocked@example.org)
grep -q "REFUSED 554 .*refused by the relay's own rule" <<<"$out"; ok $? "the relay's own restriction still refuses its recipient" "$out"
out=$(send --port "$PF_SUBMISSION_PORT" --auth bob@example.com:bob-pw --sender bob@example.com --to dave@example.org)
grep -q '^SENT' <<<"$out"; ok $? "bob still relays through the submission service" "$out"
# an envelope-sender identity lock: bob's restriction class
"$RG" -c "$work/rg.ini" lock identity bob@example.com/spoof@example.net --reason "wiring test" > /dev/null 2>&1
spoof() { send --port "$PF_PORT" --auth bob@example.com:bob-pw --sender spoof@example.net --to dave@example.org; }
out=$(spoof); grep -q 'REFUSED 450 4\.7\.1 .*sending locked' <<<"$out"; ok $? "the identity lock (a restriction class) refuses bob's spoof@ sender" "$out"
# a header identity lock: a header_checks rule (pcre: reloaded by lock)
"$RG" -c "$work/rg.ini" lock identity 127.0.0.20/tenant-9 --reason "wiring test" > /dev/null 2>&1
tenant() { send --port "$PF_PORT" --from-ip 127.0.0.20 --sender app@tenant.example --to dave@example.org --header "X-Client-ID: tenant-9"; }
out=$(tenant); grep -q 'REFUSED 451 4\.7\.1 .*sending locked' <<<"$out"; ok $? "the header identity lock refuses tenant-9" "$out"

# 6. enforce = dry-run: decided and shown, Postfix only warns (warn_if_reject)
sed -i 's/^\[global\]$/[global]\nenforce = dry-run/' "$work/rg.ini"
"$RG" -c "$work/rg.ini" check-postfix > "$work/cp3.out" 2>&1; rc=$?
[ $rc = 1 ] && grep -q 'enforce = dry-run: Postfix refuses instead of warning' "$work/cp3.out"
ok $? "check-postfix: enforce = dry-run but Postfix enforces (exit $rc)" "$(head -c 400 "$work/cp3.out")"
rg_wire_postfix "$RG" "$work/rg.ini" "$work" --merge; ok $? "Postfix takes the dry-run lines"
apply_p "$work/postfix-config.out"; ok $? "the dry-run -P line runs"
pf_postconf -h smtpd_recipient_restrictions | grep -q "warn_if_reject check_sasl_access hash:$M/sasl_access"
ok $? "dry-run: the lock checks are under warn_if_reject" "$(pf_postconf -h smtpd_recipient_restrictions)"
"$RG" -c "$work/rg.ini" check-postfix > "$work/cp4.out" 2>&1; ok $? "check-postfix is satisfied with the dry-run wiring" "$(cat "$work/cp4.out")"
grep -q '^note: enforce = dry-run' "$work/cp4.out"; ok $? "check-postfix notes the dry-run" "$(cat "$work/cp4.out")"
"$RG" -c "$work/rg.ini" analyze > "$work/a1.out" 2>&1
grep -q '^enforce=dry-run' "$work/a1.out"; ok $? "analyze says dry-run" "$(head -c 300 "$work/a1.out")"
grep -q 'tenant.*/ WARN sending locked' "$M/header_checks"; ok $? "dry-run: the header identity lock is a WARN rule" "$(cat "$M/header_checks")"
out=$(tenant); grep -q '^SENT' <<<"$out"; ok $? "dry-run: the locked header identity is accepted" "$out"
"$RG" -c "$work/rg.ini" users > "$work/u1.out" 2>&1
grep -q 'dry-run' "$work/u1.out" && grep -q '^alice@example.com .*locked' "$work/u1.out"; ok $? "users shows the lock and dry-run" "$(cat "$work/u1.out")"
"$RG" -c "$work/rg.ini" users --json | grep -q '"user":"alice@example.com".*"dry_run":true'; ok $? "users --json marks the lock dry_run"
for port in "$PF_PORT" "$PF_SUBMISSION_PORT"; do
    out=$(send --port "$port" --auth alice@example.com:alice-pw --sender alice@example.com --to dave@example.org)
    grep -q '^SENT' <<<"$out"; ok $? "dry-run: the locked alice is accepted on port $port" "$out"
done
out=$(spoof); grep -q '^SENT' <<<"$out"; ok $? "dry-run: the locked identity is accepted through its class" "$out"
pf_flush_log --marker 10 > /dev/null
n=$(grep -c 'reject_warning: RCPT from .*450 4\.7\.1 .*sending locked.*from=<alice@example.com>' "$PF_LOG")
[ "$n" = 2 ]; ok $? "dry-run: Postfix logged a reject_warning for each ($n)" "$(grep reject_warning "$PF_LOG" | tail -3)"
grep -q 'reject_warning: RCPT from .*450 4\.7\.1 .*sending locked.*from=<spoof@example.net>' "$PF_LOG"
ok $? "dry-run: and one for the identity lock inside the class" "$(grep reject_warning "$PF_LOG" | tail -3)"
grep -q 'warning: header X-Client-ID: tenant-9 .*sending locked' "$PF_LOG"
ok $? "dry-run: Postfix logged the header identity's warning" "$(grep 'tenant-9' "$PF_LOG" | tail -2)"

# 7. back to enforce = yes: refused again
sed -i '/^enforce = dry-run$/d' "$work/rg.ini"
rg_wire_postfix "$RG" "$work/rg.ini" "$work" --merge && apply_p "$work/postfix-config.out"; ok $? "Postfix takes the enforcing lines again"
! pf_postconf -h smtpd_recipient_restrictions | grep -q warn_if_reject; ok $? "enforce = yes: no warn_if_reject left"
for port in "$PF_PORT" "$PF_SUBMISSION_PORT"; do
    out=$(send --port "$port" --auth alice@example.com:alice-pw --sender alice@example.com --to dave@example.org)
    grep -q 'REFUSED 450 4\.7\.1 .*sending locked' <<<"$out"; ok $? "enforce = yes: alice is refused again on port $port" "$out"
done
out=$(spoof); grep -q 'REFUSED 450 4\.7\.1 .*sending locked' <<<"$out"; ok $? "enforce = yes: the identity lock refuses again" "$out"
"$RG" -c "$work/rg.ini" analyze > /dev/null 2>&1
out=$(tenant); grep -q 'REFUSED 451 4\.7\.1 .*sending locked' <<<"$out"; ok $? "enforce = yes: after analyze the header identity is refused again" "$out"
"$RG" -c "$work/rg.ini" check-postfix > "$work/cp5.out" 2>&1; ok $? "check-postfix is satisfied again" "$(cat "$work/cp5.out")"

# 8. a verdict source: the filter wiring and a [source] for rspamd's log quiet the warning
sed "s|^postfix_config_directory = .*|postfix_config_directory = $work/append-filter|" "$work/rg.ini" > "$work/rg-f.ini"
printf '[source rspamd]\npath = %s/rspamd.log\n' "$work" >> "$work/rg-f.ini"
"$RG" -c "$work/rg-f.ini" check-postfix > "$work/cpf.out" 2>&1
! grep -q '^warning:.*verdict' "$work/cpf.out"; ok $? "with --filter's lines and rspamd's log collected, no verdict warning" "$(grep '^warning:.*verdict' "$work/cpf.out")"
sed -i '/^\[source rspamd\]/,$d' "$work/rg-f.ini"
"$RG" -c "$work/rg-f.ini" check-postfix > "$work/cpf2.out" 2>&1
grep -q "no \[source\] reads the content filter's log" "$work/cpf2.out"; ok $? "a milter but no [source] for its log: warned" "$(cat "$work/cpf2.out")"
exit 0
