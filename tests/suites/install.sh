#!/bin/bash
# install.sh - make install and uninstall into a DESTDIR (PREFIX=/usr): the
# binary, the man pages (rendering without warnings, listing every command
# and every key of the schema), the systemd units and the cron file naming
# the installed binary, the sample configuration (never over an existing
# one), and the bash completion (commands, options, user names).
set -u
RG=${RELAYGUARD:-build/relayguard}
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
root=$t/root

# check NAME CONDITION...: PASS or FAIL with the condition
check() {
    local name=$1; shift
    if "$@"; then echo "PASS: install: $name"; else echo "FAIL: install: $name: $*"; fi
}

# make install uses the build directory of the binary under test, if it is ours
B=build
case $(realpath "$RG") in "$TOP"/*) B=$(realpath --relative-to="$TOP" "$(dirname "$(realpath "$RG")")") ;; esac
mk() { make -C "$TOP" --no-print-directory B="$B" PREFIX=/usr DESTDIR="$root" "$@"; }

if ! mk install > "$t/install.out" 2>&1; then
    echo "FAIL: install: make install: $(tail -3 "$t/install.out" | tr '\n' ' ')"
    exit 0
fi
want="755 usr/bin/relayguard
644 usr/share/man/man8/relayguard.8
644 usr/share/man/man5/relayguard.ini.5
$(cd "$TOP/samples/systemd" && for u in *.service *.timer *.path; do [ -e "$u" ] && echo "644 usr/lib/systemd/system/$u"; done)
644 etc/cron.d/relayguard
644 etc/logrotate.d/relayguard
644 usr/share/bash-completion/completions/relayguard
644 usr/share/doc/relayguard/relayguard.ini.sample
640 etc/relayguard/relayguard.ini"
got=$(cd "$root" && find . -type f -printf '%m %P\n' | sort)
check "every file installed, with its mode" [ "$got" = "$(sort <<<"$want")" ]
[ "$got" = "$(sort <<<"$want")" ] || diff <(sort <<<"$want") <(echo "$got") | sed 's/^/    /'

# names_installed - every unit and the cron file exist and name only /usr/bin/relayguard
names_installed() {
    local f
    for f in "$root"/usr/lib/systemd/system/relayguard-collect.service \
        "$root"/usr/lib/systemd/system/relayguard-analyze.service "$root"/etc/cron.d/relayguard; do
        grep -q /usr/bin/relayguard "$f" 2>/dev/null && ! grep -q /usr/local "$f" || return 1
    done
}
check "units and cron name the installed binary" names_installed
check "the units start /usr/bin/relayguard" \
    grep -q '^ExecStart=/usr/bin/relayguard -c /etc/relayguard/relayguard.ini collect' \
    "$root/usr/lib/systemd/system/relayguard-collect.service"

# the man pages: made by the installed program from its tables, and they render cleanly
m8=$root/usr/share/man/man8/relayguard.8 m5=$root/usr/share/man/man5/relayguard.ini.5
check "relayguard.8 is what the installed binary makes" cmp -s "$m8" <("$root/usr/bin/relayguard" man 8)
check "relayguard.ini.5 is what the installed binary makes" cmp -s "$m5" <("$root/usr/bin/relayguard" man 5)
for m in "$m8" "$m5"; do
    w=$(groff -man -Tutf8 -ww -z "$m" 2>&1)
    check "$(basename "$m"): groff -ww renders it without a warning" [ -z "$w" ]
    [ -z "$w" ] || echo "    $w" | head -3
    w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$m" 2>&1 >"$t/rendered") ; rc=$?
    check "$(basename "$m"): man -l renders it without a warning" [ $rc -eq 0 ] && [ -z "$w" ] && [ -s "$t/rendered" ]
done

# every key of the schema, under its section's heading, in relayguard.ini(5)
groff -man -Tutf8 -P-cbou "$m5" 2>/dev/null | awk '
    /^[^ ]/ { h = ""; next }
    /^   [^ ]/ { h = substr($0, 4); next }
    h ~ /^\[/ && /^       [^ ]/ { split(substr($0, 8), w, " "); print h "|" w[1] }' | sort > "$t/man-keys"
"$RG" check-config --schema | awk 'NR > 1 {
    s = $1; k = $2
    if (s == "user/defaults") s = "[user NAME] and [defaults]"
    else if ($2 == "NAME") { s = "[" $1 " NAME]"; k = $3 }
    else s = "[" s "]"
    print s "|" k }' | sort > "$t/schema-keys"
n=$(wc -l < "$t/schema-keys")
check "relayguard.ini(5) lists all $n keys of check-config --schema, each under its section" \
    cmp -s "$t/schema-keys" "$t/man-keys"
cmp -s "$t/schema-keys" "$t/man-keys" || diff "$t/schema-keys" "$t/man-keys" | head -8 | sed 's/^/    /'

# every command of --help, with its usage, in relayguard(8)
groff -man -Tutf8 -P-cbou "$m8" 2>/dev/null > "$t/man8"
missing=
for c in $("$RG" --help | sed -n '/^commands:/,$ s/^  \([a-z][a-z-]*\) .*/\1/p'); do
    grep -qE "^   ([a-z-]+, )*$c(,|$)" "$t/man8" && grep -q "relayguard \[-c CONFIG\] $c" "$t/man8" \
        || missing="$missing $c"
done
check "relayguard(8) has every command of --help, with its usage" [ -z "$missing" ]
[ -z "$missing" ] || echo "    missing:$missing"

# bash completion: commands and options from the program, user names from the config
cfg=$root/etc/relayguard/relayguard.ini
comp() {
    PATH=$root/usr/bin:$PATH bash -c 'source "$1"; shift
        COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _relayguard; echo "${COMPREPLY[*]}"' \
        _ "$root/usr/share/bash-completion/completions/relayguard" "$@"
}
check "completion: a command" [ "$(comp relayguard an)" = analyze ]
check "completion: every command" [ "$(comp relayguard '' | wc -w)" -eq "$("$RG" --help | sed -n '/^commands:/,$p' | grep -c '^  [a-z]')" ]
check "completion: a command's options" [ "$(comp relayguard collect --)" = "--analyze --follow --once --quiet --threads --wait --help" ]
check "completion: a global option" [ "$(comp relayguard --conf)" = "--config" ]
check "completion: user or identity" [ "$(comp relayguard -c "$cfg" lock '')" = "user identity" ]
check "completion: user names from the configuration" \
    [ "$(comp relayguard -c "$cfg" unlock user '')" = "shop@customer.example 198.51.100.0/24 customer.example" ]
check "completion: a user name by its start" [ "$(comp relayguard -c "$cfg" lock user sh)" = "shop@customer.example" ]
check "completion: --user takes a user name" [ "$(comp relayguard --config="$cfg" messages --user cu)" = "customer.example" ]

# a changed configuration is never overwritten, nor removed
echo "; changed by the administrator" >> "$cfg"
sum=$(md5sum < "$cfg")
mk install > "$t/install2.out" 2>&1
check "a second install keeps the administrator's configuration" [ "$(md5sum < "$cfg")" = "$sum" ]
check "... and says so" grep -q "keeping $cfg" "$t/install2.out"
mk uninstall > "$t/un.out" 2>&1
left=$(cd "$root" && find . -type f -printf '%P\n')
check "uninstall removes everything but the changed configuration" [ "$left" = etc/relayguard/relayguard.ini ]
rm -rf "$root"
mk install > /dev/null 2>&1 && mk uninstall > /dev/null 2>&1
left=$(cd "$root" && find . -type f -printf '%P\n')
check "uninstall removes the unchanged sample configuration too" [ -z "$left" ]
