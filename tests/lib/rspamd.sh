# shellcheck shell=bash
# tests/lib/rspamd.sh - run a real, private rspamd (Debian's 3.4 package) as a
# milter on loopback, for integration tests.  Source it from bash; needs root
# and the Debian package rspamd (scripts/install-deps test).
#
#   rs_start DIR    write a configuration under DIR (a new or empty directory
#                   whose parents others can search) and start rspamd from it;
#                   returns once the milter port and the controller answer, or
#                   non-zero with the reason and the tail of its log
#   rs_stop         stop that rspamd and every process it started (safe to
#                   call twice, and from a trap)
#   rs_wait_hyperscan [T]
#                   wait (at most T seconds, default 60) until the main
#                   process has the whole compiled-regexp (hyperscan)
#                   database: at once when it came from the cache, else when
#                   hs_helper has compiled it (the workers scan correctly
#                   before that, with PCRE: this is for timing only)
#
# After rs_start these are exported:
#   RS_DIR          DIR
#   RS_PORT         the milter (proxy worker, milter = yes, self_scan = yes)
#                   on 127.0.0.1: smtpd_milters = inet:127.0.0.1:$RS_PORT
#   RS_CONTROLLER_PORT  the controller (HTTP: /ping, /stat) on 127.0.0.1
#   RS_LOG          rspamd's own log (file logging, rspamd's format: the lines
#                   "rspamd_task_write_log: id: <...>, qid: <...>, ...")
#   RS_PID          the main process (in a process group of its own)
#
# What the configuration does (no file under /etc is changed: Debian's
# /etc/rspamd/rspamd.conf is read with --var LOCAL_CONFDIR=DIR/conf, and the
# local.d/override.d files there change it):
#   - one proxy worker in milter mode that scans by itself, one controller,
#     no normal worker and no fuzzy storage, all on free loopback ports;
#   - DNS points at 127.0.0.1:53 (nothing answers: lookups fail at once) and
#     the modules that fetch from the internet or need DNS or Redis are off;
#   - enable_test_patterns = true: GTUBE ("XJS*C4JDBQADN1...") gives the
#     reject action, its variants YJS* "add header", ZJS* "rewrite subject",
#     AJS* "no action" (the patterns live in librspamd-server, not in lua);
#   - dbdir DIR/db, rundir DIR/run, log DIR/rspamd.log, workers as _rspamd.
#
# Knobs (set before rs_start):
#   RS_CACHE_DIR    where the compiled regexps (hyperscan) are kept between
#                   runs; default /var/tmp/relayguard-rspamd-cache.  Only a
#                   speed-up (first start about 10 s of compiling, later ones
#                   well under a second); "none" keeps them in DIR/db.
#   RS_EXTRA_OPTIONS  extra lines for the options section (local.d/options.inc)
#   RS_LOCAL_FILES  a directory whose files are copied into local.d after
#                   the harness's own (e.g. a dkim_signing.conf)
#   RS_START_TIMEOUT  seconds to wait for rspamd to answer (default 60)
#   RS_STOP_HS_WAIT   at most this many seconds (default 30) rs_stop lets a
#                   first start finish compiling, so that the cache is kept
#
# Timing on this kind of machine (Debian 12, rspamd 3.4): a first start
# answers after about 10 s (the main process compiles the TLD list, then
# forks) and hs_helper compiles the other regexps for about 6 s more, in the
# background (rs_stop waits for that); about 250 MiB per process meanwhile.
# A start with the cache answers in 0.5-0.8 s (main about 100 MiB, workers
# about 45 MiB each).
#
# Postfix in front of it: PF_MILTER=inet:127.0.0.1:$RS_PORT pf_start DIR
# (tests/lib/postfix.sh), after rs_start.

RS_USER=_rspamd
RS_GROUP=_rspamd

. "$(dirname "${BASH_SOURCE[0]}")/net.sh"

_rs_err() { echo "rs: $*" >&2; }



# _rs_http_get PORT PATH: print the body of an HTTP GET on 127.0.0.1:PORT
_rs_http_get() {
    /usr/bin/python3 - "$1" "$2" <<'EOF'
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
    s.sendall(("GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n" % sys.argv[2]).encode())
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
except OSError:
    sys.exit(1)
head, _, body = data.partition(b"\r\n\r\n")
if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n")[0] + b" ":
    sys.exit(1)
sys.stdout.write(body.decode("utf-8", "replace").strip())
EOF
}

# _rs_milter_probe PORT: a milter OPTNEG exchange answers with an OPTNEG
_rs_milter_probe() {
    /usr/bin/python3 - "$1" <<'EOF'
import socket, struct, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
    body = b"O" + struct.pack(">III", 6, 0x1ff, 0x1fffff)
    s.sendall(struct.pack(">I", len(body)) + body)
    hdr = b""
    while len(hdr) < 5:
        b = s.recv(5 - len(hdr))
        if not b:
            sys.exit(1)
        hdr += b
    s.sendall(struct.pack(">I", 1) + b"Q")
    s.close()
    sys.exit(0 if hdr[4:5] == b"O" else 1)
except OSError:
    sys.exit(1)
EOF
}

_rs_show_failure() {
    local f
    for f in "$RS_DIR/rspamd.out" "$RS_LOG"; do
        [ -s "$f" ] || continue
        echo "---- tail $f" >&2
        tail -n 30 "$f" >&2
    done
}

# _rs_write_config: the LOCAL_CONFDIR tree under $RS_DIR/conf
_rs_write_config() {
    local c=$RS_DIR/conf m
    mkdir -p "$c/local.d" "$c/override.d"
    cat > "$c/local.d/options.inc" <<EOF
# private test instance made by tests/lib/rspamd.sh
dns {
    nameserver = ["127.0.0.1:53"];
    timeout = 1s;
    retransmits = 1;
}
enable_test_patterns = true;
hs_cache_dir = "$RS_HS_CACHE/";
# no rspamc control socket and no statistics files outside DIR
control_socket = "$RS_DIR/run/rspamd.sock mode=0600";
# a test message must not wait for anything
task_timeout = 8s;
${RS_EXTRA_OPTIONS:-}
EOF
    cat > "$c/override.d/logging.inc" <<EOF
type = "file";
filename = "$RS_LOG";
level = "info";
color = false;
EOF
    cat > "$c/override.d/worker-proxy.inc" <<EOF
bind_socket = "127.0.0.1:$RS_PORT";
milter = yes;
timeout = 30s;
count = 1;
# scan in this worker (no "normal" worker behind it); this replaces the
# packaged upstream "local" (localhost:11333)
upstream "local" {
    default = yes;
    self_scan = yes;
}
EOF
    cat > "$c/override.d/worker-controller.inc" <<EOF
bind_socket = "127.0.0.1:$RS_CONTROLLER_PORT";
count = 1;
password = "rgtest";
secure_ip = "127.0.0.1";
EOF
    # no normal worker (the proxy scans by itself) and no fuzzy storage
    cat > "$c/override.d/worker-normal.inc" <<EOF
bind_socket = "127.0.0.1:$RS_NORMAL_PORT";
enabled = false;
count = 1;
EOF
    cat > "$c/override.d/worker-fuzzy.inc" <<EOF
bind_socket = "127.0.0.1:$RS_NORMAL_PORT";
enabled = false;
count = -1;
EOF
    # modules that fetch maps from the internet, ask DNS for their answer,
    # or need Redis: off
    for m in rbl surbl spf dmarc dkim arc fuzzy_check asn phishing multimap whitelist \
             mime_types mid rspamd_update url_redirector dcc reputation greylist \
             ratelimit neural replies history_redis mx_check; do
        echo "enabled = false;" > "$c/local.d/$m.conf"
    done
    if [ -n "${RS_LOCAL_FILES:-}" ]; then
        cp "$RS_LOCAL_FILES"/* "$c/local.d/" || return 1
    fi
}

# _rs_launch: start rspamd from $RS_DIR/conf in a session (and process
# group) of its own, its main process not a child of this shell; its pid in
# $RS_DIR/main.pid.  (setsid(1) forks when the shell made the job a group
# leader, as an interactive shell does, and $! is then not rspamd.)
_rs_launch() {
    rm -f "$RS_DIR/main.pid"
    /usr/bin/python3 -c '
import os, sys
pid = os.fork()
if pid == 0:
    os.setsid()
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
with open(sys.argv[1] + ".new", "w") as f:
    f.write("%d\n" % pid)
os.rename(sys.argv[1] + ".new", sys.argv[1])
' "$RS_DIR/main.pid" rspamd -f -c /etc/rspamd/rspamd.conf \
        --var "LOCAL_CONFDIR=$RS_DIR/conf" --var "DBDIR=$RS_DIR/db" \
        --var "RUNDIR=$RS_DIR/run" --var "LOGDIR=$RS_DIR" \
        -u "$RS_USER" -g "$RS_GROUP" </dev/null >"$RS_DIR/rspamd.out" 2>&1
    [ -s "$RS_DIR/main.pid" ] || return 1
    RS_PID=$(cat "$RS_DIR/main.pid")
    export RS_PID
}

# _rs_wait_ready TIMEOUT: 0 when the milter and the controller answer;
# 1 when rspamd ended (2 if because a port was taken); 3 on timeout
_rs_wait_ready() {
    local deadline=$((SECONDS + $1))
    while [ $SECONDS -lt "$deadline" ]; do
        if ! kill -0 "$RS_PID" 2>/dev/null; then
            grep -q 'Address already in use' "$RS_LOG" 2>/dev/null && return 2
            return 1
        fi
        if net_listening "$RS_PORT" && net_listening "$RS_CONTROLLER_PORT" \
           && [ "$(_rs_http_get "$RS_CONTROLLER_PORT" /ping 2>/dev/null)" = pong ] \
           && _rs_milter_probe "$RS_PORT"; then
            return 0
        fi
        sleep 0.1
    done
    return 3
}

rs_start() {
    local dir=${1:?usage: rs_start DIR}
    if [ "$(id -u)" != 0 ]; then _rs_err "must run as root"; return 1; fi
    command -v rspamd >/dev/null 2>&1 || { _rs_err "missing rspamd (run scripts/install-deps test)"; return 1; }
    [ -r /etc/rspamd/rspamd.conf ] || { _rs_err "no /etc/rspamd/rspamd.conf (is the rspamd package installed?)"; return 1; }
    id -u "$RS_USER" >/dev/null 2>&1 || { _rs_err "no user $RS_USER (is the rspamd package installed?)"; return 1; }
    [ -x /usr/bin/python3 ] || { _rs_err "missing /usr/bin/python3"; return 1; }
    if [ -n "${RS_DIR:-}" ] && [ -f "$RS_DIR/main.pid" ]; then
        _rs_err "an rspamd of this shell still runs from $RS_DIR: rs_stop first"; return 1
    fi
    mkdir -p "$dir" || return 1
    dir=$(cd "$dir" && pwd) || return 1
    if [ -n "$(ls -A "$dir")" ]; then
        _rs_err "$dir is not empty: give rs_start a new directory"; return 1
    fi
    local d=$dir
    while d=$(dirname "$d") && [ "$d" != / ]; do
        if [ $(( 0$(stat -c %a "$d") & 1 )) = 0 ]; then
            _rs_err "$d is not searchable by other users (chmod o+x it): rspamd's workers ($RS_USER) could not reach $dir"
            return 1
        fi
    done
    chmod 755 "$dir"
    RS_DIR=$dir
    RS_LOG=$RS_DIR/rspamd.log
    export RS_DIR RS_LOG
    mkdir -p "$RS_DIR/db" "$RS_DIR/run"

    # the compiled-regexp cache: shared by every run on this machine
    RS_HS_CACHE=${RS_CACHE_DIR:-/var/tmp/relayguard-rspamd-cache}
    if [ "$RS_HS_CACHE" = none ] || ! mkdir -p "$RS_HS_CACHE" 2>/dev/null \
       || ! chown -R "$RS_USER:$RS_GROUP" "$RS_HS_CACHE" 2>/dev/null; then
        RS_HS_CACHE=$RS_DIR/db
    fi
    chmod 755 "$RS_HS_CACHE"

    local timeout=${RS_START_TIMEOUT:-60} attempt rc=1
    for attempt in 1 2 3; do
        read -r RS_PORT RS_CONTROLLER_PORT RS_NORMAL_PORT <<<"$(net_free_ports 3)"
        if [ -z "$RS_NORMAL_PORT" ]; then _rs_err "could not pick free ports"; return 1; fi
        export RS_PORT RS_CONTROLLER_PORT
        _rs_write_config
        [ -e "$RS_LOG" ] && mv "$RS_LOG" "$RS_LOG.attempt$((attempt - 1))"
        : > "$RS_LOG"
        chown -R "$RS_USER:$RS_GROUP" "$RS_DIR/db" "$RS_DIR/run" "$RS_LOG"
        if ! _rs_launch; then
            _rs_err "could not launch rspamd"; _rs_show_failure; return 1
        fi
        _rs_wait_ready "$timeout"; rc=$?
        [ $rc = 0 ] && return 0
        [ $rc = 2 ] || break
        # another program took a port between choosing and binding: again
        _rs_err "a port was taken while rspamd started (attempt $attempt): trying other ports"
        rs_stop
    done
    case $rc in
    3) _rs_err "rspamd did not answer within $timeout s (milter 127.0.0.1:$RS_PORT, controller 127.0.0.1:$RS_CONTROLLER_PORT)" ;;
    *) _rs_err "rspamd exited during start" ;;
    esac
    _rs_show_failure
    rs_stop
    return 1
}

# _rs_group_alive PGID: a process of that group is alive (not a zombie
# waiting for init to reap it)
_rs_group_alive() {
    local want=$1 f line
    for f in /proc/[0-9]*/stat; do
        { read -r line < "$f"; } 2>/dev/null || continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and ")"
        # shellcheck disable=SC2086  # split into fields on purpose
        set -- ${line##*) }
        if [ "${3:-}" = "$want" ] && [ "${1:-}" != Z ]; then
            return 0
        fi
    done
    return 1
}

rs_stop() {
    [ -n "${RS_DIR:-}" ] && [ -f "$RS_DIR/main.pid" ] || return 0
    local pid
    pid=$(cat "$RS_DIR/main.pid")
    mv "$RS_DIR/main.pid" "$RS_DIR/main.pid.stopped"
    [ -n "$pid" ] || return 0
    # On a first start (nothing cached) hs_helper compiles the regexps in the
    # background for several seconds.  Let it finish: when rspamd exits, its
    # main process deletes from the cache every file it has not loaded itself,
    # so stopping it now would throw the compiled files away and every later
    # start would compile again.
    if kill -0 "$pid" 2>/dev/null && _rs_hs_compiling; then
        rs_wait_hyperscan "${RS_STOP_HS_WAIT:-30}" || true
    fi
    # the main process ends its workers on SIGTERM (and waits for them)
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do
        _rs_group_alive "$pid" || break
        sleep 0.1
    done
    if _rs_group_alive "$pid"; then
        _rs_err "rspamd (process group $pid) did not stop within 10 s: killing it"
        kill -KILL -- "-$pid" 2>/dev/null
        for _ in $(seq 1 20); do
            _rs_group_alive "$pid" || break
            sleep 0.1
        done
    fi
    return 0
}

# _rs_hs_loaded: the main process has loaded the whole compiled-regexp
# database (at start from the cache, or after hs_helper compiled it)
_rs_hs_loaded() {
    grep -qE '\(main\).*full hyperscan database of [0-9]+ regexps has been loaded' "$RS_LOG" 2>/dev/null
}

# _rs_hs_compiling: this rspamd has hyperscan but its main process has not
# loaded a whole database yet: hs_helper is (or is about to be) compiling
_rs_hs_compiling() {
    ! _rs_hs_loaded && grep -q 'rspamd_re_cache_init: loaded hyperscan engine' "$RS_LOG" 2>/dev/null
}

# rs_wait_hyperscan [TIMEOUT]: until the main process has the whole compiled
# database (the scanners work before that, with PCRE: this is for timing and
# for a complete cache); false after TIMEOUT (default 60) seconds or when this
# rspamd has no hyperscan at all
rs_wait_hyperscan() {
    local timeout=${1:-60}
    local deadline=$((SECONDS + timeout))
    until _rs_hs_loaded; do
        [ $SECONDS -ge $deadline ] && return 1
        grep -q 'required for hyperscan, disable it' "$RS_LOG" 2>/dev/null && return 1
        sleep 0.2
    done
    return 0
}
