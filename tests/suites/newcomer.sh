#!/bin/bash
# tests/suites/newcomer.sh - a newcomer follows the README's install section
# line by line, and a spammer ends up refused by the real Postfix.
#
# The lines are taken from README.md at test time: everything between
# "<!-- install: begin" and "<!-- install: end -->", each indented line one
# command (so the README and this test cannot drift). Each is run as it is,
# in order, after these substitutions only, which put the private test
# installation in place of the system's:
#   paths   /etc/relayguard -> $W/etc/relayguard, /var/lib/relayguard ->
#           $W/var/lib/relayguard, /usr/local -> $W/usr/local (make install
#           DESTDIR=$W: the command `relayguard` is $W/usr/local/bin/relayguard),
#           /etc/postfix -> the harness Postfix's configuration directory
#           (and `postfix`/`postconf` get -c DIR), /etc/rspamd/local.d ->
#           the harness rspamd's local.d, /var/log/rspamd/rspamd.log ->
#           its log, /var/lib/rspamd -> $W/var/lib/rspamd
#   ports   11332 (rspamd's milter) -> the harness rspamd's, in the lines
#           and in what they add to main.cf; 10587 (relayguard's own mail
#           service) -> a free port
#   user    the system user and group `relayguard` -> `rgncPID` (this
#           run's own, removed at the end)
#   make    runs in the repository with the build directory under test
#   editor  the one edit a newcomer makes in the sample configuration: the
#           path and port substitutions above inside the file, the Postfix
#           source as the file the harness logs to (the sample's own
#           alternative to the journal: the harness has no journal), and
#           [user] sections for the harness's SASL logins alice@example.com
#           and bob@example.com
#   systemctl  there is no systemd here (its units are checked by
#           tests/suites/units.sh: systemd-analyze verify and security):
#           `daemon-reload` does nothing; `reload rspamd` sends rspamd
#           SIGHUP and waits until its milter answers; `enable --now UNIT`
#           runs what the installed unit file says, as its User=: a service
#           in the background, a timer's service every 2 s (instead of every
#           minute), a path unit's service whenever its path changes
# The harness is the relay's starting point: Postfix 3.7 with Dovecot SASL,
# and rspamd (tests/lib/postfix.sh, rspamd.sh), already Postfix's milter
# unless the README wires it (postfix-config --filter); like Debian's
# /var/log/mail.log, Postfix's log file is made root:adm 0640.
#
# Then alice@example.com sends GTUBE (rspamd's reject pattern) with swaks
# over SMTP AUTH until the default spam_lock_threshold (5 in 10m) is
# reached; the test waits (at most 120 s, the time taken is printed) until
# the real Postfix refuses her at RCPT with relayguard's lock reply, and
# checks that bob@example.com still relays.
set -u
top=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
RG=${RELAYGUARD:-$top/build/relayguard}
suite=newcomer

ok() { echo "PASS: $suite: $1"; }
ko() { echo "FAIL: $suite: $1${2:+: $2}"; }
if [ "$(id -u)" != 0 ]; then echo "SKIP: $suite: needs root (a private Postfix, rspamd, a system user)"; exit 0; fi
for c in swaks adduser runuser; do
    command -v "$c" > /dev/null || { ko "no $c (scripts/install-deps test)"; exit 0; }
done
# the build directory of the binary under test, if it is ours
B=build
case $(realpath "$RG") in "$top"/*) B=$(realpath --relative-to="$top" "$(dirname "$(realpath "$RG")")") ;; esac

# shellcheck source=tests/lib/postfix.sh
. "$top/tests/lib/postfix.sh"
# shellcheck source=tests/lib/rspamd.sh
. "$top/tests/lib/rspamd.sh"

W=$(mktemp -d /tmp/rg-newcomer.XXXXXX) || exit 1
chmod 755 "$W"
RGU=rgnc$$     # one per run: runs in other worktrees may overlap
BIN=$W/usr/local/bin/relayguard
UNITS=$W/usr/local/lib/systemd/system
MAILPORT=$(net_free_ports 1)
TICK=2
bg_pids=()
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    local p m
    for p in "${bg_pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done
    for p in "${bg_pids[@]}"; do wait "$p" 2>/dev/null; done
    # duplicate main.cf entries make every Postfix process warn; with
    # maillog_file, postlogd can block on its own full socket (Linux's
    # net.unix.max_dgram_qlen is 10) and "postfix stop" would wait for
    # ever: stop this instance's master and its children by their pids
    m=$(cat "${PF_QUEUE:-/nonexistent}/pid/master.pid" 2>/dev/null | tr -d ' ')
    if [ -n "$m" ] && kill -0 "$m" 2>/dev/null; then
        for p in $(pgrep -P "$m") "$m"; do kill -9 "$p" 2>/dev/null; done
    fi
    pf_stop
    rs_stop
    if id "$RGU" > /dev/null 2>&1; then deluser --system "$RGU" > /dev/null 2>&1 || userdel "$RGU" 2>/dev/null; fi
    getent group "$RGU" > /dev/null && groupdel "$RGU" 2>/dev/null
    if [ "${RG_KEEP:-0}" = 1 ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap "exit 130" INT TERM HUP
# a fresh system has no such user: one left by an interrupted run goes
if id "$RGU" > /dev/null 2>&1; then deluser --system "$RGU" > /dev/null 2>&1 || userdel "$RGU" 2>/dev/null; fi

# ---- the README's block
sed -n '/^<!-- install: begin/,/^<!-- install: end -->/p' "$top/README.md" \
    | sed -n 's/^    //p' > "$W/readme.lines"
[ -s "$W/readme.lines" ] || { ko "README.md has a marked install block"; exit 0; }
ok "README.md's install block: $(wc -l < "$W/readme.lines") lines"
# the lines as they are, for a newcomer; postfix-config --merge/--master
# come with issue 13 item 2 (engineer s5's branch)
if grep -q 'postfix-config --merge' "$W/readme.lines" && ! "$RG" postfix-config --help 2>&1 | grep -q -- '--merge'; then
    echo "SKIP: $suite: the README wires Postfix with postfix-config --merge, which this build lacks (issue 13 item 2)"
    exit 0
fi

# ---- the relay: Postfix with Dovecot SASL, and rspamd; rspamd is its
# milter already unless the README wires it (postfix-config --filter)
rs_start "$W/rs" 2> "$W/rs.err" || { ko "rspamd did not start" "$(tail -3 "$W/rs.err")"; exit 0; }
if grep -q 'postfix-config --filter' "$W/readme.lines"; then
    pf_start "$W/pf" 2> "$W/pf.err" || { ko "Postfix did not start" "$(tail -3 "$W/pf.err")"; exit 0; }
else
    PF_MILTER=inet:127.0.0.1:$RS_PORT pf_start "$W/pf" 2> "$W/pf.err" || { ko "Postfix did not start" "$(tail -3 "$W/pf.err")"; exit 0; }
fi
chgrp adm "$PF_LOG" && chmod 640 "$PF_LOG"

# ---- the substitutions (see the top of this file)
translate() {
    /usr/bin/python3 - "$@" <<'PY'
import re, sys
W, PFC, RSD, RSLOG, RSPORT, MAILPORT, RGU, TOP, B = sys.argv[1:10]
line = sys.argv[10]
line = re.sub(r'\s+#.*$', '', line).strip()
paths = [("/etc/relayguard", W + "/etc/relayguard"),
         ("/var/lib/relayguard", W + "/var/lib/relayguard"),
         ("/usr/local", W + "/usr/local"),
         ("/etc/postfix", PFC),
         ("/etc/rspamd/local.d", RSD + "/conf/local.d"),
         ("/var/log/rspamd/rspamd.log", RSLOG),
         ("/var/lib/rspamd", W + "/var/lib/rspamd")]
for a, b in paths:
    line = re.sub(re.escape(a) + r'(?=[/\s;&|>]|$)', b, line)
line = re.sub(r'\b11332\b', RSPORT, line)
line = re.sub(r'\b10587\b', MAILPORT, line)
cmd = r'(^|[;&|]\s*|\|\|\s*|--\s+)'
line = re.sub(cmd + r'make install\b', r'\1make -C "%s" --no-print-directory B="%s" DESTDIR="%s" install' % (TOP, B, W), line)
line = re.sub(cmd + r'make(?=\s*(&&|;|$))', r'\1make -C "%s" --no-print-directory B="%s"' % (TOP, B), line)
line = re.sub(r'-u relayguard\b', '-u ' + RGU, line)
line = re.sub(cmd + r'relayguard(?=\s|$)', r'\1' + W + '/usr/local/bin/relayguard', line)
line = re.sub(r'(?<![\w/.-])relayguard(?![\w/.-])', RGU, line)
line = re.sub(cmd + r'(/usr/sbin/)?postfix\s', r'\1postfix -c "%s" ' % PFC, line)
line = re.sub(cmd + r'(/usr/sbin/)?postconf\b', r'\1postconf -c "%s"' % PFC, line)
line = re.sub(cmd + r'(systemctl|editor)\b', r'\1rg_\2', line)
print(line)
PY
}
tr_line() { translate "$W" "$PF_CONF" "$RS_DIR" "$RS_LOG" "$RS_PORT" "$MAILPORT" "$RGU" "$top" "$B" "$1"; }

# rg_editor FILE - the newcomer's edit of the sample configuration
rg_editor() {
    /usr/bin/python3 - "$1" "$W" "$PF_CONF" "$RS_LOG" "$MAILPORT" "$PF_LOG" <<'PY'
import re, sys
f, W, PFC, RSLOG, MAILPORT, PFLOG = sys.argv[1:7]
s = open(f).read()
for a, b in [("/var/lib/relayguard", W + "/var/lib/relayguard"), ("/etc/postfix", PFC),
             ("/var/log/rspamd/rspamd.log", RSLOG), ("/var/lib/rspamd", W + "/var/lib/rspamd")]:
    s = s.replace(a, b)
s = s.replace("127.0.0.1:10587", "127.0.0.1:" + MAILPORT)
# [source postfix]: the file the harness logs to, the sample's alternative
s = re.sub(r"(\[source postfix\]\n)type = journal\nmatch = [^\n]*\n", r"\1type = file\npath = %s\n" % PFLOG, s)
s += '\n[user "alice@example.com"]\n[user "bob@example.com"]\n'
open(f, "w").write(s)
PY
}

# unit_key FILE KEY - the values of KEY= in a unit file, one a line
unit_key() { sed -n "s/^$2=//p" "$1"; }

# unit_script NAME - a script that runs service NAME's ExecCondition and
# ExecStart lines (substituted) as its User=
unit_script() {
    local f=$UNITS/$1 user l out=$W/units/$1.sh
    mkdir -p "$W/units"
    user=$(unit_key "$f" User)
    [ "$user" = relayguard ] && user=$RGU
    {
        echo "set -u"
        while IFS= read -r l; do
            l=${l#[-+!@:]}
            echo "$( [ -n "$user" ] && printf 'runuser -u %s -- ' "$user")$(tr_line "$l") || exit 0"
        done < <(unit_key "$f" ExecCondition)
        while IFS= read -r l; do
            l=${l#[-+!@:]}
            echo "$( [ -n "$user" ] && printf 'runuser -u %s -- ' "$user")$(tr_line "$l")"
        done < <(unit_key "$f" ExecStart)
    } > "$out"
    echo "$out"
}

# rg_systemctl ... - what systemd would do with the installed units
rg_systemctl() {
    local u s svc path unit
    case $1 in
    daemon-reload) return 0 ;;
    reload|restart)
        [ "$2" = rspamd ] || { echo "newcomer: systemctl $1 $2: not emulated" >&2; return 1; }
        kill -HUP "$RS_PID" || return 1
        # the old workers go, new ones answer
        _rs_wait_ready 60
        return ;;
    enable)
        [ "$2" = --now ] || { echo "newcomer: systemctl enable without --now: not emulated" >&2; return 1; }
        shift 2
        for u in "$@"; do
            [ -f "$UNITS/$u" ] || { echo "newcomer: no installed unit $u" >&2; return 1; }
            case $u in
            *.service)
                s=$(unit_script "$u")
                setsid bash "$s" > "$W/units/$u.out" 2>&1 &
                bg_pids+=($!) ;;
            *.timer)
                svc=$(unit_key "$UNITS/$u" Unit); svc=${svc:-${u%.timer}.service}
                s=$(unit_script "$svc")
                setsid bash -c 'while :; do bash "$1"; sleep "$2"; done' sh "$s" "$TICK" > "$W/units/$svc.out" 2>&1 &
                bg_pids+=($!) ;;
            *.path)
                svc=$(unit_key "$UNITS/$u" Unit); svc=${svc:-${u%.path}.service}
                path=$(unit_key "$UNITS/$u" PathChanged; unit_key "$UNITS/$u" PathModified)
                path=$(tr_line "$(head -n 1 <<<"$path")")
                s=$(unit_script "$svc")
                setsid bash -c 'last=$(stat -c %Y.%Z.%s "$2" 2>/dev/null); while :; do now=$(stat -c %Y.%Z.%s "$2" 2>/dev/null); if [ "$now" != "$last" ]; then last=$now; bash "$1"; fi; sleep 0.2; done' \
                    sh "$s" "$path" > "$W/units/$svc.out" 2>&1 &
                bg_pids+=($!) ;;
            *) echo "newcomer: unit $u: not emulated" >&2; return 1 ;;
            esac
        done ;;
    *) echo "newcomer: systemctl $*: not emulated" >&2; return 1 ;;
    esac
}

# ---- run the block, line by line
n=0 failed=0
set -o pipefail
while IFS= read -r line; do
    [ -n "${line// }" ] || continue
    n=$((n + 1))
    cmd=$(tr_line "$line")
    echo "newcomer: $n: $line" >> "$W/run.log"
    echo "newcomer: $n: run: $cmd" >> "$W/run.log"
    eval "$cmd" >> "$W/run.log" 2>&1 < /dev/null; rc=$?
    # rspamd's milter where Debian's listens (what postfix-config --filter
    # names) is the harness rspamd's port
    sed -i "s/inet:localhost:11332\b/inet:127.0.0.1:$RS_PORT/" "$PF_CONF/main.cf"
    if [ $rc = 0 ]; then
        ok "README line $n: $line"
    else
        ko "README line $n: $line" "exit $rc: $(tail -n 4 "$W/run.log" | tr '\n' ' ')"
        failed=1
        break
    fi
done < "$W/readme.lines"
set +o pipefail
[ $failed = 0 ] || { [ -n "${RG_DEBUG:-}" ] && cat "$W/run.log"; exit 0; }

# ---- the spammer: GTUBE over SMTP AUTH until the threshold
GTUBE='XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'
swaks_as() {    # swaks_as USER PASS BODY [SWAKS OPTIONS]: one authenticated session
    swaks --server "127.0.0.1:$PF_PORT" --helo client.example.test --auth PLAIN \
        --auth-user "$1" --auth-password "$2" --from "$1" --to dave@example.org \
        --header "Subject: newcomer test" --body "$3" "${@:4}" 2>&1
}
thr=$(sed -n 's/^spam_lock_threshold = //p' "$W/etc/relayguard/relayguard.ini" | head -1)
refused=0
for i in $(seq 1 "${thr:-5}"); do
    swaks_as alice@example.com alice-pw "$GTUBE" > "$W/spam.$i" 
    grep -q '<\*\* *554 5.7.1' "$W/spam.$i" && refused=$((refused + 1))
done
[ "$refused" = "${thr:-5}" ] && ok "alice's $refused GTUBE messages (swaks, AUTH PLAIN) refused by rspamd at end of data (554 5.7.1)" \
    || ko "alice's GTUBE messages refused by rspamd" "$refused of ${thr:-5}: $(grep '<\*\*' "$W/spam.1")"

# ---- wait for the lock: collect (following), the analyze timer, Postfix
t0=$SECONDS; locked=0
while [ $((SECONDS - t0)) -lt 120 ]; do
    swaks_as alice@example.com alice-pw "hello" --quit-after RCPT > "$W/after" 2>&1
    if grep -q '<\*\* *[45][0-9][0-9] .*sending locked' "$W/after"; then locked=1; break; fi
    sleep 1
done
reply=$(grep '<\*\*' "$W/after" | head -1)
if [ $locked = 1 ]; then
    ok "the real Postfix refuses alice at RCPT after $((SECONDS - t0)) s: $reply"
else
    ko "the real Postfix refuses alice at RCPT within 120 s" "last answer: $(grep -E '<[~*-]' "$W/after" | tail -2 | tr '\n' ' '); analyze: $(tail -n 3 "$W/units/relayguard-analyze.service.out" 2>/dev/null | tr '\n' ' '); collect: $(tail -n 3 "$W/units/relayguard-collect.service.out" 2>/dev/null | tr '\n' ' ')"
fi
grep -q 'RCPT TO' "$W/after" && grep -B1 '<\*\*' "$W/after" | grep -q 'RCPT TO' \
    && ok "... the refusal is the answer to RCPT TO" || ko "... the refusal is the answer to RCPT TO" "$(cat "$W/after")"
swaks_as bob@example.com bob-pw "the minutes of Tuesday's meeting" > "$W/bob"
if grep -q '<-  *250 .*queued as' "$W/bob"; then
    ok "bob@example.com still relays (250 queued)"
else
    ko "bob@example.com still relays" "$(grep -E '<\*\*|<- +250' "$W/bob" | tail -2)"
fi
# what relayguard says about her
"$BIN" -c "$W/etc/relayguard/relayguard.ini" users > "$W/users" 2>&1
grep -q '^alice@example.com  *sasl  *locked (spam)' "$W/users" && ok "relayguard users: alice locked (spam)" \
    || ko "relayguard users: alice locked (spam)" "$(head -5 "$W/users")"
[ -n "${RG_DEBUG:-}" ] && cat "$W/run.log"
exit 0
