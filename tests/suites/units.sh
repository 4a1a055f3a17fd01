#!/bin/bash
# units.sh - the systemd units of samples/systemd: `systemd-analyze verify`
# (with the built binary in place of the installed one), an exposure of 2.5
# or lower for every service (`systemd-analyze security --offline=yes
# --threshold=25`; systemd 252 scores 0..100 internally), the sysusers.d
# file creates the relayguard user in adm and postdrop, and `collect
# --follow` speaks the sd_notify protocol: READY=1, STATUS=, WATCHDOG=1 at
# half of WATCHDOG_USEC, STOPPING=1 on SIGTERM.
set -u
RG=${RELAYGUARD:-build/relayguard}
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT

# check NAME CONDITION...: PASS or FAIL with the condition
check() {
    local name=$1; shift
    if "$@"; then echo "PASS: units: $name"; else echo "FAIL: units: $name: $*"; fi
}

if ! command -v systemd-analyze >/dev/null; then
    echo "SKIP: units: no systemd-analyze"
    exit 0
fi
mkdir -p "$t/units"
for u in "$TOP"/samples/systemd/relayguard-*; do
    sed "s|/usr/local/bin/relayguard|$(realpath "$RG")|g" "$u" > "$t/units/$(basename "$u")"
done
out=$(cd "$t/units" && systemd-analyze verify --man=no "$t"/units/relayguard-* 2>&1)
check "systemd-analyze verify is clean${out:+: $out}" [ -z "$out" ]
for u in "$t"/units/*.service; do
    n=$(basename "$u")
    score=$(systemd-analyze security --offline=yes "$u" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    systemd-analyze security --offline=yes --threshold=25 "$u" > /dev/null 2>&1
    check "$n exposure ${score:-?} <= 2.5" [ $? -eq 0 -a -n "$score" ]
done
for n in collect analyze; do
    check "relayguard-$n.service runs as relayguard, not root" \
        grep -qx 'User=relayguard' "$t/units/relayguard-$n.service"
done
check "the reload path unit names the reload service" \
    grep -qx 'Unit=relayguard-reload.service' "$t/units/relayguard-reload.path"

# sysusers.d: the user, its groups
mkdir -p "$t/root/etc"
cp /etc/passwd /etc/group "$t/root/etc/"
touch "$t/root/etc/shadow" "$t/root/etc/gshadow"
systemd-sysusers --root="$t/root" "$TOP/samples/sysusers.d/relayguard.conf" > /dev/null 2>&1
check "sysusers.d makes the system user relayguard" \
    grep -q '^relayguard:x:[0-9]*:[0-9]*:.*:/usr/sbin/nologin$' "$t/root/etc/passwd"
check "sysusers.d puts relayguard in adm" grep -q '^adm:.*[:,]relayguard' "$t/root/etc/group"

# sd_notify: a private NOTIFY_SOCKET, a 1 s watchdog
printf 'x\n' > "$t/mail.log"
cat > "$t/rg.ini" <<EOI
[global]
database = $t/rg.db
[source postfix]
path = $t/mail.log
EOI
python3 - "$RG" "$t" <<'EOP'
import os, signal, socket, subprocess, sys, time
rg, t = sys.argv[1], sys.argv[2]
path = t + "/notify"
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="1000000")
p = subprocess.Popen([rg, "-c", t + "/rg.ini", "collect", "--follow"], env=env,
                     stderr=subprocess.DEVNULL)
msgs = []
def recv_until(pred, limit):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            m = s.recv(4096).decode()
        except socket.timeout:
            break
        msgs.append((time.monotonic(), m))
        if pred(m):
            return True
    return False
ready = recv_until(lambda m: "READY=1" in m, 30)
print(("PASS" if ready else "FAIL") + ": units: collect --follow sends READY=1 with STATUS=")
t0 = time.monotonic()
n = 0
for _ in range(3):
    if recv_until(lambda m: "WATCHDOG=1" in m, 30):
        n += 1
el = time.monotonic() - t0
# three keep-alives at half of 1 s: well under the 30 s limit, and not in a burst
ok = n == 3 and 0.9 <= el < 30
print(("PASS" if ok else "FAIL") + ": units: collect --follow sends WATCHDOG=1 every half period "
      "(%d in %.1f s)" % (n, el))
p.send_signal(signal.SIGTERM)
stop = recv_until(lambda m: "STOPPING=1" in m, 30)
rc = p.wait(timeout=60)
print(("PASS" if stop and rc == 0 else "FAIL") + ": units: SIGTERM: STOPPING=1 and exit 0 (rc %d)" % rc)
EOP

# not root (as the unit runs it): a changed cidr map is not reloaded by
# analyze itself but requested through MAP_DIRECTORY/reload.request
mkdir -p "$t/nr/d" "$t/nr/pf"; touch "$t/nr/pf/main.cf"; chmod 755 "$t" "$t/nr"
chown nobody "$t/nr/d"
cat > "$t/nr/rg.ini" <<EOI
[global]
database = $t/nr/d/rg.db
map_directory = $t/nr/d/maps
postfix_config_directory = $t/nr/pf
[user "192.0.2.0/24"]
type = ip
EOI
chmod 644 "$t/nr/rg.ini"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$(realpath "$RG")" -c "$t/nr/rg.ini" \
    init > /dev/null 2>&1
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$(realpath "$RG")" -c "$t/nr/rg.ini" \
    lock user 192.0.2.0/24 --reason test 2>&1)
check "not root: analyze asks for the reload through reload.request" \
    grep -q "action=reload result=requested request=$t/nr/d/maps/reload.request" <<<"$out"
check "not root: reload.request exists" [ -f "$t/nr/d/maps/reload.request" ]
