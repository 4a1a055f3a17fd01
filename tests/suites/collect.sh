#!/bin/bash
# collect.sh - the collector on the project's own sample log: incremental
# runs equal one parse, follow mode and signals, bad databases and sources,
# retention, messages and stats.
set -u
RG=${RELAYGUARD:-$TOP/build/relayguard}
t=$(mktemp -d /tmp/rg-collect.XXXXXX); chmod 755 "$t"
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; chattr -i "$t/imm" 2>/dev/null; rm -rf "$t"' EXIT
S=$TOP/samples/relay.log
n=$(wc -l < "$S")

conf() {    # conf NAME [extra lines...]: a config reading $t/NAME.log into $t/NAME.db
    local name=$1; shift
    {
        printf '[global]\ndatabase = %s/%s.db\n[parse]\nyear = 2026\ntimezone = UTC\n' "$t" "$name"
        printf '[collect]\nbatch_lines = 7\n'
        printf '[source postfix]\npath = %s/%s.log\n' "$t" "$name"
        for l in "$@"; do printf '%s\n' "$l"; done
    } > "$t/$name.ini"
}
dump() { "$RG" dump messages --database "$t/$1.db" | LC_ALL=C sort; }
ok() { if [ "$1" = 0 ]; then echo "PASS: collect: $2"; else echo "FAIL: collect: $2${3:+: $3}"; fi; }

# 1. one run over the whole log stores what parse prints
conf one
cp "$S" "$t/one.log"
"$RG" -c "$t/one.ini" collect --once --quiet; rc=$?
ok $rc "collect --once exits 0"
"$RG" -c "$t/one.ini" parse "$t/one.log" | sort > "$t/one.parse"
# parse closes at the end of input what the collector keeps open for its
# next run (a queue ID whose client left after RCPT is closed 5 s of log
# time after its session ends): leave those out of the comparison
ab=$(grep '"aborted":true' "$t/one.parse" | grep -o '"queue_id":"[^"]*"' | paste -sd'|')
if diff <(dump one | grep -Ev "${ab:-^$}") <(grep -Ev "${ab:-^$}" "$t/one.parse") > "$t/d1"; then
    ok 0 "the database holds the records parse prints ($(dump one | wc -l))"
else
    ok 1 "the database holds the records parse prints" "$(head -c 300 "$t/d1")"
fi

# 2. the same log fed in pieces over 6 runs gives the same database
conf inc
: > "$t/inc.log"
step=$(( (n + 5) / 6 ))
for i in 0 1 2 3 4 5; do
    sed -n "$((i * step + 1)),$(((i + 1) * step))p" "$S" >> "$t/inc.log"
    "$RG" -c "$t/inc.ini" collect --once --quiet || echo "FAIL: collect: incremental run $i exited $?"
done
if cmp -s <(dump one) <(dump inc); then ok 0 "six incremental runs equal one run"
else ok 1 "six incremental runs equal one run" "$(diff <(dump one) <(dump inc) | head -c 300)"; fi
# a further run with nothing new changes nothing
before=$(sqlite3 "$t/inc.db" "SELECT offset FROM sources")
"$RG" -c "$t/inc.ini" collect --once --quiet
after=$(sqlite3 "$t/inc.db" "SELECT offset FROM sources")
[ "$before" = "$after" ] && [ "$after" = "$(stat -c %s "$t/inc.log")" ]; ok $? "a run with nothing new reads nothing (offset $after)"

# a line cut in the middle (the writer is still at it) waits for its end
conf cut
head -c 1010 "$S" > "$t/cut.log"
[ "$(tail -c 1 "$t/cut.log")" != "" ] || echo "FAIL: collect: test setup: the cut falls on a newline"
"$RG" -c "$t/cut.ini" collect --once --quiet
off=$(sqlite3 "$t/cut.db" "SELECT offset FROM sources")
last_nl=$(head -c 1010 "$S" | tr -dc '\n' | wc -c)
[ "$off" -lt 1010 ] && [ "$off" = "$(head -n "$last_nl" "$S" | wc -c)" ]; ok $? "a half-written last line is not consumed (offset $off)"
# and it is read whole once the writer has finished it
head -n "$((last_nl + 1))" "$S" > "$t/cut.log"
"$RG" -c "$t/cut.ini" collect --once --quiet
[ "$(sqlite3 "$t/cut.db" "SELECT offset FROM sources")" = "$(stat -c %s "$t/cut.log")" ]; ok $? "the finished line is read on the next run"

# a renamed file written to after the collector left it (postlogd writes
# to the old file until "postfix reload"): that tail is read the next time
conf ren
sed -n 1,50p "$S" > "$t/ren.log"; "$RG" -c "$t/ren.ini" collect --once --quiet
mv "$t/ren.log" "$t/ren.log.1"; sed -n 51,60p "$S" >> "$t/ren.log.1"; sed -n 61,100p "$S" > "$t/ren.log"
"$RG" -c "$t/ren.ini" collect --once --quiet
sed -n 101,110p "$S" >> "$t/ren.log.1"; sed -n 111,\$p "$S" >> "$t/ren.log"
"$RG" -c "$t/ren.ini" collect --once --quiet
got=$(sqlite3 "$t/ren.db" "SELECT lines FROM sources")
[ "$got" = "$n" ]; ok $? "lines appended to a renamed file after the collector left it are read ($got of $n)"

# a run killed (SIGKILL) after a batch of such a late tail, then a run to
# the end: no line lost, none read twice (the position stored with each
# batch says how far the new file and the renamed one's tail were read)
conf rk
sed -n 1,50p "$S" > "$t/rk.log"; "$RG" -c "$t/rk.ini" collect --once --quiet
mv "$t/rk.log" "$t/rk.log.1"; sed -n 51,100p "$S" > "$t/rk.log"
for _ in 1 2 3; do    # until it has moved on to the new file
    "$RG" -c "$t/rk.ini" collect --once --quiet
    [ "$(sqlite3 "$t/rk.db" "SELECT lines FROM sources")" = 100 ] && break
done
killed=0
for reps in 100 400 1600; do
    for _ in $(seq "$reps"); do cat "$S"; done >> "$t/rk.log.1"
    sed -n 101,110p "$S" >> "$t/rk.log"
    before=$(sqlite3 "$t/rk.db" "SELECT lines FROM sources")
    "$RG" -c "$t/rk.ini" collect --once --quiet 2>/dev/null & kp=$!
    while kill -0 "$kp" 2>/dev/null; do
        now=$(sqlite3 -cmd ".timeout 2000" "$t/rk.db" "SELECT lines FROM sources" 2>/dev/null)
        if [ -n "$now" ] && [ "$now" -gt "$before" ]; then
            kill -9 "$kp" 2>/dev/null && killed=$now
            break
        fi
        sleep 0.02
    done
    wait "$kp" 2>/dev/null
    [ "$killed" != 0 ] && break    # else it finished first: a longer tail
done
"$RG" -c "$t/rk.ini" collect --once --quiet
got=$(sqlite3 "$t/rk.db" "SELECT lines FROM sources")
want=$(cat "$t/rk.log.1" "$t/rk.log" | wc -l)
[ "$killed" != 0 ] && [ "$got" = "$want" ]
ok $? "a run killed while it reads a renamed file's late tail, then one more: every line read once ($got of $want; killed after $killed)"

# the renamed file, appended to after the run moved on, then compressed
# (logrotate compress without delaycompress), or removed: the next run
# reads the compressed tail, or does without the removed file, and both
# go on with the new file
conf rgz
q_rgz() { sqlite3 "$t/rgz.db" "SELECT lines FROM sources"; }
sed -n 1,40p "$S" > "$t/rgz.log"; "$RG" -c "$t/rgz.ini" collect --once --quiet
mv "$t/rgz.log" "$t/rgz.log.1"; sed -n 41,50p "$S" >> "$t/rgz.log.1"; : > "$t/rgz.log"
"$RG" -c "$t/rgz.ini" collect --once --quiet
a=$(q_rgz)
sed -n 51,60p "$S" >> "$t/rgz.log"; "$RG" -c "$t/rgz.ini" collect --once --quiet
sed -n 61,70p "$S" >> "$t/rgz.log.1"; gzip "$t/rgz.log.1"; sed -n 71,80p "$S" >> "$t/rgz.log"
"$RG" -c "$t/rgz.ini" collect --once --quiet 2> "$t/rgz.err"
b=$(q_rgz)
mv "$t/rgz.log" "$t/rgz.log.1"; sed -n 81,90p "$S" > "$t/rgz.log"; "$RG" -c "$t/rgz.ini" collect --once --quiet
rm "$t/rgz.log.1"; sed -n 91,100p "$S" >> "$t/rgz.log"
"$RG" -c "$t/rgz.ini" collect --once --quiet 2>> "$t/rgz.err"
c=$(q_rgz)
[ "$a|$b|$c" = "50|80|100" ] && ! grep -q . "$t/rgz.err"
ok $? "a renamed file's late tail read after it was compressed; a removed one does without it (lines after each step: $a|$b|$c, want 50|80|100; $(head -c 200 "$t/rgz.err"))"

# 3. messages and stats
out=$("$RG" -c "$t/one.ini" messages --json --user alice@example.com)
[ -n "$out" ] && ! grep -qv '"sasl_username":"alice@example.com"' <<<"$out"; ok $? "messages --user selects the login's messages"
out=$("$RG" -c "$t/one.ini" messages --json --since 2030-01-01)
[ -z "$out" ]; ok $? "messages --since filters by time"
"$RG" -c "$t/one.ini" stats --json > "$t/stats.json"
python3 - "$t/stats.json" "$t/one.parse" <<'PY'
import json, sys
# no [user] configured: one row per SASL login or client IP (user null)
stats = {r["user"] or r["logins"][0]: r for r in map(json.loads, open(sys.argv[1]))}
recs = [json.loads(l) for l in open(sys.argv[2])]
want = {}
for r in recs:
    if r.get("bounce_of") or r.get("filtered_as"):
        continue
    u = r.get("sasl_username") or r.get("client_ip") or "(local)"
    w = want.setdefault(u, {"messages": 0, "recipients": 0, "sent": 0})
    w["messages"] += 1
    w["recipients"] += len(r.get("recipients", []))
    w["sent"] += sum(1 for x in r.get("recipients", []) if x.get("status") == "sent")
bad = [(u, w, stats.get(u)) for u, w in want.items()
       if not stats.get(u) or any(stats[u][k] != w[k] for k in w)]
print("PASS: collect: stats per user match the records" if not bad and len(stats) == len(want)
      else "FAIL: collect: stats per user: %r" % (bad[:3],))
PY

# 4. follow mode: picks up appended lines, commits, exits cleanly on TERM
conf fol
head -n 40 "$S" > "$t/fol.log"
"$RG" -c "$t/fol.ini" collect --follow --quiet 2> "$t/fol.err" &
fp=$!; pids+=("$fp")
sleep 0.5
tail -n +41 "$S" >> "$t/fol.log"
for _ in $(seq 1 50); do
    [ "$(sqlite3 "$t/fol.db" "SELECT offset FROM sources" 2>/dev/null)" = "$(stat -c %s "$t/fol.log")" ] && break
    sleep 0.1
done
[ "$(sqlite3 "$t/fol.db" "SELECT offset FROM sources")" = "$(stat -c %s "$t/fol.log")" ]; ok $? "follow: appended lines are stored within a few seconds"
kill -HUP "$fp"; sleep 0.3
kill -0 "$fp" 2>/dev/null; ok $? "follow: SIGHUP rereads the config and goes on"
kill -TERM "$fp"; wait "$fp"; rc=$?
ok $rc "follow: SIGTERM commits and exits 0"
if cmp -s <(dump one) <(dump fol); then ok 0 "follow stored the same as one run"
else ok 1 "follow stored the same as one run" "$(diff <(dump one) <(dump fol) | head -c 300)"; fi

# stored_wait NAME N - until $t/NAME.db has stored N lines of its source
# (a bound of 60 s on a failure only: it returns as soon as they are there)
stored_wait() {
    local i
    for i in $(seq 1 600); do
        [ "$(sqlite3 -cmd ".timeout 2000" "$t/$1.db" "SELECT lines FROM sources" 2>/dev/null)" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
# opened_wait PID FILE - until process PID holds FILE (a name in $t) open
opened_wait() {
    local i
    for i in $(seq 1 600); do
        ls -l "/proc/$1/fd" 2>/dev/null | grep -q "/$2\$" && return 0
        sleep 0.1
    done
    return 1
}

# follow mode across a rename, started from a saved position: the new
# file is read from its start (not from that position); lines the writer appends to the renamed
# file after the daemon has moved on are read too, before the new file's
conf frn
sed -n 1,50p "$S" > "$t/frn.log"; "$RG" -c "$t/frn.ini" collect --once --quiet
"$RG" -c "$t/frn.ini" collect --follow --quiet 2> "$t/frn.err" &
fp=$!; pids+=("$fp")
# the daemon has opened the file at its saved position before the rename
opened_wait "$fp" frn.log
mv "$t/frn.log" "$t/frn.log.1"; sed -n 51,60p "$S" >> "$t/frn.log.1"; sed -n 61,130p "$S" > "$t/frn.log"
stored_wait frn 130; ok $? "follow: after a rename, the rest of the renamed file and the whole new file are read ($(sqlite3 "$t/frn.db" "SELECT lines FROM sources") of 130)"
sed -n 131,140p "$S" >> "$t/frn.log.1"
stored_wait frn 140; ok $? "follow: lines appended to the renamed file after the daemon moved on are read ($(sqlite3 "$t/frn.db" "SELECT lines FROM sources") of 140)"
sed -n 141,\$p "$S" >> "$t/frn.log"
stored_wait frn "$n"
kill -TERM "$fp"; wait "$fp"; rc=$?
[ $rc = 0 ] && [ "$(sqlite3 "$t/frn.db" "SELECT lines FROM sources")" = "$n" ] && ! grep -q . "$t/frn.err"
ok $? "follow: every line once, no warning (exit $rc: $(head -c 200 "$t/frn.err"))"

# follow mode: the renamed file removed while its writer still holds it
# open (logrotate compress without delaycompress, before the reload): what
# the writer appends to it after the removal is read through the open file
conf fdel
sed -n 1,40p "$S" > "$t/fdel.log"; "$RG" -c "$t/fdel.ini" collect --once --quiet
"$RG" -c "$t/fdel.ini" collect --follow --quiet 2> "$t/fdel.err" &
fp=$!; pids+=("$fp")
opened_wait "$fp" fdel.log
# the writer: holds the file open, writes the lines it is given on stdin
mkfifo "$t/fdel.fifo"
python3 -c '
import sys
out = open(sys.argv[1], "a", buffering=1)
for line in open(sys.argv[2]):
    out.write(line)
' "$t/fdel.log" "$t/fdel.fifo" & wp=$!
exec 7> "$t/fdel.fifo"
mv "$t/fdel.log" "$t/fdel.log.1"; sed -n 41,50p "$S" > "$t/fdel.log"
stored_wait fdel 50; r1=$?
rm "$t/fdel.log.1"
sed -n 51,60p "$S" >&7
stored_wait fdel 60; r2=$?
exec 7>&-
wait "$wp"
kill -TERM "$fp"; wait "$fp"
[ $r1 = 0 ] && [ $r2 = 0 ] && ! grep -q . "$t/fdel.err"
ok $? "follow: lines written to the renamed file after it was removed are read ($(sqlite3 "$t/fdel.db" "SELECT lines FROM sources") of 60; $(head -c 200 "$t/fdel.err"))"

# follow mode across logrotate's copytruncate when the collector looks
# only after the truncated file has been written past its offset again (a
# busy relay writes megabytes a minute; just after a rotation the offset
# is small): the size cannot tell, the file's first bytes can. The daemon
# is stopped (SIGSTOP) from the copy to the new lines, so that it looks
# only then; the copy holds 10 lines it has not read yet. Every line of the
# copy and of the new file is read once, none cut (the records equal one
# run over the whole log).
conf fct
sed -n 1,40p "$S" > "$t/fct.log"
"$RG" -c "$t/fct.ini" collect --follow --quiet 2> "$t/fct.err" &
fp=$!; pids+=("$fp")
stored_wait fct 40; r0=$?
off=$(sqlite3 "$t/fct.db" "SELECT offset FROM sources")
kill -STOP "$fp"
sed -n 41,50p "$S" >> "$t/fct.log"
cp -p "$t/fct.log" "$t/fct.log.1"; : > "$t/fct.log"    # logrotate copytruncate
sed -n 51,\$p "$S" >> "$t/fct.log"
size=$(stat -c %s "$t/fct.log")
kill -CONT "$fp"
stored_wait fct "$n"; r1=$?
kill -TERM "$fp"; wait "$fp"; rc=$?
got=$(sqlite3 "$t/fct.db" "SELECT lines FROM sources")
[ $r0 = 0 ] && [ "$size" -gt "$off" ] && [ $r1 = 0 ] && [ $rc = 0 ] && cmp -s <(dump one) <(dump fct) && ! grep -q . "$t/fct.err"
ok $? "follow: copytruncate seen after the new file grew past the offset ($size > $off bytes): every line of the copy and the new file once ($got of $n), the records of one run ($(diff <(dump one) <(dump fct) | head -c 200); exit $rc; $(head -c 200 "$t/fct.err"))"

# the same between collect --once runs (a timer): the run after the
# rotation finds the copy by the first bytes of the file it read last
conf oct
sed -n 1,40p "$S" > "$t/oct.log"
"$RG" -c "$t/oct.ini" collect --once --quiet 2> "$t/oct.err"
off=$(sqlite3 "$t/oct.db" "SELECT offset FROM sources")
sed -n 41,50p "$S" >> "$t/oct.log"
cp -p "$t/oct.log" "$t/oct.log.1"; : > "$t/oct.log"
sed -n 51,100p "$S" >> "$t/oct.log"
size=$(stat -c %s "$t/oct.log")
"$RG" -c "$t/oct.ini" collect --once --quiet 2>> "$t/oct.err"
sed -n 101,\$p "$S" >> "$t/oct.log"
"$RG" -c "$t/oct.ini" collect --once --quiet 2>> "$t/oct.err"
got=$(sqlite3 "$t/oct.db" "SELECT lines FROM sources")
[ "$size" -gt "$off" ] && [ "$got" = "$n" ] && cmp -s <(dump one) <(dump oct) && ! grep -q . "$t/oct.err"
ok $? "collect --once runs: copytruncate with the new file past the offset ($size > $off bytes) between runs: every line once ($got of $n), the records of one run ($(diff <(dump one) <(dump oct) | head -c 200); $(head -c 200 "$t/oct.err"))"

# 5. a database that is not ours is refused and left alone
printf 'not a database at all, just text\n' > "$t/bad.db"; cp "$t/bad.db" "$t/bad.orig"
conf bad; cp "$S" "$t/bad.log"
"$RG" -c "$t/bad.ini" collect --once --quiet 2> "$t/bad.err"; rc=$?
[ $rc -ne 0 ] && cmp -s "$t/bad.db" "$t/bad.orig" && grep -q "bad.db" "$t/bad.err"; ok $? "a file that is not a database is refused, untouched ($(head -c 120 "$t/bad.err"))"
rm -f "$t/bad.db"; sqlite3 "$t/bad.db" "CREATE TABLE customers(id INTEGER, name TEXT); INSERT INTO customers VALUES (1, 'x');"
sum=$(md5sum < "$t/bad.db")
"$RG" -c "$t/bad.ini" collect --once --quiet 2> "$t/bad.err"; rc=$?
[ $rc -ne 0 ] && [ "$sum" = "$(md5sum < "$t/bad.db")" ] && grep -q "another application" "$t/bad.err"; ok $? "another application's database is refused, untouched"

# 6. a missing source is named, the other sources go on
conf two "[source missing]" "path = $t/nosuch.log"
cp "$S" "$t/two.log"
"$RG" -c "$t/two.ini" collect --once --quiet 2> "$t/two.err"; rc=$?
[ $rc = 0 ] && grep -q "warning: \[source missing\].*nosuch.log" "$t/two.err" && [ "$(dump two | wc -l)" = "$(dump one | wc -l)" ]
ok $? "a missing source is a warning (exit $rc: 0, so that cron's analyze still runs) and the others are read"

# 7. retention: finished rows older than the retention are pruned
conf old
sed 's/^Nov 28/Jan  5/' "$S" > "$t/old.log"
"$RG" -c "$t/old.ini" collect --once --quiet
left=$(sqlite3 "$t/old.db" "SELECT count(*) FROM messages WHERE open = 0")
opn=$(sqlite3 "$t/old.db" "SELECT count(*) FROM messages WHERE open = 1")
[ "$left" = 0 ] && [ "$opn" -gt 0 ]; ok $? "rows older than the retention are pruned, open ones kept ($opn open)"
# 7b. the relays table is pruned with the rows: a next hop (or a reply text)
# that only pruned rows named goes, one that a kept row names stays. Six
# passes of the sample 15 days apart (Oct 17 .. Dec 31), one transaction a
# line; the first pass's next hops renamed (old-mx-*), some of the second
# and third passes' too (brief-mx: named by rows on both sides of the
# cutoff). The retention, counted from today's clock, puts the cutoff on
# Nov 9-10: it prunes the first two passes.
sed -n "/<<'PY'\$/,/^PY\$/p" "$TOP/bench/parse.sh" | sed '1d;$d' > "$t/gen.py"
python3 "$t/gen.py" "$S" $((n * 6)) "$t/rel.raw" 1296000 2026 > /dev/null 2>&1
sed "1,${n} s/127\.0\.0\.1\[127\.0\.0\.1\]:\([0-9]*\)/old-mx-\1.example.org[192.0.2.7]:25/g; $((n + 120)),$((n * 2 + 20)) s/relay=127\.0\.0\.1\[127\.0\.0\.1\]:35697/relay=brief-mx.example.net[198.51.100.9]:25/" "$t/rel.raw" > "$t/rel.log"
conf rel "[collect]" "retention = 3650d"; sed -i 's/^batch_lines = 7$/batch_lines = 1/' "$t/rel.ini"
"$RG" -c "$t/rel.ini" collect --once --quiet; rc0=$?
dump rel > "$t/rel.full"
before=$(sqlite3 "$t/rel.db" "SELECT count(*), sum(name LIKE '%old-mx-%'), sum(name LIKE 'brief-mx%') FROM relays" | tr '|' ' ')
days=$(( ($(date +%s) - $(date -ud 2026-11-09 +%s)) / 86400 ))
[ "$days" -ge 1 ] || days=1
sed -i "s/^retention = 3650d\$/retention = ${days}d/" "$t/rel.ini"
"$RG" -c "$t/rel.ini" -v collect --once 2> "$t/rel.err"; rc=$?
after=$(sqlite3 "$t/rel.db" "SELECT count(*), sum(name LIKE '%old-mx-%'), sum(name LIKE 'brief-mx%') FROM relays" | tr '|' ' ')
dump rel > "$t/rel.pruned"
kept=$(wc -l < "$t/rel.pruned"); gone=$(( $(wc -l < "$t/rel.full") - kept ))
read -r b_all b_old b_brief <<< "$before"; read -r a_all a_old a_brief <<< "$after"
[ $rc0 = 0 ] && [ $rc = 0 ] && [ "$b_old" -ge 4 ] && [ "$a_old" = 0 ] && [ "$b_brief" = 1 ] && [ "$a_brief" = 1 ] && [ "$a_all" -lt "$b_all" ] && [ "$gone" -gt 0 ] \
    && grep -q "pruned [0-9]* rows" "$t/rel.err" \
    && LC_ALL=C comm -23 "$t/rel.full" "$t/rel.pruned" | grep -q brief-mx
ok $? "relays only pruned rows named are pruned with them (relays|old-mx|brief-mx before: $before, after: $after; $gone records pruned, $kept kept, some of them naming brief-mx; retention ${days}d; exit $rc0, $rc)" "$(tail -3 "$t/rel.err")"
missing=$(LC_ALL=C comm -13 "$t/rel.full" "$t/rel.pruned" | wc -l)
[ "$missing" = 0 ] && [ "$kept" -gt 0 ] && grep -q brief-mx "$t/rel.pruned"
ok $? "the kept records read back byte for byte after the relays' prune ($kept records, $missing differ; brief-mx still named)" "$(LC_ALL=C comm -13 "$t/rel.full" "$t/rel.pruned" | head -c 400)"

# 8. one collector per database. Two `collect --once` started together over
# a big log (the generator of bench/parse.sh): one reads, the other says so
# and exits 75, and the database holds exactly one run's rows
sed -n "/<<'PY'\$/,/^PY\$/p" "$TOP/bench/parse.sh" | sed '1d;$d' > "$t/gen.py"
python3 "$t/gen.py" "$S" "${RG_CONCURRENT_LINES:-60000}" "$t/big.log" 60 2026 > /dev/null 2>&1
# prime NAME: a database that has read the first 1000 lines (the cron
# case: the runs find an existing database), then the whole log to read
prime() {
    conf "$1" "[collect]" "retention = 3650d"; sed -i 's/^batch_lines = 7$/batch_lines = 500/' "$t/$1.ini"
    head -n 1000 "$t/big.log" > "$t/$1.log"
    "$RG" -c "$t/$1.ini" collect --once --quiet
    cp "$t/big.log" "$t/$1.log"
}
prime ref
"$RG" -c "$t/ref.ini" collect --once --quiet
counts() { sqlite3 "$t/$1.db" "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM sessions), (SELECT count(*) FROM recipients)"; }
# moved NAME OFFSET: wait (bounded) until a run committed a batch past OFFSET
moved() { for _ in $(seq 1 1000); do [ "$(sqlite3 "$t/$1.db" "SELECT offset FROM sources" 2>/dev/null)" != "$2" ] && break; sleep 0.01; done; }
prime two2
o0=$(sqlite3 "$t/two2.db" "SELECT offset FROM sources")
# the second starts while the first is writing (cron a minute later):
# without a lock it read the open state of one batch and the positions of
# the next, and stored thousands of messages twice
"$RG" -c "$t/two2.ini" collect --once --quiet 2> "$t/c1.err" & c1=$!
moved two2 "$o0"
"$RG" -c "$t/two2.ini" collect --once --quiet 2> "$t/c2.err" & c2=$!
wait $c1; r1=$?; wait $c2; r2=$?
[ "$(counts two2)" = "$(counts ref)" ]; ok $? "two concurrent collect --once store one run's rows ($(counts two2 | tr '|' ' ') vs $(counts ref | tr '|' ' '))"
{ [ $r1 = 0 ] && [ $r2 = 75 ] && grep -q "another collector is writing" "$t/c2.err"; } ||
{ [ $r2 = 0 ] && [ $r1 = 75 ] && grep -q "another collector is writing" "$t/c1.err"; }
ok $? "the second collector says so and exits 75 (exits $r1 $r2: $(cat "$t/c1.err" "$t/c2.err" | head -c 200))"
# --wait: the second one waits for the first, then reads what is new
# (the other collector is played by flock(1) holding the same lock until
# told to let go, so the test does not race two starts)
head -n 20 "$S" >> "$t/two2.log"
rm -f "$t/hold.ready" "$t/hold.release"
flock "$t/two2.db.lock" sh -c 'touch "$1/hold.ready"; while [ ! -e "$1/hold.release" ]; do sleep 0.05; done' sh "$t" & c1=$!
for _ in $(seq 1 2000); do [ -e "$t/hold.ready" ] && break; sleep 0.01; done
"$RG" -c "$t/two2.ini" collect --once --quiet --wait 1m 2> "$t/c2.err" & c2=$!
sleep 0.5
kill -0 $c2 2>/dev/null; waiting=$?
touch "$t/hold.release"
wait $c1; r1=$?; wait $c2; r2=$?
[ $waiting = 0 ] && [ $r1 = 0 ] && [ $r2 = 0 ] && [ "$(sqlite3 "$t/two2.db" "SELECT offset FROM sources")" = "$(stat -c %s "$t/two2.log")" ]
ok $? "collect --wait waits for the other collector, then goes on (still waiting while the lock was held: $([ $waiting = 0 ] && echo yes || echo no); exits $r1 $r2)"
# the commit's own check: with the lock file removed under a running
# collector (a second lock file, another inode), both run, and the one that
# commits second finds the positions moved and refuses
prime pos
o0=$(sqlite3 "$t/pos.db" "SELECT offset FROM sources")
"$RG" -c "$t/pos.ini" collect --once --quiet 2> "$t/p1.err" & c1=$!
moved pos "$o0"
rm -f "$t/pos.db.lock"
"$RG" -c "$t/pos.ini" collect --once --quiet 2> "$t/p2.err" & c2=$!
wait $c1; r1=$?; wait $c2; r2=$?
[ "$(counts pos)" = "$(counts ref)" ]; ok $? "without the lock, a commit whose positions moved is refused: one run's rows ($(counts pos | tr '|' ' '); exits $r1 $r2)"
if [ $r1 != 0 ] || [ $r2 != 0 ]; then
    cat "$t/p1.err" "$t/p2.err" | grep -q "no longer the one this run started from"
    ok $? "the refused collector names the moved position ($(cat "$t/p1.err" "$t/p2.err" | head -c 300))"
fi

# copytruncate within one collect --once run (a big backlog being read):
# the run is stopped (SIGSTOP) after its first batch, the file copied,
# truncated and written again past where the run's reader stands (its
# descriptor's position, from /proc: up to a buffer ahead of what it
# handed out); then it goes on. It reads the rest of the copy, then the
# new file, every line once and none cut: its records equal one run over
# the copy and the new file as one log.
# fdpos PID FILE - the read position of process PID's descriptor of FILE
fdpos() {
    local fd
    for fd in /proc/"$1"/fd/*; do
        [ "$(readlink "$fd")" = "$2" ] && { awk '/^pos:/ { print $2 }' "/proc/$1/fdinfo/${fd##*/}"; return 0; }
    done
    return 1
}
sed 's/^Nov 28/Nov 29/' "$t/big.log" > "$t/big2.log"    # the new file: the next day's lines
# ct_run NAME NEW - collect --once over $t/NAME.log (copies of big.log, more
# until the run is caught in the middle), stopped after its first batch;
# then copytruncate, and the new file written with NEW copies of big2.log
# and more until it is past the reader's position. Sets kp (the stopped
# run), pos and size; ct_stopped=1 if it was caught.
ct_run() {
    local name=$1 copies o
    conf "$name" "[collect]" "retention = 3650d"; sed -i 's/^batch_lines = 7$/batch_lines = 500/' "$t/$name.ini"
    ct_stopped=0
    for copies in 1 4 16; do
        rm -f "$t/$name".db* "$t/$name.log.1"
        for _ in $(seq "$copies"); do cat "$t/big.log"; done > "$t/$name.log"
        "$RG" -c "$t/$name.ini" collect --once --quiet 2> "$t/$name.err" & kp=$!; pids+=("$kp")
        for _ in $(seq 1 2000); do
            o=$(sqlite3 -cmd ".timeout 2000" "$t/$name.db" "SELECT offset FROM sources" 2>/dev/null)
            [ -n "$o" ] && [ "$o" -gt 0 ] && kill -STOP "$kp" 2>/dev/null && { ct_stopped=1; break; }
            kill -0 "$kp" 2>/dev/null || break
            sleep 0.01
        done
        [ $ct_stopped = 1 ] && break
        wait "$kp"    # it finished first: a longer log
    done
    pos=$(fdpos "$kp" "$t/$name.log")
    cp -p "$t/$name.log" "$t/$name.log.1"; : > "$t/$name.log"
    for _ in $(seq "$2"); do cat "$t/big2.log"; done >> "$t/$name.log"
    while [ "$(stat -c %s "$t/$name.log")" -le "${pos:-0}" ]; do cat "$t/big2.log" >> "$t/$name.log"; done
    size=$(stat -c %s "$t/$name.log")
}
# ct_one NAME - what one run stores from NAME's copy and new file as one log
ct_one() {
    conf "$1one" "[collect]" "retention = 3650d"; sed -i 's/^batch_lines = 7$/batch_lines = 500/' "$t/$1one.ini"
    cat "$t/$1.log.1" "$t/$1.log" > "$t/$1one.log"
    "$RG" -c "$t/$1one.ini" collect --once --quiet
}
ct_run mct 1
kill -CONT "$kp"; wait "$kp"; rc=$?
ct_one mct
got=$(sqlite3 "$t/mct.db" "SELECT lines FROM sources")
want=$(wc -l < "$t/mctone.log")
[ $ct_stopped = 1 ] && [ -n "$pos" ] && [ $rc = 0 ] && [ "$got" = "$want" ] && [ "$(counts mct)" = "$(counts mctone)" ] &&
    cmp -s <(dump mctone) <(dump mct) && ! grep -q . "$t/mct.err"
ok $? "collect --once: copytruncate in the middle of a run, the new file past the reader's position ($size > ${pos:-?} bytes): every line once ($got of $want), the records of one run over both ($(counts mct | tr '|' ' ') vs $(counts mctone | tr '|' ' '); exit $rc; $(head -c 200 "$t/mct.err"))"

# the same, the run killed (SIGKILL) once it has committed a batch of the
# new file (it found the copy, read its rest and moved on: the position
# names the new file, the copy as the file left), then one more run: no
# line lost, none stored twice
killed=
for reps in 2 4 8; do
    ct_run mck "$reps"
    kill -CONT "$kp"
    while kill -0 "$kp" 2>/dev/null; do
        p=$(sqlite3 -cmd ".timeout 2000" "$t/mck.db" "SELECT lines FROM sources WHERE path = '$t/mck.log' AND offset > 0 AND prev_fp_len > 0" 2>/dev/null)
        if [ -n "$p" ]; then kill -9 "$kp" 2>/dev/null && killed=$p; break; fi
        sleep 0.01
    done
    wait "$kp" 2>/dev/null
    [ -n "$killed" ] && break    # else it finished first: a longer new file
done
"$RG" -c "$t/mck.ini" collect --once --quiet 2>> "$t/mck.err"; rc=$?
ct_one mck
got=$(sqlite3 "$t/mck.db" "SELECT lines FROM sources")
want=$(wc -l < "$t/mckone.log")
[ -n "$killed" ] && [ $rc = 0 ] && [ "$got" = "$want" ] && [ "$(counts mck)" = "$(counts mckone)" ] &&
    cmp -s <(dump mckone) <(dump mck) && ! grep -q . "$t/mck.err"
ok $? "collect --once: the same run killed while it reads the new file after the copy, then one more: every line once ($got of $want; killed after ${killed:-?} lines), the records of one run ($(counts mck | tr '|' ' ') vs $(counts mckone | tr '|' ' '); exit $rc; $(head -c 200 "$t/mck.err"))"

# 9. SIGHUP with another database: refused loudly, the old one is written
conf hup
head -n 40 "$S" > "$t/hup.log"
"$RG" -c "$t/hup.ini" collect --follow --quiet 2> "$t/hup.err" & hp=$!; pids+=("$hp")
for _ in $(seq 1 100); do [ "$(sqlite3 "$t/hup.db" "SELECT offset FROM sources" 2>/dev/null)" = "$(stat -c %s "$t/hup.log")" ] && break; sleep 0.1; done
sed -i "s|^database = .*|database = $t/hup2.db|" "$t/hup.ini"
kill -HUP "$hp"
for _ in $(seq 1 100); do grep -q "SIGHUP" "$t/hup.err" && break; sleep 0.1; done
tail -n +41 "$S" >> "$t/hup.log"
for _ in $(seq 1 100); do [ "$(sqlite3 "$t/hup.db" "SELECT offset FROM sources")" = "$(stat -c %s "$t/hup.log")" ] && break; sleep 0.1; done
kill -TERM "$hp"; wait "$hp"
grep -q "database changed from $t/hup.db to $t/hup2.db: NOT switched" "$t/hup.err" && [ ! -e "$t/hup2.db" ] &&
    [ "$(sqlite3 "$t/hup.db" "SELECT offset FROM sources")" = "$(stat -c %s "$t/hup.log")" ]
ok $? "SIGHUP with a changed database says it is not switched and goes on writing the old one ($(grep SIGHUP "$t/hup.err" | head -c 200))"

# 10. a database that cannot be opened is reported as it is, not as "not a
# relayguard database"
conf dir; cp "$S" "$t/dir.log"; rm -f "$t/dir.db"; mkdir "$t/dir.db"
"$RG" -c "$t/dir.ini" collect --once --quiet 2> "$t/dir.err"; rc=$?
[ $rc != 0 ] && ! grep -q "not a relayguard database" "$t/dir.err" && grep -q "dir.db" "$t/dir.err"
ok $? "a database that cannot be opened gives the real cause (exit $rc: $(head -c 160 "$t/dir.err"))"

# a directory that cannot be written (immutable even to root): SQLite
# cannot create the -shm file beside a WAL database
mkdir -p "$t/imm"; cp "$t/one.db" "$t/imm/one.db"; sed "s|^database = .*|database = $t/imm/one.db|" "$t/one.ini" > "$t/imm.ini"
if chattr +i "$t/imm" 2> /dev/null; then
    "$RG" -c "$t/imm.ini" users > /dev/null 2> "$t/imm.err"; rc=$?
    chattr -i "$t/imm"
    [ $rc = 69 ] && ! grep -q "not a relayguard database" "$t/imm.err" && grep -q "cannot read the database" "$t/imm.err"
    ok $? "a database in a directory that cannot be written gives the real cause (exit $rc: $(head -c 200 "$t/imm.err"))"
else
    echo "SKIP: collect: the immutable-directory case: chattr +i does not work here"
fi

# 11. a pruning failure is an error (exit 75), not a success
conf pf; sed 's/^Nov 28/Jan  5/' "$S" > "$t/pf.all"; head -n 40 "$t/pf.all" > "$t/pf.log"
"$RG" -c "$t/pf.ini" collect --once --quiet
sqlite3 "$t/pf.db" "CREATE TRIGGER nodel BEFORE DELETE ON sessions BEGIN SELECT RAISE(ABORT, 'test: no deleting'); END;"
tail -n +41 "$t/pf.all" >> "$t/pf.log"
"$RG" -c "$t/pf.ini" collect --once --quiet 2> "$t/pf.err"; rc=$?
[ $rc = 75 ] && grep -q "pruning" "$t/pf.err"; ok $? "a pruning failure exits 75 (exit $rc: $(head -c 160 "$t/pf.err"))"

# 12. a damaged open message state is refused (65) when a line names the
# message (a restart reads only the keys of the open messages: schema 7),
# nothing of that batch is stored, and nothing leaks (the asan-test build
# catches a leak here): a damaged full state, a damaged lean one (schema
# 9), and a lean one whose messages row no longer fits it (its
# recipients rows gone)
for d in full lean rows; do
conf dmg$d; head -n 60 "$S" > "$t/dmg$d.log"
"$RG" -c "$t/dmg$d.ini" collect --once --quiet
nopen=$(sqlite3 "$t/dmg$d.db" "SELECT count(*) FROM messages WHERE open = 1")
victim="(SELECT max(o.id) FROM open_msgs o JOIN recipients r ON r.message = o.id WHERE o.ended = 0)"
qid=$(sqlite3 "$t/dmg$d.db" "SELECT queue_id FROM messages WHERE id = $victim")
form=$(sqlite3 "$t/dmg$d.db" "SELECT hex(substr(state, 1, 1)) FROM open_msgs WHERE id = $victim")
case $d in
full) sqlite3 "$t/dmg$d.db" "UPDATE open_msgs SET state = x'01ff' WHERE id = $victim" ;;
lean) sqlite3 "$t/dmg$d.db" "UPDATE open_msgs SET state = x'11ff' WHERE id = $victim" ;;
rows) sqlite3 "$t/dmg$d.db" "DELETE FROM recipients WHERE message = $victim" ;;
esac
"$RG" -c "$t/dmg$d.ini" collect --once --quiet 2> "$t/dmg$d.err"; rc=$?
[ $rc = 0 ]; ok $? "a damaged state ($d) of a message no line names is not read (exit $rc: $(head -c 200 "$t/dmg$d.err"))"
size0=$(stat -c %s "$t/dmg$d.log")
tail -n +61 "$S" >> "$t/dmg$d.log"
# the first line after the first run that names the damaged message
at=$(tail -c +$((size0 + 1)) "$t/dmg$d.log" | grep -b -m 1 "$qid" | cut -d: -f1)
"$RG" -c "$t/dmg$d.ini" collect --once --quiet 2> "$t/dmg$d.err"; rc=$?
off=$(sqlite3 "$t/dmg$d.db" "SELECT offset FROM sources")
[ "$nopen" -gt 1 ] && [ "$form" = 11 ] && [ -n "$at" ] && [ $rc = 65 ] && grep -q "damaged message state" "$t/dmg$d.err" \
    && [ "$off" -le $((size0 + at)) ]
ok $? "a damaged message state ($d) is refused with 65 when a line names it, that line's batch not stored ($nopen open, $qid in the lean form $form named at $((size0 + at)); exit $rc: $(head -c 200 "$t/dmg$d.err"); stored offset $off)"
done

# 14. a schema-5 database made by the code before the lean schema (commit
# b76be04: `collect --once` over the first 100 lines of the sample, 16
# messages still open; tests/fixtures/schema5.sql is its .dump) is migrated
# in place: its rows and its open state survive, and collecting the rest of
# the log gives what one run of this code over the whole log gives
conf mig
cp "$S" "$t/mig.log"
sed "s#@LOG@#$t/mig.log#" "$TOP/tests/fixtures/schema5.sql" | sqlite3 "$t/mig.db"
before=$(sqlite3 "$t/mig.db" "SELECT count(*), sum(open) FROM messages")
"$RG" -c "$t/mig.ini" collect --once --quiet 2> "$t/mig.err"; rc=$?
ver=$(sqlite3 "$t/mig.db" "PRAGMA user_version")
[ $rc = 0 ] && [ "$ver" -ge 6 ] && [ "$before" = "17|16" ]
ok $? "collect migrates a schema-5 database (exit $rc, version $ver, before: $before rows|open)"
if cmp -s <(dump one) <(dump mig); then ok 0 "the migrated database, collected on, equals one run ($(dump mig | wc -l) records)"
else ok 1 "the migrated database, collected on, equals one run" "$(diff <(dump one) <(dump mig) | head -c 400)"; fi
n=$(sqlite3 "$t/mig.db" "SELECT count(*) FROM messages WHERE open = 0 AND rec IS NULL AND json IS NOT NULL")
[ "$n" = 1 ]; ok $? "the finished row of schema 5 keeps its JSON ($n rows)"

# 15. a schema-6 database (tests/fixtures/schema6.sql: the code before the
# lean record blob, commit 5658228, `collect --once` over 7 passes of the
# bench log; 116 finished messages with their full record blob, 52 open) is
# migrated in place by init: every finished blob becomes the lean form
# (first byte 0x10) and every record reads back the same bytes
mkdir -p "$t/m6maps"
printf '[global]\ndatabase = %s/m6.db\nmap_directory = %s/m6maps\n' "$t" "$t" > "$t/m6.ini"
sed "s#@LOG@#$t/m6.log#" "$TOP/tests/fixtures/schema6.sql" | sqlite3 "$t/m6.db"
dump m6 > "$t/m6.before"
"$RG" -c "$t/m6.ini" init > /dev/null 2> "$t/m6.err"; rc=$?
ver=$(sqlite3 "$t/m6.db" "PRAGMA user_version")
forms=$(sqlite3 "$t/m6.db" "SELECT sum(rec IS NOT NULL AND hex(substr(rec, 1, 1)) = '10'), sum(rec IS NOT NULL AND hex(substr(rec, 1, 1)) <> '10'), sum(open) FROM messages")
[ $rc = 0 ] && [ "$ver" -ge 7 ] && [ "$forms" = "116|0|52" ]
ok $? "init migrates a schema-6 database: lean record blobs (exit $rc, version $ver, lean|full|open: $forms; $(head -c 200 "$t/m6.err"))"
if [ "$(wc -l < "$t/m6.before")" = 168 ] && cmp -s "$t/m6.before" <(dump m6); then
    ok 0 "the migrated records read back byte for byte (168)"
else
    ok 1 "the migrated records read back byte for byte" "$(diff "$t/m6.before" <(dump m6) | head -c 400)"
fi

# 16. open messages restored from their keys alone (schema 8) that expire
# (max_message_age) in the next run are decoded and stored whole, stale,
# as one run over the whole log stores them
for x in exp expone; do conf $x "[parse]" "max_message_age = 1h"; done
head -n 60 "$S" > "$t/exp.log"
"$RG" -c "$t/exp.ini" collect --once --quiet
keyed=$(sqlite3 "$t/exp.db" "SELECT count(*) FROM open_msgs WHERE seq IS NOT NULL AND ended = 0")
tail -n +61 "$S" | sed 's/^Nov 28/Nov 29/' >> "$t/exp.log"
cp "$t/exp.log" "$t/expone.log"
"$RG" -c "$t/exp.ini" collect --once --quiet; rc=$?
"$RG" -c "$t/expone.ini" collect --once --quiet
stale=$(sqlite3 "$t/exp.db" "SELECT count(*) FROM messages WHERE stale = 1 AND sender IS NOT NULL")
[ $rc = 0 ] && [ "$keyed" -gt 1 ] && [ "$stale" -ge "$keyed" ] && cmp -s <(dump expone) <(dump exp)
ok $? "open messages restored by key expire whole, as in one run ($keyed restored by key, $stale stale with their sender; exit $rc: $(diff <(dump expone) <(dump exp) | head -c 300))"

# 16b. open messages silent for 2 hours of log time are evicted to the store
# (collector/assemble.c's evict): one that a line names again is loaded
# back and ends as in parse; one the sweep drops (max_message_age) is ended
# by the store itself (store_finish_stale), stale, without being loaded;
# the same in one run and in three. Seven hours of log: a message every 10
# minutes around two that wait.
for x in evc evcone; do conf $x "[parse]" "max_message_age = 5h"; done
E() { printf 'Nov 28 %s relay postfix/%s: %s\n' "$1" "$2" "$3"; }
msg() {    # msg TIME QID SENDER ...: a whole message
    E "$1" "smtpd[100]" "$2: client=unknown[127.0.0.2], sasl_method=PLAIN, sasl_username=alice@example.com"
    E "$1" "cleanup[200]" "$2: message-id=<$2@client.example>"
    E "$1" "qmgr[300]" "$2: from=<alice@example.com>, size=500, nrcpt=1 (queue active)"
}
{
    msg 00:00:01 EVA0001; msg 00:00:02 EVB0002
    for q in EVA0001 EVB0002; do
        E 00:00:03 "smtp[400]" "$q: to=<bob@example.org>, relay=mx.example.org[192.0.2.1]:25, delay=2, delays=1/0/1/0, dsn=4.4.1, status=deferred (connect to mx.example.org[192.0.2.1]:25: Connection refused)"
    done
    for m in $(seq 1 42); do
        hh=$(printf '%02d' $((m / 6))) mm=$(printf '%02d' $((m % 6 * 10)))
        q=$(printf 'F%06d' "$m")
        msg "$hh:$mm:00" "$q"
        E "$hh:$mm:01" "smtp[400]" "$q: to=<carol@example.org>, relay=mx.example.org[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)"
        E "$hh:$mm:01" "qmgr[300]" "$q: removed"
        if [ "$m" = 24 ]; then    # 4 hours on: the first one is delivered
            E 04:00:05 "smtp[400]" "EVA0001: to=<bob@example.org>, relay=mx.example.org[192.0.2.1]:25, delay=14402, delays=14400/0/1/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)"
            E 04:00:05 "qmgr[300]" "EVA0001: removed"
        fi
    done
} > "$t/evcone.log"
"$RG" -c "$t/evcone.ini" -vv collect --once --quiet 2> "$t/evcone.err"; rc=$?
: > "$t/evc.log"
for part in "1,60p" "61,150p" "151,\$p"; do
    sed -n "$part" "$t/evcone.log" >> "$t/evc.log"
    "$RG" -c "$t/evc.ini" collect --once --quiet || rc=$?
done
"$RG" -c "$t/evcone.ini" parse "$t/evcone.log" | sort > "$t/evcone.parse"
said=$(grep -o 'evicted to the store.*' "$t/evcone.err")
read -r ev ld st <<< "$(echo "$said" | grep -o '[0-9]\+' | paste -sd' ')"
[ $rc = 0 ] && [ "${ev:-0}" -ge 2 ] && [ "${ld:-0}" -ge 1 ] && [ "${st:-0}" -ge 1 ] \
    && grep -q '"queue_id":"EVA0001","complete":true' <(dump evcone) \
    && grep -q '"queue_id":"EVB0002","complete":false,"stale":true' <(dump evcone) \
    && cmp -s <(dump evcone) "$t/evcone.parse" && cmp -s <(dump evcone) <(dump evc)
ok $? "open messages silent 2 hours are evicted, loaded back when named, ended stale by the store; as parse prints them, in one run as in three (exit $rc; $said)" "$(diff <(dump evcone) "$t/evcone.parse" | head -c 300; diff <(dump evcone) <(dump evc) | head -c 300)"
left=$(sqlite3 "$t/evcone.db" "SELECT count(*) FROM open_msgs o JOIN messages m ON m.id = o.id WHERE m.queue_id IN ('EVA0001', 'EVB0002')")
row=$(sqlite3 "$t/evcone.db" "SELECT open, complete, stale, seq > 0 FROM messages WHERE queue_id = 'EVB0002'")
[ "$left" = 0 ] && [ "$row" = "0|0|1|1" ]
ok $? "the two that waited keep no open state; the stale one's row is finished, numbered for the analyzer (open|complete|stale|seq > 0: $row; $left open states)"

# 17. a spamd result (found by Message-ID) for an open message, in a run of
# its own between the message's other lines, is kept across the restarts
# as in one run
for x in spm spmone; do conf $x; done
L() { printf 'Nov 28 %s relay %s: %s\n' "$1" "$2" "$3"; }
{ L 10:00:00 "postfix/smtpd[100]" "ABC123: client=unknown[127.0.0.2], sasl_method=PLAIN, sasl_username=alice@example.com"
  L 10:00:00 "postfix/cleanup[200]" "ABC123: message-id=<ABC123@x>"; } > "$t/spm.1"
L 10:00:02 "spamd[1234]" "spamd: result: Y 1000 - GTUBE,NO_RELAYS scantime=0.1,size=700,user=x,uid=1,required_score=5.0,rhost=localhost,raddr=127.0.0.1,rport=4,mid=<ABC123@x>,autolearn=no" > "$t/spm.2"
{ L 10:00:03 "postfix/qmgr[300]" "ABC123: from=<alice@example.com>, size=500, nrcpt=1 (queue active)"
  L 10:00:03 "postfix/smtp[400]" "ABC123: to=<bob@example.org>, relay=127.0.0.1[127.0.0.1]:2525, delay=0.02, delays=0.01/0.01/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok)"
  L 10:00:03 "postfix/qmgr[300]" "ABC123: removed"; } > "$t/spm.3"
: > "$t/spm.log"
for i in 1 2 3; do cat "$t/spm.$i" >> "$t/spm.log"; "$RG" -c "$t/spm.ini" collect --once --quiet; done
cp "$t/spm.log" "$t/spmone.log"
"$RG" -c "$t/spmone.ini" collect --once --quiet
grep -q '"source":"spamd"' <(dump spmone) && cmp -s <(dump spmone) <(dump spm)
ok $? "a spamd result in a run of its own is kept across restarts ($(diff <(dump spmone) <(dump spm) | head -c 400))"

# 18. a schema-8 database (tests/fixtures/schema8.sql: the code of commit
# f4972b8, `collect --once` with batch_lines 7 over the first 100 lines of
# the sample: 16 open messages, 9 of them ended and lingering, each with
# its full state and its keys in open_msgs) is read by a reader before any
# collect migrates it; a collect with nothing new migrates it (schema 9:
# every open state in the lean form beside its row, first byte 0x11, the
# same records read back),
# and collecting the rest of the log gives what one run gives. The same
# database taken back to schema 7 (open_msgs without the keys) too: its
# open messages are restored whole and rewritten with their keys.
for v in 8 7; do
    conf v$v
    head -n 100 "$S" > "$t/v$v.log"
    sed "s#@LOG@#$t/v$v.log#" "$TOP/tests/fixtures/schema8.sql" | sqlite3 "$t/v$v.db"
done
sqlite3 "$t/v7.db" "DROP INDEX open_msgs_keys; ALTER TABLE open_msgs DROP COLUMN seq; ALTER TABLE open_msgs DROP COLUMN host; ALTER TABLE open_msgs DROP COLUMN queue_id; ALTER TABLE open_msgs DROP COLUMN first_seen; ALTER TABLE open_msgs DROP COLUMN last_seen; ALTER TABLE open_msgs DROP COLUMN ended; ALTER TABLE open_msgs DROP COLUMN message_id; PRAGMA user_version = 7"
for v in 8 7; do
    dump v$v > "$t/v$v.before" 2> "$t/v$v.err"
    n=$(wc -l < "$t/v$v.before")
    [ "$n" -gt 16 ] && [ "$(sqlite3 "$t/v$v.db" "PRAGMA user_version")" = $v ]
    ok $? "a reader reads a schema-$v database before collect migrates it ($n records: $(head -c 200 "$t/v$v.err"))"
    "$RG" -c "$t/v$v.ini" collect --once --quiet 2> "$t/v$v.err"; rc=$?
    forms=$(sqlite3 "$t/v$v.db" "PRAGMA user_version; SELECT count(*), sum(hex(substr(state, 1, 1)) = '11'), count(seq) FROM open_msgs" | paste -sd'|')
    if [ $v = 8 ]; then want="10|16|16|16"; else want="10|16|16|0"; fi
    [ $rc = 0 ] && [ "$forms" = "$want" ] && cmp -s "$t/v$v.before" <(dump v$v)
    ok $? "collect migrates a schema-$v database: lean open states, the same records (exit $rc; version|open|lean|keyed: $forms, want $want; $(head -c 200 "$t/v$v.err"; diff "$t/v$v.before" <(dump v$v) | head -c 300))"
    sed -n 101,130p "$S" >> "$t/v$v.log"
    "$RG" -c "$t/v$v.ini" collect --once --quiet; rc=$?
    keys=$(sqlite3 "$t/v$v.db" "SELECT count(*), count(seq), sum(hex(substr(state, 1, 1)) = '11') FROM open_msgs")
    tail -n +131 "$S" >> "$t/v$v.log"
    "$RG" -c "$t/v$v.ini" collect --once --quiet || rc=$?
    [ $rc = 0 ] && [ "${keys%%|*}" = "$(echo "$keys" | cut -d'|' -f2)" ] && [ "${keys%%|*}" = "${keys##*|}" ] && cmp -s <(dump one) <(dump v$v)
    ok $? "a migrated schema-$v database, collected on, keys its open messages and equals one run (exit $rc; open|keyed|lean after the first run: $keys; $(diff <(dump one) <(dump v$v) | head -c 300))"
done

# 14. WAL checkpoints in a thread of their own (store/ckpt.c): the writer
# goes on with its next batch while the thread copies the WAL into the
# database; the WAL still starts again from its beginning (without the
# writer's own checkpoint at 4,000 pages it held the whole database:
# 11,921 pages at 10^6 lines), and the database is the one a single CPU
# (SQLite's own checkpoints) writes
python3 "$t/gen.py" "$S" 800000 "$t/ck.log" 60 2026 > /dev/null 2>&1
cp "$t/ck.log" "$t/ck1.log"
for n in ck ck1; do conf $n; sed -i 's/^batch_lines = 7$/batch_lines = 10000/' "$t/$n.ini"; done
"$RG" -c "$t/ck.ini" -vv collect --once 2> "$t/ck.err"; rc=$?
taskset -c 0 "$RG" -c "$t/ck1.ini" -vv collect --once 2> "$t/ck1.err" || rc=$?
line=$(grep "checkpoints:" "$t/ck.err")
runs=$(echo "$line" | sed -n 's/.*checkpoints: \([0-9]*\) in a thread, \([0-9]*\) by the writer.*/\1 \2/p')
most=$(echo "$line" | sed -n 's/.*held at most \([0-9]*\) pages.*/\1/p')
pages=$(sqlite3 "$t/ck.db" "PRAGMA page_count")
if [ "$(nproc)" -ge 2 ]; then
    # the writer completes a checkpoint itself once the WAL reached 4,000
    # pages; a checkpoint thread that kept up alone (the WAL never got
    # there) needs none
    [ $rc = 0 ] && [ "${runs%% *}" -gt 0 ] && { [ "$most" -lt 4000 ] || [ "${runs##* }" -gt 0 ]; } && [ "$most" -le 5000 ] && [ "$most" -lt "$pages" ]
else    # one CPU: SQLite's own checkpoints, no thread to test
    [ $rc = 0 ] && [ -z "$line" ]
fi
ok $? "a checkpoint thread copies the WAL while the collector writes, and the WAL stays bounded ($(nproc) CPUs; $line; the database $pages pages)"
! grep -q "checkpoints:" "$t/ck1.err" && [ "$(sqlite3 "$t/ck.db" "PRAGMA integrity_check")" = ok ] &&
    cmp -s <(dump ck) <(dump ck1) && [ "$(counts ck)" = "$(counts ck1)" ]
ok $? "... and the database equals a one-CPU run's, which keeps SQLite's own checkpoints ($(counts ck) vs $(counts ck1); $(grep "checkpoints:" "$t/ck1.err"))"

# 20. --once --threads 3 reads and parses in a thread of its own
# (collector/col_front.c: the front end), the assembler in the calling
# thread, the store's writer in a third; a
# commit stores the positions after the last line the assembler took,
# never after a line the front end read ahead. Two sources merged by time
# (smtpd's lines, and the rest with a zone of its own, malformed lines and
# other programs' lines among them), small batches: the database (records,
# open state, both positions) equals a one-CPU run's, which reads in the
# calling thread as before
grep -F 'postfix/smtpd[' "$t/big.log" > "$t/fe.a.log"
grep -vF 'postfix/smtpd[' "$t/big.log" | awk 'NR % 997 == 0 { print "not a syslog line " NR } NR % 101 == 0 { sub(/postfix\/[a-z]*/, "cron") } { print }' > "$t/fe.b.log"
for n in fe fe1; do
    { printf '[global]\ndatabase = %s/%s.db\n[parse]\nyear = 2026\ntimezone = UTC\n[collect]\nbatch_lines = 50\n' "$t" "$n"
      printf '[source smtpd]\npath = %s/fe.a.log\n[source rest]\npath = %s/fe.b.log\ntimezone = Europe/Berlin\n' "$t" "$t"; } > "$t/$n.ini"
done
"$RG" -c "$t/fe.ini" -vv collect --once --threads 3 2> "$t/fe.err"; rc=$?
taskset -c 0 "$RG" -c "$t/fe1.ini" -vv collect --once --threads 3 2> "$t/fe1.err" || rc=$?
state() {    # positions, and the open state (messages, sessions, the assembler's)
    sqlite3 "$t/$1.db" "SELECT name, fp, offset, prev_offset, year, last_month, lines FROM sources ORDER BY name; SELECT count(*) FROM open_msgs"
    sqlite3 "$t/$1.db" "SELECT id, hex(state) FROM open_msgs ORDER BY id; SELECT hex(state) FROM asm_state; SELECT id, hex(state) FROM sessions WHERE state IS NOT NULL ORDER BY id" | md5sum | cut -c1-12
}
batches=$(sed -n 's/.*two threads (the front end in its own): \([0-9]*\) batches.*/\1/p' "$t/fe.err")
# (a one-CPU machine reads in one thread both times: the equality below
# then still holds, the thread is not tested)
if [ "$(nproc)" -ge 2 ]; then two_ok() { [ "${batches:-0}" -gt 1 ]; }
else two_ok() { grep -q "collect: one thread" "$t/fe.err"; }; fi
[ $rc = 0 ] && two_ok && grep -q "collect: one thread" "$t/fe1.err" && ! grep -q "two threads" "$t/fe1.err"
ok $? "collect --once --threads 3 reads in a thread of its own with two CPUs ($(nproc) here: $batches batches), in one with one CPU (exit $rc; $(grep -h "thread" "$t/fe.err" "$t/fe1.err" | grep -v checkpoints | head -c 300))"
[ "$(dump fe | wc -l)" -gt 1000 ] && cmp -s <(dump fe) <(dump fe1) && [ "$(counts fe)" = "$(counts fe1)" ] &&
    [ "$(state fe)" = "$(state fe1)" ] && [ "$(sqlite3 "$t/fe.db" "SELECT offset FROM sources WHERE name = 'rest'")" = "$(stat -c %s "$t/fe.b.log")" ]
ok $? "... and stores what a one-CPU run stores: records, open state, both positions ($(counts fe) vs $(counts fe1); $(state fe | paste -sd' ') vs $(state fe1 | paste -sd' '); $(diff <(dump fe) <(dump fe1) | head -c 200))"
# a bad --threads, and --threads with --follow: a usage error, nothing read
cp "$t/fe.db" "$t/fe.before"
"$RG" -c "$t/fe.ini" collect --once --threads 4 > /dev/null 2> "$t/th4.err"; rc4=$?
"$RG" -c "$t/fe.ini" collect --follow --threads 2 > /dev/null 2> "$t/thf.err"; rcf=$?
[ $rc4 = 64 ] && grep -q "collect: --threads: '4' is not 1, 2 or 3" "$t/th4.err" &&
    [ $rcf = 64 ] && grep -q "collect: --threads is for --once" "$t/thf.err" && cmp -s "$t/fe.db" "$t/fe.before"
ok $? "collect --threads 4 and --follow --threads 2 exit 64 with what is wrong, the database untouched (exits $rc4 $rcf: $(cat "$t/th4.err" "$t/thf.err" | head -c 300))"

# 21. --once writes in a thread of its own (store.c's op log, writer.c):
# the calling thread reads, assembles and makes the rows and statements,
# the store's writer thread runs them in the order made, one batch at
# most waiting; the same with the front end in a third thread (--threads
# 3, wr3).
# Small batches (messages saved again at each commit while they wait:
# their child rows deleted, updated and added again), a restart in the
# middle (open messages restored by their keys, loaded when a line names
# them: the calling thread reads only once the writer is done): every row
# of every table the collector writes (the relays' numbers, the batches'
# seq, the open state, the positions) equals a one-CPU run's, which runs
# the same op log at once (batch_lines 50: the front end's batches and
# the one-thread run's end at the same lines, so the batches' seq match
# too). Seen to fail with the writer skipping one statement in 50 (the
# run then fails: a recipient's rows clash), and with the writer dropping
# a failure without its rollback.
half=$(( $(wc -l < "$t/big.log") / 2 ))
for n in wr wr3 wr1; do
    conf $n; sed -i 's/^batch_lines = 7$/batch_lines = 50/' "$t/$n.ini"
    head -n "$half" "$t/big.log" > "$t/$n.log"
done
"$RG" -c "$t/wr.ini" -vv collect --once 2> "$t/wr.err"; rc=$?
"$RG" -c "$t/wr3.ini" -vv collect --once --threads 3 2> "$t/wr3.err" || rc=$?
taskset -c 0 "$RG" -c "$t/wr1.ini" -vv collect --once 2> "$t/wr1.err" || rc=$?
for n in wr wr3 wr1; do cp "$t/big.log" "$t/$n.log"; done
"$RG" -c "$t/wr.ini" -vv collect --once 2>> "$t/wr.err" || rc=$?
"$RG" -c "$t/wr3.ini" -vv collect --once --threads 3 2>> "$t/wr3.err" || rc=$?
taskset -c 0 "$RG" -c "$t/wr1.ini" -vv collect --once 2>> "$t/wr1.err" || rc=$?
# every table the collector writes, each row (sources without the time
# of their update and the file names; of meta the batches' seq: the database's id is random)
tables() {
    local tb
    for tb in messages recipients headers verdicts open_msgs sessions relays asm_state log_loss; do
        sqlite3 "$t/$1.db" "SELECT '$tb', * FROM $tb" | LC_ALL=C sort
    done
    sqlite3 "$t/$1.db" "SELECT name, kind, fp, fp_len, offset, year, last_month, lines, prev_fp, prev_offset FROM sources; SELECT * FROM meta WHERE key = 'seq'"
}
wbatches=$(sed -n "s/.*the store's writer thread: [0-9]* ops, \([0-9]*\) batches.*/\1/p" "$t/wr.err" | paste -sd' ')
# by default the front end stays in the calling thread; --threads 3 runs it in its own
if [ "$(nproc)" -ge 2 ]; then wr_ok() { [ "$(grep -c "the store writes in a thread of its own" "$t/wr.err")" = 2 ] && [ "${wbatches##* }" -gt 10 ] &&
    [ "$(grep -c "collect: the front end in the calling thread" "$t/wr.err")" = 2 ] && ! grep -q "two threads" "$t/wr.err" &&
    [ "$(grep -c "the store writes in a thread of its own" "$t/wr3.err")" = 2 ] && [ "$(grep -c "two threads (the front end in its own)" "$t/wr3.err")" = 2 ]; }
else wr_ok() { ! grep -q "the store writes in a thread" "$t/wr.err" "$t/wr3.err"; }; fi
[ $rc = 0 ] && wr_ok && ! grep -q "the store writes in a thread\|writer thread" "$t/wr1.err"
ok $? "collect --once writes in a thread of its own with two CPUs, the front end in the calling thread (--threads 3: in a third), in the calling thread with one ($(nproc) CPUs here: batches $wbatches; exit $rc; $(grep -h "store writes\|writer thread\|collect: the front\|two threads" "$t/wr.err" "$t/wr3.err" "$t/wr1.err" | head -c 400))"
[ "$(tables wr | wc -l)" -gt 10000 ] && [ "$(sqlite3 "$t/wr.db" "SELECT count(*) FROM open_msgs")" -gt 0 ] &&
    cmp -s <(tables wr) <(tables wr1) && cmp -s <(dump wr) <(dump wr1) &&
    cmp -s <(tables wr3) <(tables wr1) && cmp -s <(dump wr3) <(dump wr1)
ok $? "... and every row it writes equals a one-CPU run's, with the front end in the calling thread and in its own ($(tables wr | wc -l) rows, $(sqlite3 "$t/wr.db" "SELECT count(*) FROM open_msgs") open; $(diff <(tables wr) <(tables wr1) | head -c 200); $(diff <(tables wr3) <(tables wr1) | head -c 200))"

# 19. a message saved again at each commit while it waits (store.c: only
# the child rows that changed since its last save are written, as far as
# the store remembers them; a restart remembers none and rewrites them
# all): with a commit at every line, recipients added one by one, headers
# and a verdict added, deferred recipients retried (a new dsn, then sent),
# one of the messages removed, the rows equal those of runs that each
# restart (one per line: every save after the first rewrites all rows).
# Seen to fail with a changed recipient not updated, headers or a verdict
# not rewritten, or recipients added later not stored.
conf rsv; conf rsr
sed -i 's/^batch_lines = 7$/batch_lines = 1/' "$t/rsv.ini" "$t/rsr.ini"
{
    grep -E "00099A725C1|0229DA72662|02B16A72671" "$S"
    cat <<'EOF'
Nov 28 16:40:03 relay postfix/smtp[26900]: 00099A725C1: to=<later@defer.example.org>, relay=127.0.0.1[127.0.0.1]:45875, delay=1681, delays=1681/0.01/0/0.01, dsn=4.3.0, status=deferred (host 127.0.0.1[127.0.0.1] said: 451 4.3.0 Try again later (in reply to RCPT TO command))
Nov 28 16:41:03 relay postfix-out/smtp[26901]: 0229DA72662: to=<heidi@down.example.org>, relay=127.0.0.1[127.0.0.1]:38649, delay=1740, delays=1740/0.01/0/0.01, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Nov 28 16:41:04 relay postfix/qmgr[26678]: 0229DA72662: removed
Nov 28 16:42:03 relay postfix/error[26902]: 02B16A72671: to=<ivan@down.example.org>, relay=none, delay=1800, delays=1800/0/0/0, dsn=4.4.1, status=deferred (delivery temporarily suspended: connect to 127.0.0.1[127.0.0.1]:38649: Connection refused)
Nov 28 17:10:03 relay postfix/smtp[26903]: 00099A725C1: to=<later@defer.example.org>, relay=127.0.0.1[127.0.0.1]:45875, delay=3480, delays=3480/0.01/0/0.01, dsn=2.0.0, status=sent (250 2.0.0 Ok)
EOF
} > "$t/rsv.log"
"$RG" -c "$t/rsv.ini" collect --once --quiet; rc=$?
: > "$t/rsr.log"
while IFS= read -r l; do
    printf '%s\n' "$l" >> "$t/rsr.log"
    "$RG" -c "$t/rsr.ini" collect --once --quiet || rc=$?
done < "$t/rsv.log"
# every row of the message tables (the relays table numbers repeated texts
# as a run sees them: not compared), and the records rebuilt from them
rows() {
    local tb
    for tb in messages recipients headers verdicts open_msgs; do
        sqlite3 "$t/$1.db" "SELECT '$tb', * FROM $tb" | LC_ALL=C sort
    done
    "$RG" dump messages --open --database "$t/$1.db" | LC_ALL=C sort
}
want="recipients|1|1|later@defer.example.org|sent|2.0.0 recipients|2|2|heidi@down.example.org|sent|2.0.0"
got=$(rows rsv | grep -E "^recipients\|[12]\|(1\|later|2\|heidi)" | paste -sd' ')
[ $rc = 0 ] && [ "$got" = "$want" ] && cmp -s <(rows rsv) <(rows rsr)
ok $? "messages saved again at each commit: the rows equal those of a restart at every line ($(rows rsv | wc -l) rows; exit $rc; $got; $(diff <(rows rsv) <(rows rsr) | head -c 300))"

# 13. only collect and init create a database: the other commands refuse a
# missing one (66) and create nothing
conf miss
for c in "messages" "stats" "users" "analyze" "lock user a@example.com --reason x"; do
    # shellcheck disable=SC2086
    "$RG" -c "$t/miss.ini" $c > /dev/null 2> "$t/miss.err"; rc=$?
    [ $rc = 66 ] && [ ! -e "$t/miss.db" ] && grep -q "miss.db" "$t/miss.err"
    ok $? "$c on a missing database exits 66 and creates nothing (exit $rc: $(head -c 160 "$t/miss.err"))"
done
exit 0
