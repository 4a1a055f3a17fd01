# tests/lib/net.sh - loopback port helpers shared by the test harnesses
# (postfix.sh, rspamd.sh). Sourced; defines functions only.

# net_free_ports N: print N distinct free TCP ports on 127.0.0.1 (held open
# together while choosing, so they differ)
net_free_ports() {
    /usr/bin/python3 - "$1" <<'EOF_PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF_PY
}

# net_listening PORT: true when something listens on TCP PORT (IPv4); reads
# /proc/net/tcp, so no iproute2 is needed
net_listening() {
    awk -v p="$(printf '%04X' "$1")" '
        $4 == "0A" { split($2, a, ":"); if (a[2] == p) found = 1 }
        END { exit !found }' /proc/net/tcp
}
