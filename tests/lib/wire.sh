# tests/lib/wire.sh - wire a test Postfix (tests/lib/postfix.sh) to
# relayguard with exactly the main.cf lines `relayguard postfix-config`
# prints, then reload it.
#
# rg_wire_postfix RELAYGUARD CONFIG WORKDIR [POSTFIX-CONFIG OPTIONS]: 0 on
# success; prints a FAIL line for a setting postconf refused.

# rg_wire_postfix - apply postfix-config's main.cf settings to $PF_CONF
rg_wire_postfix() {
    local rg=$1 cfg=$2 work=$3 s rc=0
    shift 3
    "$rg" -c "$cfg" postfix-config "$@" > "$work/postfix-config.out" || return 1
    # every line is a main.cf line: join the continuation lines
    python3 - "$work/postfix-config.out" > "$work/settings" <<'PY'
import sys
out = []
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if not line.strip() or line.startswith("#"):
        continue
    if line[0] in " \t":
        out[-1] += " " + line.strip()
    else:
        out.append(line.strip())
for s in out:
    print(s)
PY
    while IFS= read -r s; do
        postconf -c "$PF_CONF" -e "$s" || { echo "FAIL: wire: postconf -e $s"; rc=1; }
    done < "$work/settings"
    postfix -c "$PF_CONF" reload >/dev/null 2>&1
    sleep 1
    return $rc
}
