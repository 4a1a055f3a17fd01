#!/bin/bash
# tests/suites/rotation.sh - `relayguard collect --once` over the maillog_file
# of a real Postfix (tests/lib/postfix.sh) while it relays mail and its log
# is rotated by the real tools:
#
#   create        logrotate: rename + create, postrotate "postfix reload"
#                 (postlogd writes to the renamed file until the reload)
#   copytruncate  logrotate copytruncate (lines written between the copy and
#                 the truncation are lost from the files: the check is
#                 against what the files hold)
#   delaycompress logrotate compress + delaycompress + create + reload,
#                 twice: maillog.1, then maillog.2.gz
#   postfix       postfix logrotate (rename to maillog.YYYYMMDD-HHMMSS,
#                 reload, sleep 1, gzip)
#   stopped       the collector not running while the log is rotated three
#                 times (logrotate delaycompress, postfix logrotate, logrotate
#                 delaycompress again: its file is then maillog.2.gz), with
#                 mail in between
#   late          `collect --follow`: maillog renamed, and a line in the new
#                 maillog from another writer that has moved already (as
#                 rsyslog writes "rsyslogd was HUPed"); once the collector
#                 has read that line (it has left the renamed file), mail is
#                 sent while postlogd still writes to the renamed file (a
#                 postrotate that has not run "postfix reload" yet), so these
#                 lines come after the collector moved on, by as long as it
#                 took to move (for an old collector: after its 2 s of quiet);
#                 the daemon must read them. Then the same with `collect
#                 --once` runs in between (the daemon stopped), then the
#                 reload, more mail, and the daemon again.
#   ctfollow      `collect --follow` and logrotate copytruncate, the daemon
#                 stopped (SIGSTOP) until postlogd has written the truncated
#                 maillog past its offset again (its size cannot tell): the
#                 copy's unread lines and the whole new file are read once.
#
# In every case but "stopped", test mail is sent (tests/lib/traffic.py) and
# `collect --once` runs again and again in the background while the
# rotation happens; after the queue settled, one more `collect --once`.
# Then the check: every line of the log files (the live one, the rotated
# ones, and those of earlier cases, decompressed) is read exactly once
# (sources.lines = their line count), and the stored records equal
# `relayguard parse --sessions` over all those files, oldest first
# (tests/lib/collect_check.py: finished rows exactly, open rows without
# "complete"/"aborted", which parse settles at the end of its input). After
# a case its rotated files are moved aside (so that the next case's
# logrotate does not overwrite them) and still count for the next checks.
#
# Needs root, the packages of scripts/install-deps test (logrotate, sqlite3).
# Environment: RELAYGUARD, RG_KEEP=1 keeps the temporary folder. About 90 s.
set -u
top=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
RELAYGUARD=${RELAYGUARD:-$top/build/relayguard}
suite=rotation
CHECK=$top/tests/lib/collect_check.py

if [ ! -x "$RELAYGUARD" ]; then
    echo "FAIL: $suite: no relayguard binary at $RELAYGUARD (run make)"
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "SKIP: $suite: needs root to run a private Postfix"
    exit 0
fi
for p in logrotate sqlite3 gzip; do
    if ! command -v "$p" >/dev/null; then
        echo "FAIL: $suite: no $p (scripts/install-deps test)"
        exit 1
    fi
done
# shellcheck source=tests/lib/postfix.sh
. "$top/tests/lib/postfix.sh"

work=$(mktemp -d /tmp/rg-rotation.XXXXXX) || exit 1
chmod 755 "$work"
loop_pid=
traffic_pid=
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    touch "$work/stop" 2>/dev/null
    [ -n "$loop_pid" ] && wait "$loop_pid" 2>/dev/null
    [ -n "$traffic_pid" ] && wait "$traffic_pid" 2>/dev/null
    [ -n "${daemon_pid:-}" ] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
    pf_stop
    if [ "${RG_KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap "exit 130" INT TERM HUP
t_start=$SECONDS

# the binary may be rebuilt while the suite runs: use a copy
cp "$RELAYGUARD" "$work/relayguard" || exit 1
RG=$work/relayguard

export PF_EXTRA_MAIN="maillog_file_compressor = gzip;maillog_file_rotate_suffix = %Y%m%d-%H%M%S"
if ! pf_start "$work/pf" 2>"$work/pf_start.err"; then
    cat "$work/pf_start.err"
    echo "FAIL: $suite: the Postfix harness did not start: $(head -n 1 "$work/pf_start.err")"
    exit 1
fi
mkdir -p "$work/archive"
cat > "$work/rg.ini" <<EOF
[global]
database = $work/rg.db
[parse]
year = 2026
timezone = UTC
[collect]
batch_lines = 100
[source maillog]
type = file
path = $PF_LOG
EOF

# ---- helpers -----------------------------------------------------------------

lr_conf() {    # lr_conf NAME OPTIONS... - a logrotate config for $PF_LOG
    local name=$1 o
    shift
    {
        echo "$PF_LOG {"
        echo "    rotate 50"
        echo "    missingok"
        for o in "$@"; do echo "    $o"; done
        echo "}"
    } > "$work/logrotate-$name.conf"
}
lr_conf create "create 0644 root root" nocompress sharedscripts postrotate \
    "    postfix -c $PF_CONF reload >/dev/null 2>&1" endscript
lr_conf copytruncate copytruncate nocompress
lr_conf delaycompress "create 0644 root root" compress delaycompress sharedscripts postrotate \
    "    postfix -c $PF_CONF reload >/dev/null 2>&1" endscript

logrotate_() {    # logrotate_ NAME
    logrotate -f -s "$work/logrotate.state" "$work/logrotate-$1.conf" >>"$work/logrotate.out" 2>&1 \
        || { echo "logrotate $1 failed: $(tail -n 3 "$work/logrotate.out")" >&2; return 1; }
}
pf_logrotate() {
    postfix -c "$PF_CONF" logrotate </dev/null >>"$work/postfix-logrotate.out" 2>&1 \
        || { echo "postfix logrotate failed: $(tail -n 3 "$work/postfix-logrotate.out")" >&2; return 1; }
}

collect() { "$RG" -c "$work/rg.ini" collect --once --quiet 2>>"$work/collect.err"; }

# collect_loop - collect --once again and again until $work/stop appears
collect_loop() {
    local n=0
    while [ ! -e "$work/stop" ]; do
        collect || echo "collect --once exited with status $? (background run $n)" >> "$work/collect.err"
        n=$((n + 1))
        sleep 0.$((RANDOM % 3))
    done
    echo "$n" > "$work/loop.count"
}
loop_start() { rm -f "$work/stop"; collect_loop & loop_pid=$!; }
loop_stop() { touch "$work/stop"; wait "$loop_pid"; loop_pid=; rm -f "$work/stop"; LOOP_RUNS=$(cat "$work/loop.count"); }

round=0
traffic_start() {
    round=$((round + 1))
    /usr/bin/python3 "$top/tests/lib/traffic.py" send "$work/manifest.$round.json" \
        >>"$work/traffic.out" 2>&1 &
    traffic_pid=$!
}
traffic_wait() { [ -n "$traffic_pid" ] && wait "$traffic_pid"; traffic_pid=; }

# rotated - the rotated files beside $PF_LOG, oldest (mtime) first
rotated() { (cd "$PF_DIR" && ls -1tr -- maillog.* maillog-* 2>/dev/null); }

# check CASE - the database against every line of every file
check() {
    local case=$1 files f total stored sizes1 sizes2
    for _ in 1 2 3; do
        files=()
        for f in "$work"/archive/*; do [ -e "$f" ] && files+=("$f"); done
        while read -r f; do files+=("$PF_DIR/$f"); done < <(rotated)
        files+=("$PF_LOG")
        sizes1=$(stat -c '%n %s' "${files[@]}" | md5sum)
        "$RG" parse --sessions --year 2026 --tz UTC "${files[@]}" > "$work/parse.$case.jsonl" \
            2>"$work/parse.$case.err"
        total=$(for f in "${files[@]}"; do zcat -f -- "$f"; done | wc -l)
        sizes2=$(stat -c '%n %s' "${files[@]}" | md5sum)
        [ "$sizes1" = "$sizes2" ] && break
        # Postfix wrote while we looked: let it settle, read again
        pf_flush_log 10 >/dev/null 2>&1; collect
    done
    stored=$(sqlite3 "$work/rg.db" "SELECT coalesce(sum(lines), 0) FROM sources")
    local names
    names=$(for f in "${files[@]}"; do basename "$f"; done | tr '\n' ' ')
    if [ "$stored" = "$total" ]; then
        echo "PASS: $suite: $case: every line read once ($total lines in ${#files[@]} files: $names)"
    else
        echo "FAIL: $suite: $case: the collector read $stored lines, the files hold $total ($names)"
    fi
    if python3 "$CHECK" vs-parse "$work/rg.db" "$work/parse.$case.jsonl" "$case" > "$work/vs-parse.$case.out"; then
        echo "PASS: $suite: $case: records equal parse over the files: $(head -n 1 "$work/vs-parse.$case.out" | cut -d: -f2-)"
    else
        sed 's/^/    /' "$work/vs-parse.$case.out" | head -n 30
        echo "FAIL: $suite: $case: records differ from parse over the files: $(head -n 1 "$work/vs-parse.$case.out" | cut -d: -f2-)"
    fi
    if grep -q . "$work/collect.err"; then
        echo "FAIL: $suite: $case: collector errors or warnings: $(grep -m 3 . "$work/collect.err" | tr '\n' '|')"
        cat "$work/collect.err" >> "$work/collect.err.all"; : > "$work/collect.err"
    fi
}

# archive - move this case's rotated files aside, oldest first (numbered)
archive_n=0
archive() {
    local f
    while read -r f; do
        archive_n=$((archive_n + 1))
        mv "$PF_DIR/$f" "$work/archive/$(printf '%03d' $archive_n)-$f"
    done < <(rotated)
}

# settle - wait for the queue and the log, then the last collect --once
settle() {
    traffic_wait
    pf_wait_settled 40 >/dev/null 2>>"$work/settle.err" || echo "queue did not settle" >> "$work/settle.err"
    pf_flush_log --marker 10 >/dev/null 2>>"$work/settle.err"
}

# run_case NAME ROTATE... - traffic, background collector, rotation(s)
# (each ROTATE a command, separated by "--"), settle, collect, check
run_case() {
    local name=$1 rc=0 t0=$SECONDS
    shift
    : > "$work/collect.err"
    traffic_start
    loop_start
    sleep 0.5
    local cmd=()
    for a in "$@" --; do
        if [ "$a" = -- ]; then
            [ ${#cmd[@]} -gt 0 ] && { "${cmd[@]}" || rc=1; sleep 0.3; }
            cmd=()
        else
            cmd+=("$a")
        fi
    done
    settle
    loop_stop
    collect || echo "collect --once exited with status $?" >> "$work/collect.err"
    if [ $rc != 0 ]; then
        echo "FAIL: $suite: $name: the rotation failed: $(tail -n 2 "$work/logrotate.out" "$work/postfix-logrotate.out" 2>/dev/null | tr '\n' ' ')"
    fi
    echo "$name: $LOOP_RUNS background collect runs, $((SECONDS - t0)) s; files: $(cd "$PF_DIR" && ls -1 maillog* | tr '\n' ' ')"
    check "$name"
    archive
}

# ---- the cases ---------------------------------------------------------------

# a first round of mail and a first read: the position is in the live file
traffic_start
settle
collect
check initial

run_case create logrotate_ create
run_case copytruncate logrotate_ copytruncate
# twice, mail in between: maillog.1, then maillog.2.gz
run_case delaycompress logrotate_ delaycompress -- traffic_wait -- traffic_start -- sleep 1 -- logrotate_ delaycompress
run_case postfix pf_logrotate

# the collector stopped: rotate twice with mail in between, then run it
: > "$work/collect.err"
t0=$SECONDS
traffic_start
sleep 0.5
r=0
logrotate_ delaycompress || r=1
traffic_wait
traffic_start
sleep 0.5
pf_logrotate || r=1
settle
logrotate_ delaycompress || r=1    # the maillog.N.gz of the first one move on
traffic_start
settle
[ $r = 0 ] || echo "FAIL: $suite: stopped: a rotation failed: $(tail -n 2 "$work/logrotate.out" "$work/postfix-logrotate.out" | tr '\n' ' ')"
collect || echo "collect --once exited with status $?" >> "$work/collect.err"
echo "stopped: 3 rotations with the collector not running, then one run, $((SECONDS - t0)) s; files: $(cd "$PF_DIR" && ls -1 maillog* | tr '\n' ' ')"
check stopped

archive

# late: the writer goes on writing to the renamed file after the collector
# has left it (see the top). Every wait is for something measured: the
# stored line count (the daemon commits what it read when it runs dry)
# reaching the files' line count, bounded by $late_bound seconds.
late_bound=60
files_lines() {    # every line of every file, as check counts them
    local f
    {
        for f in "$work"/archive/*; do [ -e "$f" ] && zcat -f -- "$f"; done
        while read -r f; do zcat -f -- "$PF_DIR/$f"; done < <(rotated)
        cat "$PF_LOG" 2>/dev/null
    } | wc -l
}
stored_lines() { sqlite3 -cmd ".timeout 5000" "$work/rg.db" "SELECT coalesce(sum(lines), 0) FROM sources"; }
# wait_read WHAT - until the daemon has stored every line of the files
# (reported as case $wr_case, default late)
wait_read() {
    local t0=$SECONDS want got
    while :; do
        want=$(files_lines); got=$(stored_lines)
        if [ "$got" = "$want" ]; then
            echo "PASS: $suite: ${wr_case:-late}: $1 ($got lines, $((SECONDS - t0)) s)"
            return 0
        fi
        if ! kill -0 "$daemon_pid" 2>/dev/null; then
            echo "FAIL: $suite: ${wr_case:-late}: $1: the daemon exited ($got of $want lines stored): $(grep -m 2 . "$work/collect.err" | tr '\n' '|')"
            return 1
        fi
        if [ $((SECONDS - t0)) -ge $late_bound ]; then
            echo "FAIL: $suite: ${wr_case:-late}: $1: $got of $want lines stored after $late_bound s"
            return 1
        fi
        sleep 0.2
    done
}
daemon_pid=
daemon_start() {
    "$RG" -c "$work/rg.ini" collect --follow --quiet 2>>"$work/collect.err" &
    daemon_pid=$!
}
daemon_stop() {
    kill -TERM "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" || echo "collect --follow exited with status $?" >> "$work/collect.err"
    daemon_pid=
}
: > "$work/collect.err"
t0=$SECONDS
old=$PF_DIR/maillog.1
daemon_start
traffic_start
settle
wait_read "the daemon read the live file"
mv "$PF_LOG" "$old"
echo "$(LC_ALL=C date -u '+%b %e %T') $PF_HOSTNAME rsyslogd: [origin software=\"rsyslogd\"] rsyslogd was HUPed" >> "$PF_LOG"
wait_read "the daemon read the new file's first line (it moved on)"
before=$(wc -l < "$old")
traffic_start
PF_LOG=$old settle
late=$(($(wc -l < "$old") - before))
wait_read "the daemon read the $late lines postlogd wrote to the renamed file after that"
daemon_stop
# --once runs (a timer) while postlogd still writes to the renamed file
traffic_start
loop_start
PF_LOG=$old settle
loop_stop
collect || echo "collect --once exited with status $?" >> "$work/collect.err"
n=$(files_lines); got=$(stored_lines)
[ "$got" = "$n" ]; ok_late=$?
if [ $ok_late = 0 ]; then
    echo "PASS: $suite: late: $LOOP_RUNS collect --once runs read what postlogd went on writing to the renamed file ($got lines)"
else
    echo "FAIL: $suite: late: after $LOOP_RUNS collect --once runs $got of $n lines are stored"
fi
# the reload: postlogd moves to the new file; the daemon again
postfix -c "$PF_CONF" reload >/dev/null 2>&1 || echo "FAIL: $suite: late: postfix reload failed"
daemon_start
traffic_start
settle
PF_LOG=$old pf_flush_log 10 >/dev/null 2>&1
wait_read "after the reload, the daemon read both files"
daemon_stop
echo "late: $((SECONDS - t0)) s; files: $(cd "$PF_DIR" && ls -1 maillog* | tr '\n' ' ')"
check late

archive

# ctfollow: logrotate copytruncate under `collect --follow`, seen only after
# postlogd has written the truncated maillog past the daemon's offset again
# (a busy relay writes megabytes a minute; just after a rotation the offset
# is small), so that its size cannot tell. A first copytruncate while the
# daemon runs (the offset becomes small); then the daemon is stopped
# (SIGSTOP), mail is sent, logrotate copies and truncates the maillog (the
# copy holds lines the daemon has not read), and the daemon goes on only
# once the new maillog is longer than its offset (measured; more mail until
# then, bounded by $late_bound seconds). Every line of the copy and the new
# file must be read once.
: > "$work/collect.err"
t0=$SECONDS
wr_case=ctfollow
daemon_start
traffic_start
settle
wait_read "the daemon read the live file"
logrotate_ copytruncate || echo "FAIL: $suite: ctfollow: the first copytruncate failed"
pf_flush_log --marker 10 >/dev/null 2>>"$work/settle.err"
wait_read "the daemon read the first copy's rest and the new file"
off=$(sqlite3 -cmd ".timeout 5000" "$work/rg.db" "SELECT offset FROM sources")
kill -STOP "$daemon_pid"
traffic_start
pf_flush_log 10 >/dev/null 2>>"$work/settle.err"    # some lines for the copy
logrotate_ copytruncate || echo "FAIL: $suite: ctfollow: the second copytruncate failed"
while [ "$(stat -c %s "$PF_LOG")" -le "$off" ] && [ $((SECONDS - t0)) -lt $late_bound ]; do
    if ! kill -0 "$traffic_pid" 2>/dev/null; then traffic_wait; traffic_start; fi
    sleep 0.2
done
size=$(stat -c %s "$PF_LOG")
copy_lines=$(wc -l < "$PF_DIR/maillog.1")
kill -CONT "$daemon_pid"
if [ "$size" -gt "$off" ]; then
    echo "PASS: $suite: ctfollow: the new maillog ($size bytes) is past the daemon's offset ($off) when it looks; the copy holds $copy_lines lines"
else
    echo "FAIL: $suite: ctfollow: the new maillog did not grow past the daemon's offset in $late_bound s ($size <= $off bytes)"
fi
settle
wait_read "the daemon read the copy's rest and the whole new file"
daemon_stop
echo "ctfollow: $((SECONDS - t0)) s; files: $(cd "$PF_DIR" && ls -1 maillog* | tr '\n' ' ')"
check ctfollow

grep -h "traffic.py" "$work/traffic.out" | sort | uniq -c | head -n 5
echo "counts: $(python3 "$CHECK" counts "$work/rg.db"); $round rounds of test mail; took $((SECONDS - t_start)) s"
exit 0
