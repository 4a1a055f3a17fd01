#!/bin/bash
# collect.sh - the collector on the project's own sample log: incremental
# runs equal one parse, follow mode and signals, bad databases and sources,
# retention, messages and stats.
set -u
RG=${RELAYGUARD:-$TOP/build/relayguard}
t=$(mktemp -d /tmp/rg-collect.XXXXXX); chmod 755 "$t"
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$t"' EXIT
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
dump() { sqlite3 "$t/$1.db" "SELECT json FROM messages" | sort; }
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

# 3. messages and stats
out=$("$RG" -c "$t/one.ini" messages --json --user alice@example.com)
[ -n "$out" ] && ! grep -qv '"sasl_username":"alice@example.com"' <<<"$out"; ok $? "messages --user selects the login's messages"
out=$("$RG" -c "$t/one.ini" messages --json --since 2030-01-01)
[ -z "$out" ]; ok $? "messages --since filters by time"
"$RG" -c "$t/one.ini" stats --json > "$t/stats.json"
python3 - "$t/stats.json" "$t/one.parse" <<'PY'
import json, sys
stats = {r["user"]: r for r in map(json.loads, open(sys.argv[1]))}
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
[ $rc = 74 ] && grep -q "source missing.*nosuch.log" "$t/two.err" && [ "$(dump two | wc -l)" = "$(dump one | wc -l)" ]
ok $? "a missing source is reported (exit $rc) and the others are read"

# 7. retention: finished rows older than the retention are pruned
conf old
sed 's/^Nov 28/Jan  5/' "$S" > "$t/old.log"
"$RG" -c "$t/old.ini" collect --once --quiet
left=$(sqlite3 "$t/old.db" "SELECT count(*) FROM messages WHERE open = 0")
opn=$(sqlite3 "$t/old.db" "SELECT count(*) FROM messages WHERE open = 1")
[ "$left" = 0 ] && [ "$opn" -gt 0 ]; ok $? "rows older than the retention are pruned, open ones kept ($opn open)"
exit 0
