#!/bin/bash
# guards.sh - what keeps a lock from being lifted or frozen by accident:
# only collect and init create a database, the maps remember which database
# wrote them (analyze refuses another one's unless --adopt), every child
# process has a timeout that kills its process group, and a busy analyzer
# lock is given up after a bound (and never stops collect --follow).
# postmap runs for real (postmap -q reads the maps back); a Postfix daemon
# is not needed.
set -u
top=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
suite=guards
RG=${RELAYGUARD:-$top/build/relayguard}
[ -x "$RG" ] || { echo "FAIL: $suite: no relayguard binary at $RG"; exit 1; }
command -v /usr/sbin/postmap > /dev/null || { echo "SKIP: $suite: no postmap"; exit 0; }
t=$(mktemp -d /tmp/rg-guards.XXXXXX); chmod 755 "$t"
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; [ "${RG_KEEP:-0}" = 1 ] && echo "kept $t" >&2 || rm -rf "$t"' EXIT
ok() { if [ "$1" = 0 ]; then echo "PASS: $suite: $2"; else echo "FAIL: $suite: $2${3:+: $3}"; fi; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# group_gone PGID: no process of the group is left (SIGKILL takes effect
# asynchronously: give the kernel and init up to 5 s to reap them)
group_gone() {
    [ -n "$1" ] || return 1
    for _ in $(seq 1 100); do pgrep -g "$1" > /dev/null || return 0; sleep 0.05; done
    return 1
}
mkdir -p "$t/pf"; : > "$t/pf/main.cf"
q() { /usr/sbin/postmap -c "$t/pf" -q "$1" "hash:$t/maps/sasl_access"; }

# conf NAME [lines...]: $t/NAME.ini on database $t/NAME.db, maps in $t/maps
conf() {
    local name=$1; shift
    {
        printf '[global]\ndatabase = %s/%s.db\nmap_directory = %s/maps\n' "$t" "$name" "$t"
        printf 'postfix_config_directory = %s/pf\n' "$t"
        printf '[parse]\nyear = 2026\ntimezone = UTC\n'
        printf '[source postfix]\npath = %s/%s.log\n' "$t" "$name"
        printf '[user "alice@example.com"]\n'
        for l in "$@"; do printf '%s\n' "$l"; done
    } > "$t/$name.ini"
}

# 1. init creates the database and the map directory, and again changes nothing
conf a
"$RG" -c "$t/a.ini" init > "$t/i1.out" 2>&1; r1=$?
id1=$(sqlite3 "$t/a.db" "SELECT value FROM meta WHERE key = 'database_id'" 2>/dev/null)
"$RG" -c "$t/a.ini" init > "$t/i2.out" 2>&1; r2=$?
id2=$(sqlite3 "$t/a.db" "SELECT value FROM meta WHERE key = 'database_id'")
[ $r1 = 0 ] && [ $r2 = 0 ] && [ -n "$id1" ] && [ "$id1" = "$id2" ] && [ -d "$t/maps" ] && grep -q "database_id=$id1" "$t/maps/.relayguard-database"
ok $? "init creates the database and the map directory, and is idempotent (id ${id1:-none}; $(head -c 200 "$t/i2.out"))"

# 2. a lock from database a is in the maps
"$RG" -c "$t/a.ini" lock user alice@example.com --reason test > "$t/l.out" 2>&1; rc=$?
[ $rc = 0 ] && q alice@example.com | grep -q "4.7.1"; ok $? "a manual lock is written to sasl_access (exit $rc)" "$(head -c 300 "$t/l.out")"

# 3. the database is gone (a volume not mounted): analyze refuses (66) and
# creates nothing; the lock stays in the map
mv "$t/a.db" "$t/a.db.away"
"$RG" -c "$t/a.ini" analyze > "$t/m.out" 2>&1; rc=$?
[ $rc = 66 ] && [ ! -e "$t/a.db" ] && q alice@example.com | grep -q "4.7.1"
ok $? "analyze on a missing database exits 66, creates none, leaves the locks (exit $rc: $(head -c 200 "$t/m.out"))"

# 4. a new, empty database at that path (collect created it): analyze
# refuses to replace the maps another database wrote
cp /dev/null "$t/a.log"
"$RG" -c "$t/a.ini" collect --once --quiet 2> /dev/null
"$RG" -c "$t/a.ini" analyze > "$t/o.out" 2>&1; rc=$?
[ $rc = 65 ] && grep -q "written from another database" "$t/o.out" && q alice@example.com | grep -q "4.7.1"
ok $? "analyze refuses maps written from another database (exit $rc), the lock stays: $(head -c 240 "$t/o.out")"
"$RG" -c "$t/a.ini" unlock user alice@example.com > "$t/u.out" 2>&1; rc=$?
[ $rc = 65 ] && q alice@example.com | grep -q "4.7.1"; ok $? "unlock refuses them too (exit $rc)"
"$RG" -c "$t/a.ini" collect --once --quiet --analyze > "$t/ca.out" 2>&1; rc=$?
[ $rc = 75 ] && q alice@example.com | grep -q "4.7.1"; ok $? "collect --once --analyze refuses them too (exit $rc)"
# 5. --adopt: told to, it takes them over (and writes this database's locks)
"$RG" -c "$t/a.ini" analyze --adopt > "$t/ad.out" 2>&1; rc=$?
id3=$(sqlite3 "$t/a.db" "SELECT value FROM meta WHERE key = 'database_id'")
[ $rc = 0 ] && grep -q "action=adopt_maps" "$t/ad.out" && grep -q "database_id=$id3" "$t/maps/.relayguard-database" && ! q alice@example.com | grep -q .
ok $? "analyze --adopt takes the maps over (exit $rc)" "$(head -c 300 "$t/ad.out")"
# the old database back: now it is the other one
mv "$t/a.db.away" "$t/a.db"; rm -f "$t/a.db-wal" "$t/a.db-shm"
"$RG" -c "$t/a.ini" analyze > /dev/null 2>&1; rc=$?
[ $rc = 65 ]; ok $? "the old database is refused in turn (exit $rc)"
"$RG" -c "$t/a.ini" analyze --adopt > /dev/null 2>&1 && q alice@example.com | grep -q "4.7.1"
ok $? "and adopted back, its lock is in the map again"

# 6. a postmap that hangs is killed with its process group at
# command_timeout, and the run fails at once
mkdir -p "$t/bin"
cat > "$t/bin/postmap" <<SH
#!/bin/sh
echo \$\$ > "$t/postmap.pgid"
sleep 300 &
echo \$! > "$t/postmap.child"
wait
SH
chmod 755 "$t/bin/postmap"
for c in postfix postqueue postsuper postconf; do ln -sf /usr/sbin/$c "$t/bin/$c"; done
sed -i '/^\[parse\]/i command_directory = '"$t"'/bin\ncommand_timeout = 1s' "$t/a.ini"
"$RG" -c "$t/a.ini" check-config > /dev/null; ok $? "the configuration with command_directory and command_timeout is valid"
t0=$(now_ms)
"$RG" -c "$t/a.ini" unlock user alice@example.com > "$t/h.out" 2>&1; rc=$?
el=$(( $(now_ms) - t0 ))
pg=$(cat "$t/postmap.pgid" 2>/dev/null); ch=$(cat "$t/postmap.child" 2>/dev/null)
[ $rc = 75 ] && [ -n "$pg" ] && grep -q "timed out" "$t/h.out"
ok $? "a hanging postmap is killed at the timeout and unlock exits 75 after ${el} ms (timeout 1000 ms)" "$(head -c 300 "$t/h.out")"
gone=1
for _ in $(seq 1 100); do
    if [ -n "$pg" ] && ! pgrep -g "$pg" > /dev/null && ! kill -0 "${ch:-0}" 2>/dev/null; then gone=0; break; fi
    sleep 0.05
done
ok $gone "its process group (postmap and its child sleep) is gone" "$(pgrep -a -g "${pg:-0}")"
rm -f "$t/postmap.pgid"
t0=$(now_ms)
"$RG" -c "$t/a.ini" analyze > "$t/h2.out" 2>&1; rc=$?
el=$(( $(now_ms) - t0 ))
[ $rc = 75 ] && [ -s "$t/postmap.pgid" ] && grep -q "timed out" "$t/h2.out"
ok $? "analyze with a hanging postmap exits 75 after ${el} ms" "$(head -c 300 "$t/h2.out")"
ls "$t/maps" | grep -q '\.new' && ok 1 "no half map is left" "$(ls "$t/maps")" || ok 0 "no half map (.new) is left"

# a `postfix status` that hangs (a changed cidr map wants a reload) is
# killed the same way, and the run fails
ln -sf /usr/sbin/postmap "$t/bin/postmap"; rm -f "$t/bin/postfix"
printf '#!/bin/sh\necho $$ > "%s/postfix.pgid"\nsleep 300\n' "$t" > "$t/bin/postfix"
chmod 755 "$t/bin/postfix"
printf '[user "127.0.0.9"]\ntype = ip\n' >> "$t/a.ini"
"$RG" -c "$t/a.ini" analyze > /dev/null 2>&1    # the postmap'ed maps as they are now
t0=$(now_ms)
"$RG" -c "$t/a.ini" lock user 127.0.0.9 --reason test > "$t/r.out" 2>&1; rc=$?
el=$(( $(now_ms) - t0 ))
[ $rc = 75 ] && grep -q "action=reload result=failed.*timed out" "$t/r.out" && [ -s "$t/postfix.pgid" ] && group_gone "$(cat "$t/postfix.pgid")"
ok $? "a hanging postfix status is killed with its group, the run exits 75 after ${el} ms" "$(head -c 300 "$t/r.out")"

# 7. the analyzer lock: a run that cannot get it within analyze_lock_wait
# says so and exits 75
sed -i '/^command_directory/d; /^command_timeout/d' "$t/a.ini"
sed -i '/^\[parse\]/i analyze_lock_wait = 1s' "$t/a.ini"
# held by this shell on fd 9 (children get it closed: 9>&-)
exec 9> "$t/maps/.analyze.lock"; flock -x 9
t0=$(now_ms)
"$RG" -c "$t/a.ini" analyze > "$t/w.out" 2>&1 9>&-; rc=$?
el=$(( $(now_ms) - t0 ))
[ $rc = 75 ] && grep -q "another analyzer holds" "$t/w.out"
ok $? "analyze gives up on a held analyzer lock after analyze_lock_wait (exit $rc after ${el} ms)" "$(head -c 300 "$t/w.out")"

# 8. collect --follow --analyze goes on collecting while another analyzer
# holds the lock (it tries again after the next batch)
conf f
head -n 40 "$top/samples/relay.log" > "$t/f.log"
"$RG" -c "$t/f.ini" collect --follow --quiet --analyze > "$t/f.out" 2> "$t/f.err" 9>&- & fp=$!; pids+=("$fp")
stored() { [ "$(sqlite3 "$t/f.db" "SELECT offset FROM sources" 2>/dev/null)" = "$(stat -c %s "$t/f.log")" ]; }
for _ in $(seq 1 200); do stored && break; sleep 0.1; done
tail -n +41 "$top/samples/relay.log" >> "$t/f.log"
for _ in $(seq 1 200); do stored && break; sleep 0.1; done
stored; ok $? "collect --follow --analyze stores new lines while the analyzer lock is held" "$(head -c 300 "$t/f.err")"
grep -q "another analyzer holds" "$t/f.err"; ok $? "and says why it did not analyze"
flock -u 9; exec 9>&-
kill -TERM "$fp"; wait "$fp"; rc=$?
[ $rc = 0 ]; ok $? "it exits 0 on SIGTERM (exit $rc)"
exit 0
