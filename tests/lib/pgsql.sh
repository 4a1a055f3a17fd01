# shellcheck shell=bash
# tests/lib/pgsql.sh - a private PostgreSQL (Debian's postgresql package) for
# tests: its own data directory, socket directory and port, run by the
# postgres user (initdb and the server refuse root; CI runs as root).
#
#   pg_start DIR     initdb DIR/data, start on a free port with the socket in
#                    DIR/sock (trust authentication, loopback TCP too);
#                    exports PG_DIR PG_SOCK PG_PORT PG_BIN
#   pg_stop          stop it (fast), safe to call twice and from a trap
#   pg_restart_start start the stopped server again (same port)
#   pg_sql DB SQL    run SQL as postgres with psql (-X -A -t -q)
#
# Needs root (runuser) and the postgresql package (scripts/install-deps test).

. "$(dirname "${BASH_SOURCE[0]}")/net.sh"

_pg_err() { echo "pg: $*" >&2; }

pg_start() {
    local dir=${1:?usage: pg_start DIR} v
    [ "$(id -u)" = 0 ] || { _pg_err "must run as root"; return 1; }
    id postgres >/dev/null 2>&1 || { _pg_err "no postgres user (install postgresql)"; return 1; }
    PG_BIN=
    for v in /usr/lib/postgresql/*/bin; do [ -x "$v/initdb" ] && PG_BIN=$v; done
    [ -n "$PG_BIN" ] || { _pg_err "no initdb under /usr/lib/postgresql (install postgresql)"; return 1; }
    mkdir -p "$dir" && dir=$(cd "$dir" && pwd) || return 1
    PG_DIR=$dir; PG_SOCK=$dir/sock
    mkdir -p "$PG_SOCK"; chown postgres: "$dir" "$PG_SOCK"; chmod 755 "$dir" "$PG_SOCK"
    PG_PORT=$(net_free_ports 1)
    export PG_DIR PG_SOCK PG_PORT PG_BIN
    runuser -u postgres -- "$PG_BIN/initdb" -D "$dir/data" -A trust -U postgres \
        --no-sync -E UTF8 --locale=C.UTF-8 > "$dir/initdb.out" 2>&1 \
        || { _pg_err "initdb failed"; tail -5 "$dir/initdb.out" >&2; return 1; }
    cat >> "$dir/data/postgresql.conf" <<EOF
port = $PG_PORT
unix_socket_directories = '$PG_SOCK'
listen_addresses = '127.0.0.1'
fsync = off
shared_buffers = 16MB
max_connections = 40
EOF
    pg_restart_start
}

pg_restart_start() {
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" \
        -w -t 60 start > "$PG_DIR/start.out" 2>&1 \
        || { _pg_err "pg_ctl start failed"; tail -5 "$PG_DIR/server.log" >&2; return 1; }
}

pg_stop() {
    [ -n "${PG_DIR:-}" ] && [ -f "$PG_DIR/data/postmaster.pid" ] || return 0
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 60 stop \
        >> "$PG_DIR/stop.out" 2>&1
}

pg_sql() {
    local db=$1; shift
    runuser -u postgres -- "$PG_BIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 \
        -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d "$db" -c "$*"
}

# pc_settings FILE - the main.cf settings of `relayguard postfix-config`'s
# output in FILE (up to the first query file it shows), one a line, each
# continuation line joined to its setting
pc_settings() {
    python3 - "$1" <<'PY'
import sys
out = []
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("# /") or line.startswith("hosts ="):
        break
    if not line.strip() or line.startswith("#"):
        continue
    if line[0] in " \t":
        out[-1] += " " + line.strip()
    else:
        out.append(line.strip())
print("\n".join(out))
PY
}
