#!/bin/bash
# tests/suites/cron.sh - the collect-and-analyze line of samples/relayguard.cron
# run as cron would run it (the line itself, taken from the file), and what
# surrounds it:
#   - a source that cannot be read (a missing rspamd log) does not stop the
#     analysis: collect warns, exits 0, analyze runs and alerts once
#     (rule=source_unreadable), again only after the source came back;
#   - the overlap guard: while another collector holds DATABASE.lock the
#     line waits (--wait), then leaves without collecting or analyzing;
#   - collect --follow opens a source that appears later;
#   - samples/logrotate.d/relayguard rotates the log the line writes.
# Substitutions in the cron line (documented here, nothing else changes):
# the installed binary and configuration become the ones under test, the
# log /var/log/relayguard.log a private file, "--wait 50s" "--wait 2s" in
# the overlap case, and the "[ ! -d /run/systemd/system ] &&" guard (it only
# keeps cron quiet where systemd runs) is dropped.
set -u
top=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
RG=${RELAYGUARD:-$top/build/relayguard}
suite=cron
work=$(mktemp -d /tmp/rg-cron.XXXXXX) || exit 1
fpid=
trap '[ -n "$fpid" ] && kill "$fpid" 2>/dev/null; rm -rf "$work"' EXIT

ok() { echo "PASS: $suite: $1"; }
ko() { echo "FAIL: $suite: $1${2:+: $2}"; }
check() { if eval "$2"; then ok "$1"; else ko "$1" "${3:-}"; fi; }

mkdir -p "$work/maps"
: > "$work/main.cf"
cp "$top/samples/relay.log" "$work/mail.log"
cat > "$work/rg.ini" <<EOF2
[global]
database = $work/rg.db
map_directory = $work/maps
postfix_config_directory = $work
admin_contact = abuse@example.org
[mail]
send_after_analyze = no
[parse]
year = 2026
timezone = UTC
[source postfix]
path = $work/mail.log
[source rspamd]
path = $work/rspamd.log
[user "alice@example.com"]
EOF2
"$RG" -c "$work/rg.ini" init > /dev/null 2>&1 || { ko "init"; exit 1; }

# the line, from the file
line=$(grep -E '^\* \* \* \* \* root .* collect --once' "$top/samples/relayguard.cron" | head -1)
[ -n "$line" ] || { ko "samples/relayguard.cron has a collect line"; exit 0; }
cmd=${line#* \* \* \* \* root }
cmd=${cmd#\[ ! -d /run/systemd/system \] && }
cmd=${cmd//\/usr\/local\/bin\/relayguard/$RG}
cmd=${cmd//\/etc\/relayguard\/relayguard.ini/$work/rg.ini}
cmd=${cmd//\/var\/log\/relayguard.log/$work/relayguard.log}
echo "$cmd" > "$work/line.sh"

alerts() { sqlite3 "$work/rg.db" "SELECT count(*) FROM events WHERE action = 'alert' AND rule = 'source_unreadable' AND user = 'rspamd'"; }

# ---- 1. rspamd's log is missing: analysis goes on, the operator is told
bash "$work/line.sh"; rc=$?
check "the cron line with rspamd's log missing exits 0" "[ $rc = 0 ]" "exit $rc: $(tail -3 "$work/relayguard.log")"
check "... and analyze ran (its decision lines are in the log)" \
    "grep -q '^action=map name=sasl_access' '$work/relayguard.log'" "$(tail -5 "$work/relayguard.log")"
check "... and the log says which source is missing, with the severity word" \
    "grep -q '^relayguard: warning: \[source rspamd\] .*rspamd.log: No such file' '$work/relayguard.log'"
check "... and analyze alerts the operator (action=alert rule=source_unreadable, queued for admin_contact)" \
    "grep -q '^action=alert kind=source user=\"rspamd\" rule=source_unreadable' '$work/relayguard.log' && [ \"\$(sqlite3 '$work/rg.db' \"SELECT count(*) FROM outbox WHERE subject LIKE '%source rspamd cannot be read%'\")\" = 1 ]" \
    "$(grep alert "$work/relayguard.log")"
bash "$work/line.sh"; bash "$work/line.sh"
check "three runs with the source still missing: one alert, a warning each run" \
    "[ \"\$(alerts)\" = 1 ] && [ \$(grep -c 'warning: \[source rspamd\]' '$work/relayguard.log') = 3 ]" "alerts $(alerts)"
: > "$work/rspamd.log"
bash "$work/line.sh"
rm "$work/rspamd.log"
bash "$work/line.sh"
check "readable in between, then missing again: a second alert" "[ \"\$(alerts)\" = 2 ]" "alerts $(alerts)"
rows=$(sqlite3 "$work/rg.db" "SELECT count(*) FROM messages")
check "the postfix source was stored meanwhile ($rows rows)" "[ '$rows' -gt 10 ]"

# ---- 2. the overlap guard: another collector holds the lock
sed 's/--wait 50s/--wait 2s/' "$work/line.sh" > "$work/line2.sh"
grep -q -- '--wait 2s' "$work/line2.sh" || ko "the cron line uses collect --wait"
flock "$work/rg.db.lock" sh -c 'touch "$1/held"; while [ ! -e "$1/release" ]; do sleep 0.05; done' sh "$work" & hp=$!
while [ ! -e "$work/held" ]; do sleep 0.05; done
n0=$(grep -c '^action=map name=sasl_access' "$work/relayguard.log")
t0=$(date +%s.%N)
bash "$work/line2.sh"; rc=$?
el=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
touch "$work/release"; wait "$hp"
n1=$(grep -c '^action=map name=sasl_access' "$work/relayguard.log")
check "while another collector holds DATABASE.lock the line waits (--wait: ${el} s), exits 75, and runs no analyze" \
    "[ $rc = 75 ] && [ '$n0' = '$n1' ] && awk -v e='$el' 'BEGIN { exit !(e >= 1.9) }'" "exit $rc, analyze runs $n0 -> $n1, ${el} s"
check "... and says another collector is writing" "grep -q 'another collector' '$work/relayguard.log'"

# ---- 3. collect --follow opens a source that appears later
cat > "$work/f.ini" <<EOF2
[global]
database = $work/f.db
map_directory = $work/fmaps
postfix_config_directory = $work
[parse]
year = 2026
timezone = UTC
[collect]
batch_interval = 1s
[source postfix]
path = $work/late.log
EOF2
mkdir -p "$work/fmaps"
"$RG" -c "$work/f.ini" init > /dev/null 2>&1
"$RG" -c "$work/f.ini" collect --follow 2> "$work/follow.err" & fpid=$!
# it is running and has said that the source is missing
for _ in $(seq 200); do grep -q 'late.log' "$work/follow.err" && break; sleep 0.05; done
head -n 20 "$top/samples/relay.log" > "$work/late.log"
t0=$SECONDS; n=0
while [ $((SECONDS - t0)) -lt 60 ]; do
    n=$(sqlite3 "$work/f.db" "SELECT count(*) FROM sessions" 2>/dev/null || echo 0)
    [ "${n:-0}" -gt 0 ] && break
    sleep 0.2
done
kill "$fpid"; wait "$fpid"; frc=$?; fpid=
check "collect --follow reads a source that did not exist when it started (after $((SECONDS - t0)) s; at most 10 s apart tries)" \
    "[ '${n:-0}' -gt 0 ]" "$(cat "$work/follow.err")"
check "... and exits 0 on SIGTERM" "[ $frc = 0 ]" "exit $frc"

# ---- 4. logrotate rotates the log the line writes
sed "s|/var/log/relayguard.log|$work/relayguard.log|" "$top/samples/logrotate.d/relayguard" > "$work/logrotate.conf"
sed -i "s|create 0640 root adm|create 0640 root root|" "$work/logrotate.conf"
logrotate -d -s "$work/lr.state" "$work/logrotate.conf" > "$work/lr.debug" 2>&1; rc=$?
check "logrotate -d accepts samples/logrotate.d/relayguard" "[ $rc = 0 ] && ! grep -qi 'error' '$work/lr.debug'" "$(head -5 "$work/lr.debug")"
logrotate -f -s "$work/lr.state" "$work/logrotate.conf" 2> "$work/lr.err"
bash "$work/line.sh"
check "after a rotation the next cron run writes a new log (the old one is relayguard.log.1)" \
    "[ -s '$work/relayguard.log.1' ] && grep -q 'warning: \[source rspamd\]' '$work/relayguard.log' && [ \$(wc -l < '$work/relayguard.log') -lt \$(wc -l < '$work/relayguard.log.1') ]" "$(cat "$work/lr.err")"
exit 0
