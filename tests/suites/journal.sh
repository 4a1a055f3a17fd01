#!/bin/bash
# journal.sh - the collector on a systemd journal: real journal files,
# written by systemd-journal-remote from export-format input made of the
# project's sample Postfix log (plus another unit's lines that the match
# must keep out and journald's "Suppressed N messages" notices), give the
# same records as the same lines read from a file; the cursor resumes
# exactly, over a new file and over a file that grew, and every notice
# about our unit lands in log_loss exactly once.
set -u
RG=${RELAYGUARD:-$TOP/build/relayguard}
JR=/lib/systemd/systemd-journal-remote
t=$(mktemp -d /tmp/rg-journal.XXXXXX)
fp=
trap '[ -n "$fp" ] && kill -9 "$fp" 2>/dev/null; [ -z "${KEEP:-}" ] && rm -rf "$t"' EXIT
S=$TOP/samples/relay.log

ok() { if [ "$1" = 0 ]; then echo "PASS: journal: $2"; else echo "FAIL: journal: $2${3:+: $3}"; fi; }
if [ ! -x "$JR" ]; then
    echo "SKIP: journal: all: $JR is missing (apt-get install systemd-journal-remote)"
    exit 0
fi
if ! command -v sqlite3 >/dev/null; then
    echo "SKIP: journal: all: the sqlite3 command is missing (apt-get install sqlite3)"
    exit 0
fi

# gen.py - export-format journal input and the same lines as a plain log:
# part 1 = sample lines 1-80, part 2 = the rest, part 3 = one more message
# whose bounce text has a newline and a control character
cat > "$t/gen.py" <<'EOF'
import calendar, re, struct, sys
src, out = sys.argv[1], sys.argv[2]
BOOT = '6a2c0d7e4f1b4c3d9e8f7a6b5c4d3e2f'
DROPPED = 'a596d6fe7bfa4994828e72309e95d61e'
MON = {m: i for i, m in enumerate(['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul',
                                   'Aug', 'Sep', 'Oct', 'Nov', 'Dec'], 1)}
seq = [0]

def field(f, k, v):
    v = v if isinstance(v, bytes) else v.encode()
    if any(c < 32 for c in v):    # binary form: name, LE64 length, data
        f.write(k.encode() + b'\n' + struct.pack('<Q', len(v)) + v + b'\n')
    else:
        f.write(k.encode() + b'=' + v + b'\n')

def entry(f, usec, fields):
    seq[0] += 1
    field(f, '__CURSOR', 's=0;i=%x' % seq[0])
    field(f, '__REALTIME_TIMESTAMP', str(usec))
    field(f, '__MONOTONIC_TIMESTAMP', str(5000000 + seq[0] * 1000))
    field(f, '_BOOT_ID', BOOT)
    for k, v in fields:
        field(f, k, v)
    f.write(b'\n')

def clean(m):
    m = m.rstrip(b'\n').replace(b'\n', b' ')
    return bytes(63 if c < 32 or c == 127 else c for c in m)

def postfix(f, ref, usec, host, prog, pid, msg):
    entry(f, usec, [('_HOSTNAME', host), ('SYSLOG_FACILITY', '2'),
                    ('SYSLOG_IDENTIFIER', prog), ('_PID', pid), ('_COMM', prog.split('/')[-1]),
                    ('_SYSTEMD_UNIT', 'postfix@-.service'), ('MESSAGE', msg)])
    t = usec // 1000000
    ref.write(('%s.%06dZ %s %s[%s]: ' % (
        __import__('time').strftime('%Y-%m-%dT%H:%M:%S', __import__('time').gmtime(t)),
        usec % 1000000, host, prog, pid)).encode() + clean(msg if isinstance(msg, bytes) else msg.encode()) + b'\n')

def other(f, usec, prog, pid, msg):
    entry(f, usec, [('_HOSTNAME', 'relay'), ('SYSLOG_IDENTIFIER', prog), ('_PID', pid),
                    ('_SYSTEMD_UNIT', 'decoy.service'), ('MESSAGE', msg)])

def notice(f, usec, n, unit):
    entry(f, usec, [('_HOSTNAME', 'relay'), ('SYSLOG_IDENTIFIER', 'systemd-journald'),
                    ('_PID', '97'), ('_COMM', 'systemd-journal'),
                    ('_SYSTEMD_UNIT', 'systemd-journald.service'), ('MESSAGE_ID', DROPPED),
                    ('N_DROPPED', str(n)), ('MESSAGE', 'Suppressed %d messages from %s' % (n, unit))])
    print('notice %d %d %s' % (n, usec, unit))

rx = re.compile(r'^(\w{3}) +(\d+) (\d\d):(\d\d):(\d\d) (\S+) ([^\[: ]+)\[(\d+)\]: (.*)$')
lines = open(src).read().splitlines()
files = [open('%s/part%d.export' % (out, i), 'wb') for i in (1, 2, 3)]
refs = [open('%s/part%d.log' % (out, i), 'wb') for i in (1, 2, 3)]
usec = 0
for i, l in enumerate(lines, 1):
    m = rx.match(l)
    if not m:
        sys.exit('gen.py: line %d: not understood: %s' % (i, l))
    mon, day, hh, mm, ss, host, prog, pid, msg = m.groups()
    usec = calendar.timegm((2026, MON[mon], int(day), int(hh), int(mm), int(ss))) * 1000000 + i
    p = 0 if i <= 80 else 1
    f = files[p]
    postfix(f, refs[p], usec, host, prog, pid, msg)
    if i == 12:
        # another unit logging Postfix-like lines: kept out by the match, or
        # F16C3A725C1 would get a third recipient and F1FBFA720E5 end early
        other(f, usec + 100, 'postfix/smtp', '31337', 'F16C3A725C1: to=<decoy@evil.test>, '
              'relay=none, delay=1, delays=1/0/0/0, dsn=5.0.0, status=bounced (decoy)')
        other(f, usec + 200, 'postfix/qmgr', '31338', 'F1FBFA720E5: removed')
        other(f, usec + 300, 'dovecot', '4242', 'imap-login: Login: user=<decoy@evil.test>')
    if i == 30:
        notice(f, usec + 500, 12, 'postfix@-.service')
    if i == 50:
        notice(f, usec + 500, 40, 'decoy.service')
    if i == 80:
        notice(f, usec + 500, 3, 'postfix@-.service')    # the last entry of part 1
base = (usec // 1000000 + 1) * 1000000
f, ref = files[2], refs[2]
flow = [
    ('postfix/smtpd', '26804', 'connect from unknown[127.0.0.20]'),
    ('postfix/smtpd', '26804', '0ABCDA72999: client=unknown[127.0.0.20], sasl_method=PLAIN, '
     'sasl_username=judy@example.com'),
    ('postfix/cleanup', '26809', '0ABCDA72999: message-id=<rg-j01@client.example.test>'),
    ('postfix/qmgr', '26678', '0ABCDA72999: from=<judy@example.com>, size=400, nrcpt=1 (queue active)'),
    ('postfix/smtpd', '26804', 'disconnect from unknown[127.0.0.20] ehlo=1 auth=1 mail=1 rcpt=1 '
     'data=1 quit=1 commands=6'),
    ('postfix/smtp', '26810', b'0ABCDA72999: to=<kim@example.org>, relay=127.0.0.1[127.0.0.1]:35697, '
     b'delay=0.01, delays=0/0/0/0, dsn=5.7.1, status=bounced (host 127.0.0.1[127.0.0.1] said: '
     b'550 5.7.1 multi\nline\x01 reply (in reply to end of DATA command))\n'),
    ('postfix/qmgr', '26678', '0ABCDA72999: removed'),
]
for k, (prog, pid, msg) in enumerate(flow):
    postfix(f, ref, base + k, 'relay', prog, pid, msg)
EOF
if ! python3 "$t/gen.py" "$S" "$t" > "$t/notices" 2> "$t/gen.err"; then
    echo "FAIL: journal: test setup: gen.py: $(head -c 300 "$t/gen.err")"
    exit 1
fi
mkdir "$t/journal"
if ! "$JR" --output="$t/journal/relay.journal" "$t/part1.export" > "$t/jr.out" 2>&1; then
    echo "FAIL: journal: test setup: systemd-journal-remote: $(head -c 300 "$t/jr.out")"
    exit 1
fi
chmod -R a+rX "$t"

# conf NAME DB SOURCE-LINES...: a config file
conf() {
    local name=$1 db=$2; shift 2
    {
        printf '[global]\ndatabase = %s\n[collect]\nbatch_lines = 5\n' "$db"
        for l in "$@"; do printf '%s\n' "$l"; done
    } > "$t/$name.ini"
}
conf j "$t/j.db" '[source j]' 'type = journal' "directory = $t/journal" \
    'match = _SYSTEMD_UNIT=postfix@-.service'
conf ref "$t/ref.db" '[source j]' 'type = file' "path = $t/ref.log"
dump() { "$RG" dump messages --database "$1" | LC_ALL=C sort; }
sess() { "$RG" dump sessions --open --database "$1" | sed -n 's/^0 //p' | LC_ALL=C sort; }
q() { sqlite3 "$t/j.db" "$1"; }
run() {     # run CONFIG: collect --once, quietly; the status
    "$RG" -c "$t/$1.ini" collect --once --quiet 2> "$t/$1.err"
}
same() {    # same WHAT: the journal's database equals the file's
    if diff <(dump "$t/j.db") <(dump "$t/ref.db") > "$t/d" \
        && diff <(sess "$t/j.db") <(sess "$t/ref.db") >> "$t/d"; then
        ok 0 "$1: the records equal the same lines read from a file ($(dump "$t/j.db" | wc -l) records)"
    else
        ok 1 "$1: the records equal the same lines read from a file" "$(head -c 400 "$t/d" | tr '\n' ' ')"
    fi
}
# next_part N FILE NAME WHY: part N of the log into the journal FILE (new,
# or appended to), collected from the journal and from the reference file;
# both must store the same
next_part() {
    if ! "$JR" --output="$t/journal/$2" "$t/part$1.export" > "$t/jr.out" 2>&1; then
        echo "FAIL: journal: test setup: systemd-journal-remote ($4): $(head -c 300 "$t/jr.out")"
        exit 1
    fi
    chmod -R a+rX "$t/journal"
    run j
    ok $? "$3 ($4) exits 0" "$(head -c 300 "$t/j.err")"
    cat "$t/part$1.log" >> "$t/ref.log"
    run ref || echo "FAIL: journal: test setup: the file reference run exited $?"
    same "$3"
}
notice_ts() { awk -v n="$1" '$1 == "notice" && $2 == n { print $3 }' "$t/notices"; }

# 1. the first part
run j; rc=$?
ok $rc "collect --once on a journal directory exits 0" "$(head -c 300 "$t/j.err")"
cp "$t/part1.log" "$t/ref.log"
run ref || echo "FAIL: journal: test setup: the file reference run exited $?: $(head -c 300 "$t/ref.err")"
same "first run"
n=$(q "SELECT count(*) FROM messages")
[ "$n" -gt 0 ]; ok $? "first run: records were stored ($n)"
dec=$(q "SELECT count(*) FROM messages WHERE json LIKE '%evil.test%'")
rm1=$(q "SELECT count(*) || ' ' || group_concat(address || '=' || status, ' ') FROM (SELECT r.address,
          r.status FROM recipients r JOIN messages m ON m.id = r.message
          WHERE m.queue_id = 'F1FBFA720E5' ORDER BY r.idx)")
[ "$dec" = 0 ] && [ "$rm1" = "2 eve@example.org=sent nobody@reject.example.org=bounced" ]
ok $? "the match keeps the other unit's lines out" "decoy records $dec, F1FBFA720E5: $rm1"
st=$(q "SELECT group_concat(address || '=' || status, ' ') FROM (SELECT r.address, r.status
        FROM recipients r JOIN messages m ON m.id = r.message
        WHERE m.queue_id = 'F16C3A725C1' ORDER BY r.idx)")
[ "$st" = "bob@example.com=sent dave@example.org=sent" ]
ok $? "F16C3A725C1: two recipients sent" "$st"
row=$(q "SELECT source, count, ts, text FROM log_loss WHERE count = 12")
want="j|12|$(notice_ts 12)|Suppressed 12 messages from postfix@-.service"
[ "$row" = "$want" ]; ok $? "journald's notice is in log_loss" "got '$row', want '$want'"
[ "$(q "SELECT count(*) FROM log_loss WHERE count = 40")" = 0 ]
ok $? "a notice about another unit is not recorded"
cur1=$(q "SELECT cursor FROM sources WHERE name = 'j' AND kind = 'journal'")
[ -n "$cur1" ]; ok $? "the cursor is saved" "sources: $(q "SELECT * FROM sources")"

# 2. the second part, in a second journal file: read on from the cursor
next_part 2 relay-2.journal "second run" "a new journal file"
dup=$(q "SELECT host || ' ' || queue_id || ' x' || count(*) FROM messages WHERE queue_id IS NOT NULL
         GROUP BY host, queue_id HAVING count(*) > 1")
[ -z "$dup" ]; ok $? "no record is stored twice" "$dup"
# the messages whose lines are in both parts
straddle=$(comm -12 <(grep -o ' [0-9A-F]\{10,12\}: ' "$t/part1.log" | sort -u) \
                    <(grep -o ' [0-9A-F]\{10,12\}: ' "$t/part2.log" | sort -u) | tr -d ' :')
if [ -z "$straddle" ]; then
    echo "FAIL: journal: test setup: no message straddles the two parts"
else
    bad=
    for qid in $straddle; do
        c=$(q "SELECT count(*) || '/' || coalesce(sum(complete), 0) FROM messages WHERE queue_id = '$qid'")
        r=$(sqlite3 "$t/ref.db" "SELECT count(*) || '/' || coalesce(sum(complete), 0) FROM messages WHERE queue_id = '$qid'")
        [ "$c" = "$r" ] && [ "${c%/*}" = 1 ] || bad="$bad $qid:$c(want $r)"
    done
    [ -z "$bad" ]
    ok $? "messages straddling the two runs are stored once, as complete as from a file ($(echo $straddle))" "$bad"
fi
# 059BCA720E5 is removed in part 2: its record must be complete
[ "$(q "SELECT count(*) || '/' || sum(complete) FROM messages WHERE queue_id = '059BCA720E5'")" = 1/1 ]
ok $? "059BCA720E5 (client= in the first run, removed in the second) is complete once"
row=$(q "SELECT count(*) || ' ' || group_concat(ts) FROM log_loss WHERE count = 3")
[ "$row" = "1 $(notice_ts 3)" ]
ok $? "the notice that ended the first part is recorded once" "$row"
[ "$(q "SELECT count(*) FROM log_loss WHERE count = 12")" = 1 ]
ok $? "the first notice is not recorded again"

# one run over both files gives the same database as the two runs
conf one "$t/one.db" '[source j]' 'type = journal' "directory = $t/journal" \
    'match = _SYSTEMD_UNIT=postfix@-.service'
run one || echo "FAIL: journal: a single run over both files exited $?"
if cmp -s <(dump "$t/one.db") <(dump "$t/j.db") \
    && [ "$(sqlite3 "$t/one.db" "SELECT count, ts FROM log_loss ORDER BY ts")" = \
         "$(q "SELECT count, ts FROM log_loss ORDER BY ts")" ]; then
    ok 0 "two runs equal one run over both files (records and log_loss)"
else
    ok 1 "two runs equal one run over both files" "$(diff <(dump "$t/one.db") <(dump "$t/j.db") | head -c 300)"
fi

# 3. more entries appended to the first file
next_part 3 relay.journal "third run" "entries appended to the first file"
# the response is in the stored record: its JSON (relayguard dump)
resp=$(dump "$t/j.db" | grep '"queue_id":"0ABCDA72999"')
case $resp in
*'"status":"bounced"'*"550 5.7.1 multi line? reply (in reply to end of DATA command)"*) ok 0 "a newline in MESSAGE becomes a space, a control character '?'" ;;
*) ok 1 "a newline in MESSAGE becomes a space, a control character '?'" "response: '$resp'" ;;
esac

# 4. nothing new: nothing changes
before=$(dump "$t/j.db"; q "SELECT count(*) FROM log_loss; SELECT cursor FROM sources")
run j; rc=$?
after=$(dump "$t/j.db"; q "SELECT count(*) FROM log_loss; SELECT cursor FROM sources")
[ "$rc" = 0 ] && [ "$before" = "$after" ]
ok $? "a run with nothing new changes nothing" "rc $rc"
[ "$(q "SELECT count(*) FROM log_loss")" = 2 ]
ok $? "log_loss holds exactly the two notices about postfix@-.service" "$(q "SELECT * FROM log_loss")"

# the analyzer alerts once for each loss within its windows: the counts
# around it are too low
mkdir -p "$t/maps" "$t/pfc" && : > "$t/pfc/main.cf"
printf '[global]\ndatabase = %s\nmap_directory = %s\npostfix_config_directory = %s\n[user "alice@example.com"]\n' \
    "$t/j.db" "$t/maps" "$t/pfc" > "$t/an.ini"
at=@$(( $(q "SELECT max(ts) FROM log_loss") / 1000000 + 60 ))
"$RG" -c "$t/an.ini" analyze --now "$at" > "$t/an1.out" 2>&1
"$RG" -c "$t/an.ini" analyze --now "$at" > "$t/an2.out" 2>&1
a1=$(grep -c '^action=alert kind=source user="j" rule=log_loss .*window_incomplete=yes' "$t/an1.out")
l1=$(grep -o 'lost=[0-9]*' "$t/an1.out" | sort | paste -sd' ')
[ "$a1" = 2 ] && [ "$l1" = "lost=12 lost=3" ] && ! grep -q 'rule=log_loss' "$t/an2.out"
ok $? "analyze alerts once for each of the two losses" "$(grep action=alert "$t/an1.out" "$t/an2.out" | head -c 400)"

# 5. --follow: a new journal file and entries appended to the first one
# are read while it runs; the notice at the end of the first part is
# recorded at the next poll; SIGTERM commits
mkdir "$t/fj"
"$JR" --output="$t/fj/relay.journal" "$t/part1.export" > /dev/null 2>&1
chmod -R a+rX "$t/fj"
conf fol "$t/fol.db" '[source j]' 'type = journal' "directory = $t/fj" \
    'match = _SYSTEMD_UNIT=postfix@-.service'
"$RG" -c "$t/fol.ini" collect --follow --quiet 2> "$t/fol.err" &
fp=$!
# wait until the database holds COUNT rows of QUERY's count (10 s at most)
wait_for() {
    local i
    for i in $(seq 1 50); do
        [ "$(sqlite3 "$t/fol.db" "$1" 2>/dev/null)" = "$2" ] && return 0
        sleep 0.2
    done
    return 1
}
wait_for "SELECT count(*) FROM log_loss" 2
ok $? "follow: the notice ending the journal is recorded at the next poll" \
    "$(sqlite3 "$t/fol.db" "SELECT count, ts FROM log_loss" 2>&1 | tr '\n' ' ')"
"$JR" --output="$t/fj/relay-2.journal" "$t/part2.export" > /dev/null 2>&1
"$JR" --output="$t/fj/relay.journal" "$t/part3.export" > /dev/null 2>&1
chmod -R a+rX "$t/fj"
wait_for "SELECT count(*) FROM messages WHERE queue_id = '0ABCDA72999' AND complete = 1" 1
ok $? "follow: a new journal file and entries appended to the first are read"
kill -TERM "$fp"; wait "$fp"; rc=$?; fp=
ok $rc "follow: SIGTERM commits and exits 0" "$(head -c 300 "$t/fol.err")"
if cmp -s <(dump "$t/fol.db") <(dump "$t/j.db") && [ "$(sqlite3 "$t/fol.db" "SELECT count, ts FROM log_loss ORDER BY ts")" = \
        "$(q "SELECT count, ts FROM log_loss ORDER BY ts")" ]; then
    ok 0 "follow stored the same as the runs with --once (records and log_loss)"
else
    ok 1 "follow stored the same as the runs with --once" "$(diff <(dump "$t/fol.db") <(dump "$t/j.db") | head -c 300)"
fi

# without a match every unit is read: the decoy lines reach the parser
conf all "$t/all.db" '[source j]' 'type = journal' "directory = $t/journal"
run all || echo "FAIL: journal: a run without a match exited $?: $(head -c 300 "$t/all.err")"
[ "$(dump "$t/all.db" | grep -c 'decoy@evil.test')" -ge 1 ]
ok $? "without a match, the other unit's lines are read too"

# bad configurations are refused with a clear message
conf bad "$t/bad.db" '[source j]' 'type = journal' "directory = $t/journal" 'match = _systemd_unit=x'
run bad; rc=$?
# (a source that cannot be opened does not stop the others nor cron's
# analyze: a warning every run, exit 0, and one alert; see tests/suites/cron.sh)
[ "$rc" = 0 ] && grep -q "warning: \[source j\] match '_systemd_unit=x' is not FIELD=value" "$t/bad.err"
ok $? "a match that is not FIELD=value is not read, with a warning naming it" "rc $rc: $(head -c 200 "$t/bad.err")"
conf nodir "$t/nodir.db" '[source j]' 'type = journal' "directory = $t/nosuch"
run nodir; rc=$?
[ "$rc" = 0 ] && grep -q "warning: \[source j\] journal directory $t/nosuch: No such file or directory" "$t/nodir.err"
ok $? "a journal directory that is not there is not read, with a warning naming it" "rc $rc: $(head -c 200 "$t/nodir.err")"
exit 0
