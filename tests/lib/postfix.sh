# shellcheck shell=bash
# tests/lib/postfix.sh - run a real, private Postfix (with a Dovecot auth-only
# instance and smtp-sink next hops) on loopback, for integration tests and for
# making sample logs.  Source it from bash; needs root and the Debian packages
# postfix, postfix-pcre, dovecot-core (scripts/install-deps test).
#
#   pf_start DIR          build and start everything under DIR (a new or empty
#                         directory whose parents others can search); returns
#                         non-zero and prints the reason when something does
#                         not come up
#   pf_stop               stop Postfix, Dovecot and the sinks that pf_start
#                         started (safe to call twice, and from a trap)
#   pf_wait_settled [T]   wait (at most T seconds, default 30) until the
#                         maildrop, incoming and active queues are empty and
#                         the log has not grown for PF_QUIET seconds (default 1)
#   pf_flush_log [--marker] [T]
#                         wait until postlogd has written everything: the log
#                         stops growing; with --marker, also send a line through
#                         postlogd and wait for it (the line stays in the log)
#   pf_queue_ids QUEUE    queue IDs in one queue (deferred, hold, active, ...)
#   pf_postconf ARGS...   postconf -c $PF_CONF ARGS
#
# After pf_start these are exported:
#   PF_DIR PF_CONF PF_QUEUE PF_LOG PF_PORT PF_SUBMISSION_PORT
#   PF_SINK_PORT (relayhost, accepts all)  PF_SINK_REJECT_PORT (550 5.1.1 at RCPT)
#   PF_SINK_DEFER_PORT (450 4.2.0 at RCPT) PF_SINK_DATAREJ_PORT (554 5.7.1 after DATA)
#   PF_CLOSED_PORT (nothing listens: connection refused; transport "down",
#   logged as postfix-out/smtp, suspended after the first failure)
#   PF_HOSTNAME (relay.example.test)  PF_LOCAL_DOMAIN (relay.example.test)
#   PF_DOMAIN_REJECT PF_DOMAIN_DEFER PF_DOMAIN_DATAREJ PF_DOMAIN_DOWN (test domains)
#   PF_MYNETWORKS  PF_USERS (user:password list, space separated)
#   PF_MILTER_HEADER_CHECKS (the milter_header_checks file; empty without
#   PF_MILTER)
#
# Knobs (set before pf_start): PF_LONG_QUEUE_IDS=yes for long queue IDs;
# PF_EXTRA_MAIN="name = value;name2 = value2" extra main.cf settings (applied
# last, so they can override anything below).
# PF_SINK_KEEP=yes makes the relayhost sink keep every message it accepts:
# smtp-sink -d writes one file per mail transaction into $PF_SINK_DIR
# ($PF_DIR/sink-main.d, exported; files named YYYYmmddHHMMSS.<random hex>):
# smtp-sink's own X-Client-Addr, X-Client-Proto, X-Helo-Args, X-Mail-Args,
# X-Rcpt-Args lines, then the message as received, then an empty line.
# Unset (the default), no sink keeps anything and PF_SINK_DIR is empty.
# PF_MILTER=inet:127.0.0.1:PORT puts a milter (e.g. tests/lib/rspamd.sh's
# inet:127.0.0.1:$RS_PORT) in front of smtpd with what a content filter needs:
#   smtpd_milters = $PF_MILTER
#   milter_default_action = $PF_MILTER_DEFAULT_ACTION (default tempfail: a
#       milter that is down or times out shows as 451 4.7.1 to the client and
#       fails the test, instead of mail passing unscanned and verdicts silently
#       missing)
#   milter_protocol = 6
#   milter_mail_macros = i {auth_type} {auth_authen} {auth_author} {mail_addr}
#       {mail_host} {mail_mailer}  (i: rspamd logs "qid: <QID>", {auth_authen}:
#       "user: LOGIN")
#   milter_header_checks = pcre:$PF_MILTER_HEADER_CHECKS ($PF_CONF/
#       milter_header_checks): /^X-Spam(-Status|-Flag)?:/ INFO, so the headers
#       the milter adds are logged as "cleanup: QID: milter-header-info: ..."
# Unset (the default), main.cf has no milter settings at all.
#
# Test users (Dovecot passwd-file, PLAIN passwords):
#   alice@example.com / alice-pw   bob@example.com / bob-pw   carol@example.net / carol-pw
# IP users (mynetworks, relay without login): 127.0.0.10, 127.0.0.11, 127.0.0.20.
# Any other 127.0.0.x must log in to relay.

PF_HOSTNAME=relay.example.test
PF_LOCAL_DOMAIN=relay.example.test
PF_DOMAIN_REJECT=reject.example.org
PF_DOMAIN_DEFER=defer.example.org
PF_DOMAIN_DATAREJ=datareject.example.org
PF_DOMAIN_DOWN=down.example.org
PF_MYNETWORKS="127.0.0.10/31 127.0.0.20/32"
PF_USERS="alice@example.com:alice-pw bob@example.com:bob-pw carol@example.net:carol-pw"
export PF_HOSTNAME PF_LOCAL_DOMAIN PF_DOMAIN_REJECT PF_DOMAIN_DEFER PF_DOMAIN_DATAREJ \
       PF_DOMAIN_DOWN PF_MYNETWORKS PF_USERS

. "$(dirname "${BASH_SOURCE[0]}")/net.sh"

_pf_err() { echo "pf: $*" >&2; }



_pf_show_failure() {
    local f
    for f in "$PF_DIR/postfix-start.out" "$PF_DIR/postfix-check.out" "$PF_LOG" \
             "$PF_DIR/dovecot/dovecot.log" "$PF_DIR/dovecot/start.out" "$PF_DIR"/sink-*.out; do
        [ -s "$f" ] || continue
        echo "---- tail $f" >&2
        tail -n 20 "$f" >&2
    done
}

# _pf_pty CMD...: run CMD with a pseudo-terminal as stdin/stdout/stderr
_pf_pty() {
    /usr/bin/python3 -c 'import pty, sys; sys.exit(pty.spawn(sys.argv[1:]) >> 8)' "$@" </dev/null
}

_pf_record_pid() { echo "$1 $2" >> "$PF_DIR/pids"; }

# _pf_start_sink NAME PORT [smtp-sink options...]
_pf_start_sink() {
    local name=$1 port=$2
    shift 2
    smtp-sink -u nobody -h "sink-$name.example.test" "$@" "127.0.0.1:$port" 64 \
        </dev/null >"$PF_DIR/sink-$name.out" 2>&1 &
    _pf_record_pid sink-"$name" $!
}

pf_postconf() { postconf -c "$PF_CONF" "$@"; }

pf_start() {
    local dir=${1:?usage: pf_start DIR}
    if [ "$(id -u)" != 0 ]; then _pf_err "must run as root"; return 1; fi
    local p
    for p in postfix postconf postsuper postqueue postlog smtp-sink dovecot /usr/bin/python3; do
        command -v "$p" >/dev/null 2>&1 || { _pf_err "missing $p (run scripts/install-deps test)"; return 1; }
    done
    if [ ! -e /usr/lib/postfix/postfix-pcre.so ] && ! ls /usr/lib/postfix/*pcre* >/dev/null 2>&1; then
        _pf_err "postfix-pcre is not installed"; return 1
    fi
    mkdir -p "$dir" || return 1
    dir=$(cd "$dir" && pwd) || return 1
    if [ -n "$(ls -A "$dir")" ]; then
        _pf_err "$dir is not empty: give pf_start a new directory"; return 1
    fi
    # Postfix daemons (user postfix) and Dovecot must reach into DIR.
    local d=$dir
    while d=$(dirname "$d") && [ "$d" != / ]; do
        if [ $(( 0$(stat -c %a "$d") & 1 )) = 0 ]; then
            _pf_err "$d is not searchable by other users (chmod o+x it): Postfix's daemons could not reach $dir"
            return 1
        fi
    done
    chmod 755 "$dir"
    PF_DIR=$dir
    PF_CONF=$PF_DIR/etc
    PF_QUEUE=$PF_DIR/queue
    PF_LOG=$PF_DIR/maillog
    export PF_DIR PF_CONF PF_QUEUE PF_LOG
    : > "$PF_DIR/pids"
    mkdir -p "$PF_CONF" "$PF_QUEUE" "$PF_DIR/data" "$PF_DIR/dovecot"
    chown root:root "$PF_QUEUE"; chmod 755 "$PF_QUEUE"
    chown postfix: "$PF_DIR/data"; chmod 700 "$PF_DIR/data"

    read -r PF_PORT PF_SUBMISSION_PORT PF_SINK_PORT PF_SINK_REJECT_PORT PF_SINK_DEFER_PORT \
        PF_SINK_DATAREJ_PORT PF_CLOSED_PORT <<<"$(net_free_ports 7)"
    if [ -z "$PF_CLOSED_PORT" ]; then _pf_err "could not pick free ports"; return 1; fi
    export PF_PORT PF_SUBMISSION_PORT PF_SINK_PORT PF_SINK_REJECT_PORT PF_SINK_DEFER_PORT \
        PF_SINK_DATAREJ_PORT PF_CLOSED_PORT

    # ---- smtp-sinks (next hops)
    PF_SINK_DIR=
    if [ "${PF_SINK_KEEP:-no}" = yes ]; then
        PF_SINK_DIR=$PF_DIR/sink-main.d
        mkdir -p "$PF_SINK_DIR" && chown nobody "$PF_SINK_DIR" && chmod 755 "$PF_SINK_DIR" \
            || { _pf_err "cannot make $PF_SINK_DIR"; return 1; }
        _pf_start_sink main "$PF_SINK_PORT" -d "$PF_SINK_DIR/%Y%m%d%H%M%S."
    else
        _pf_start_sink main "$PF_SINK_PORT"
    fi
    export PF_SINK_DIR
    _pf_start_sink reject "$PF_SINK_REJECT_PORT" -f RCPT -B "550 5.1.1 Recipient address rejected: User unknown"
    _pf_start_sink defer "$PF_SINK_DEFER_PORT" -r RCPT -b "450 4.2.0 Mailbox temporarily unavailable, try again later"
    _pf_start_sink datarej "$PF_SINK_DATAREJ_PORT" -f . -B "554 5.7.1 Message content rejected"

    # ---- Postfix configuration
    cat > "$PF_CONF/main.cf" <<EOF
# private test instance made by tests/lib/postfix.sh
compatibility_level = 3.6
queue_directory = $PF_QUEUE
data_directory = $PF_DIR/data
mail_owner = postfix
setgid_group = postdrop
myhostname = $PF_HOSTNAME
mydomain = example.test
myorigin = \$myhostname
mydestination = \$myhostname, localhost
local_recipient_maps = texthash:$PF_CONF/local_recipients
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = $PF_MYNETWORKS
smtpd_peername_lookup = no
smtpd_client_port_logging = no
smtp_dns_support_level = disabled
relayhost = [127.0.0.1]:$PF_SINK_PORT
# always reuse connections to the relayhost (conn_use= in delivery lines, and
# scache statistics at reload), not only when a backlog builds up by chance
smtp_connection_cache_destinations = \$relayhost
transport_maps = texthash:$PF_CONF/transport
virtual_alias_maps = texthash:$PF_CONF/virtual
header_checks = pcre:$PF_CONF/header_checks
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_sasl_security_options = noanonymous
broken_sasl_auth_clients = no
smtpd_tls_security_level = none
smtp_tls_security_level = none
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
enable_long_queue_ids = ${PF_LONG_QUEUE_IDS:-no}
maillog_file = $PF_LOG
maillog_file_prefixes = /var, /dev/stdout, $PF_DIR
biff = no
append_dot_mydomain = no
readme_directory = no
down_initial_destination_concurrency = 1
down_destination_concurrency_failed_cohort_limit = 1
EOF
    PF_MILTER_HEADER_CHECKS=
    if [ -n "${PF_MILTER:-}" ]; then
        PF_MILTER_HEADER_CHECKS=$PF_CONF/milter_header_checks
        cat > "$PF_MILTER_HEADER_CHECKS" <<'EOF'
# headers added by a milter (rspamd's X-Spam, X-Spam-Status, X-Spam-Flag)
/^X-Spam(-Status|-Flag)?:/      INFO
EOF
        cat >> "$PF_CONF/main.cf" <<EOF
# the content filter (PF_MILTER)
smtpd_milters = $PF_MILTER
milter_default_action = ${PF_MILTER_DEFAULT_ACTION:-tempfail}
milter_protocol = 6
milter_mail_macros = i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer}
milter_header_checks = pcre:$PF_MILTER_HEADER_CHECKS
EOF
    fi
    export PF_MILTER_HEADER_CHECKS
    if [ -n "${PF_EXTRA_MAIN:-}" ]; then
        local setting
        while IFS= read -r setting; do
            setting=${setting#"${setting%%[![:space:]]*}"}
            [ -n "$setting" ] || continue
            postconf -c "$PF_CONF" -e "$setting" || { _pf_err "bad PF_EXTRA_MAIN setting: $setting"; pf_stop; return 1; }
        done < <(tr ';' '\n' <<<"$PF_EXTRA_MAIN")
    fi

    cat > "$PF_CONF/master.cf" <<EOF
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$PF_PORT inet n - n - - smtpd
127.0.0.1:$PF_SUBMISSION_PORT inet n - n - - smtpd
  -o syslog_name=postfix/submission
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
# the closed-port destination: first failure suspends it; own syslog_name
down      unix  -       -       n       -       -       smtp
  -o syslog_name=postfix-out
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF

    cat > "$PF_CONF/header_checks" <<'EOF'
# first match wins: specific rules before the general INFO rules
/^Subject: .*HOLDME/            HOLD held by test rule
/^Subject: .*REJECTME/          REJECT policy says no
/^Subject: .*DISCARDME/         DISCARD discarded by test rule
/^X-Client-ID:/                 INFO
/^X-Spam-Flag:/                 INFO
EOF

    cat > "$PF_CONF/transport" <<EOF
$PF_DOMAIN_REJECT   smtp:[127.0.0.1]:$PF_SINK_REJECT_PORT
$PF_DOMAIN_DEFER    smtp:[127.0.0.1]:$PF_SINK_DEFER_PORT
$PF_DOMAIN_DATAREJ  smtp:[127.0.0.1]:$PF_SINK_DATAREJ_PORT
$PF_DOMAIN_DOWN     down:[127.0.0.1]:$PF_CLOSED_PORT
EOF

    # virtual aliases give orig_to= in delivery lines
    cat > "$PF_CONF/virtual" <<'EOF'
sales@example.com       carol@example.net
team@example.com        alice@example.com, bob@example.com
EOF

    cat > "$PF_CONF/local_recipients" <<'EOF'
postmaster  x
root        x
EOF

    # Postfix reads a file again, 300 ms later, for as long as its mtime is
    # not a second before the read began (dict_load_file_xt for main.cf,
    # dict_thash for texthash): every daemon that starts within two seconds
    # of the files being written would wait. They are complete: make them
    # older.
    touch -d '-1 minute' "$PF_CONF/main.cf" "$PF_CONF/master.cf" \
        "$PF_CONF/header_checks" "$PF_CONF/transport" "$PF_CONF/virtual" \
        "$PF_CONF/local_recipients" ${PF_MILTER_HEADER_CHECKS:+"$PF_MILTER_HEADER_CHECKS"}

    # ---- Postfix first: its start makes the queue directories (what
    # `postfix check` would, a second earlier) before Dovecot puts its
    # socket in private/; smtpd asks Dovecot only when a client logs in,
    # after the wait below
    if ! postfix -c "$PF_CONF" start </dev/null >"$PF_DIR/postfix-start.out" 2>&1; then
        # Postfix writes its errors to stderr only when that is a terminal
        # (otherwise to syslog, which may not exist here): ask again on a pty.
        _pf_pty postfix -c "$PF_CONF" check >"$PF_DIR/postfix-check.out" 2>&1
        _pf_err "postfix start failed"; _pf_show_failure; pf_stop; return 1
    fi

    # ---- Dovecot, auth only
    local dv=$PF_DIR/dovecot
    mkdir -p "$dv/run" "$dv/state"
    local u
    : > "$dv/users"
    for u in $PF_USERS; do
        echo "${u%%:*}:{PLAIN}${u#*:}::::::" >> "$dv/users"
    done
    chown root:dovecot "$dv/users"; chmod 640 "$dv/users"
    cat > "$dv/dovecot.conf" <<EOF
instance_name = rgtest-$(basename "$PF_DIR")-$$
base_dir = $dv/run
state_dir = $dv/state
protocols =
ssl = no
log_path = $dv/dovecot.log
info_log_path = $dv/dovecot.log
auth_mechanisms = plain login
disable_plaintext_auth = no
auth_failure_delay = 0
default_internal_user = dovecot
default_login_user = dovenull
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dv/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service auth {
  unix_listener $PF_QUEUE/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}
EOF
    if ! dovecot -c "$dv/dovecot.conf" </dev/null >"$dv/start.out" 2>&1; then
        _pf_err "dovecot did not start"; _pf_show_failure; pf_stop; return 1
    fi

    # ---- wait for everything to listen
    local ok name pid
    for _ in $(seq 1 100); do
        ok=1
        for p in "$PF_PORT" "$PF_SUBMISSION_PORT" "$PF_SINK_PORT" "$PF_SINK_REJECT_PORT" \
                 "$PF_SINK_DEFER_PORT" "$PF_SINK_DATAREJ_PORT"; do
            net_listening "$p" || { ok=0; break; }
        done
        [ -S "$PF_QUEUE/private/auth" ] || ok=0
        [ -s "$PF_QUEUE/pid/master.pid" ] || ok=0
        [ -s "$PF_LOG" ] || ok=0
        [ $ok = 1 ] && break
        sleep 0.1
    done
    if [ $ok != 1 ]; then
        _pf_err "not everything came up within 10 s (ports, private/auth, master.pid, $PF_LOG)"
        while read -r name pid; do
            kill -0 "$pid" 2>/dev/null || _pf_err "$name (pid $pid) is not running"
        done < "$PF_DIR/pids"
        [ -S "$PF_QUEUE/private/auth" ] || _pf_err "no Dovecot socket $PF_QUEUE/private/auth"
        _pf_show_failure; pf_stop; return 1
    fi
    if net_listening "$PF_CLOSED_PORT"; then
        _pf_err "warning: port $PF_CLOSED_PORT (meant to be closed) is in use"
    fi
    echo "postfix $(sed 's/ //g' "$PF_QUEUE/pid/master.pid")" >> "$PF_DIR/pids"
    echo "dovecot $(cat "$dv/run/master.pid" 2>/dev/null)" >> "$PF_DIR/pids"
    # wait until postlogd has logged the start
    pf_flush_log 5 >/dev/null || true
    return 0
}

pf_stop() {
    [ -n "${PF_DIR:-}" ] && [ -f "$PF_DIR/pids" ] || return 0
    local name pid
    if [ -n "${PF_CONF:-}" ] && [ -s "${PF_QUEUE:-/nonexistent}/pid/master.pid" ]; then
        postfix -c "$PF_CONF" stop </dev/null >>"$PF_DIR/postfix-stop.out" 2>&1
    fi
    if [ -f "$PF_DIR/dovecot/dovecot.conf" ] && [ -s "$PF_DIR/dovecot/run/master.pid" ]; then
        dovecot -c "$PF_DIR/dovecot/dovecot.conf" stop </dev/null >>"$PF_DIR/dovecot/stop.out" 2>&1
    fi
    while read -r name pid; do
        [ -n "$pid" ] || continue
        case $name in sink-*) kill "$pid" 2>/dev/null ;; esac
    done < "$PF_DIR/pids"
    # wait for every recorded process to go away; then insist
    for _ in $(seq 1 50); do
        local alive=0
        while read -r name pid; do
            [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && alive=1
        done < "$PF_DIR/pids"
        [ $alive = 0 ] && break
        sleep 0.1
    done
    while read -r name pid; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            _pf_err "$name (pid $pid) did not stop: killing it"
            kill -9 "$pid" 2>/dev/null
        fi
    done < "$PF_DIR/pids"
    # Postfix children of a killed master exit by themselves; wait for any
    # process still using our queue or config directory.
    mv "$PF_DIR/pids" "$PF_DIR/pids.stopped"
    return 0
}

# _pf_queue_count: files in maildrop, incoming and active
_pf_queue_count() {
    find "$PF_QUEUE/maildrop" "$PF_QUEUE/incoming" "$PF_QUEUE/active" -type f 2>/dev/null | wc -l
}

pf_queue_ids() {
    local q=${1:?usage: pf_queue_ids QUEUE}
    find "$PF_QUEUE/$q" -type f -printf '%f\n' 2>/dev/null | sort
}

_pf_log_size() { stat -c %s "$PF_LOG" 2>/dev/null || echo 0; }

# pf_flush_log [--marker] [TIMEOUT]
pf_flush_log() {
    local marker=0
    if [ "${1:-}" = --marker ]; then marker=1; shift; fi
    local timeout=${1:-10} quiet=${PF_QUIET:-1}
    local deadline=$((SECONDS + timeout))
    if [ $marker = 1 ]; then
        local tag
        tag="flush-$$-$RANDOM$RANDOM"
        postlog -c "$PF_CONF" -t relayguard-test "$tag" </dev/null >/dev/null 2>&1
        until grep -q -- "$tag" "$PF_LOG" 2>/dev/null; do
            [ $SECONDS -ge $deadline ] && { _pf_err "marker $tag never reached $PF_LOG"; return 1; }
            sleep 0.1
        done
    fi
    local last now stable_since
    last=$(_pf_log_size); stable_since=$(date +%s.%N)
    while :; do
        sleep 0.1
        now=$(_pf_log_size)
        if [ "$now" != "$last" ]; then
            last=$now; stable_since=$(date +%s.%N)
        elif awk -v a="$(date +%s.%N)" -v b="$stable_since" -v q="$quiet" 'BEGIN{exit !(a-b >= q)}'; then
            return 0
        fi
        [ $SECONDS -ge $deadline ] && { _pf_err "log still growing after $timeout s"; return 1; }
    done
}

# pf_wait_settled [TIMEOUT]
pf_wait_settled() {
    local timeout=${1:-30}
    local deadline=$((SECONDS + timeout))
    while [ "$(_pf_queue_count)" -gt 0 ]; do
        if [ $SECONDS -ge $deadline ]; then
            _pf_err "queue not settled after $timeout s:"
            postqueue -c "$PF_CONF" -p >&2 2>&1
            return 1
        fi
        sleep 0.1
    done
    local left=$((deadline - SECONDS))
    [ $left -lt 2 ] && left=2
    pf_flush_log "$left" || return 1
    # something may have entered the queue while we watched the log
    if [ "$(_pf_queue_count)" -gt 0 ]; then
        pf_wait_settled $((deadline - SECONDS > 1 ? deadline - SECONDS : 1))
        return $?
    fi
    return 0
}

# relay_save NAME - remember the running instance's PF_* variables as
# NAME_* (NAME_DIR, NAME_CONF, ...), for suites with several Postfix
# instances; relay_use NAME points the PF_* variables back at it
relay_save() {
    eval "${1}_DIR=\$PF_DIR ${1}_CONF=\$PF_CONF ${1}_QUEUE=\$PF_QUEUE ${1}_LOG=\$PF_LOG ${1}_PORT=\$PF_PORT"
}
relay_use() {
    eval "PF_DIR=\$${1}_DIR PF_CONF=\$${1}_CONF PF_QUEUE=\$${1}_QUEUE PF_LOG=\$${1}_LOG PF_PORT=\$${1}_PORT"
}
