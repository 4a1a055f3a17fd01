#!/bin/bash
# config.sh - check-config: errors name FILE:LINE and exit 78; good files pass.
set -u
RG=${RELAYGUARD:-build/relayguard}
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
n=0

# expect NAME WANT_RC PATTERN FILE: run check-config, match rc and output
expect() {
    local name=$1 want=$2 pat=$3 file=$4 out rc
    out=$("$RG" -c "$file" check-config 2>&1); rc=$?
    if [ "$rc" -ne "$want" ]; then
        echo "FAIL: config: $name: exit $rc, want $want: $(echo "$out" | head -3 | tr '\n' ' ')"
    elif ! grep -qE -- "$pat" <<<"$out"; then
        echo "FAIL: config: $name: output lacks /$pat/: $(echo "$out" | head -3 | tr '\n' ' ')"
    else
        echo "PASS: config: $name"
    fi
}

expect "a valid file" 0 '^configuration OK$' "$TOP/tests/config/good.ini"

printf '[global]\ndatabase = /x.db\n[nosuch]\nkey = 1\n' > "$t/a.ini"
expect "unknown section" 78 "^$t/a.ini:3: unknown section \[nosuch\]" "$t/a.ini"

printf '[parse]\nfoo = 1\n' > "$t/b.ini"
expect "unknown key" 78 "^$t/b.ini:2: unknown key 'foo' in \[parse\]" "$t/b.ini"

printf '[parse]\n\nmax_message_age = 10x\n' > "$t/c.ini"
expect "bad duration" 78 "^$t/c.ini:3: max_message_age: '10x' is not a duration" "$t/c.ini"

printf '[parse]\nmax_message_age = 5m\n' > "$t/d.ini"
expect "duration out of range" 78 "^$t/d.ini:2: max_message_age: 5m is out of range" "$t/d.ini"

printf '[parse]\nyear = twenty\n' > "$t/e.ini"
expect "bad number" 78 "^$t/e.ini:2: year: 'twenty' is not a whole number" "$t/e.ini"

printf '[parse]\ntimezone = Mars/Olympus_Mons\n' > "$t/f.ini"
expect "unknown zone" 78 "^$t/f.ini:2: timezone: unknown time zone" "$t/f.ini"

printf '[global]\ndatabase = relative.db\n' > "$t/g.ini"
expect "relative path" 78 "^$t/g.ini:2: database: 'relative.db' is not an absolute path" "$t/g.ini"

printf '[parse]\nthis line has no equals sign\n' > "$t/h.ini"
expect "syntax error" 78 "^$t/h.ini:2: syntax error" "$t/h.ini"

printf '[parse]\nyear = 2024\nyear = 2025\n' > "$t/i.ini"
expect "key set twice" 78 "^$t/i.ini:3: 'year' is set twice" "$t/i.ini"

# inih r55 cuts lines at 199 bytes: a long line must be reported, not misread
{ printf '[parse]\n'; printf 'identity_headers = X-A'; for i in $(seq 1 40); do printf ', X-Header-%02d' "$i"; done; printf '\nyear = 2024\n'; } > "$t/j.ini"
expect "over-long line" 78 "^$t/j.ini:2: line is [0-9]+ bytes long; the limit is 198" "$t/j.ini"
# and the lines after it are still read with the right numbers
printf '[parse]\n%s\nyear = 1\n' "; $(printf 'x%.0s' $(seq 1 250))" > "$t/k.ini"
expect "line numbers after a long line" 78 "^$t/k.ini:3: year: '1' is not a whole number" "$t/k.ini"

printf '[parse]\n  year = 2024\nmax_message_age = 1d\n  timezone = UTC\n' > "$t/l.ini"
expect "indented key" 78 "^$t/l.ini:4: indented line is read as a continuation" "$t/l.ini"

printf '[parse]\nidentity_headers = X-Client-ID, Bad:Name\n' > "$t/m.ini"
expect "bad header name" 78 "^$t/m.ini:2: identity_headers: bad header name 'Bad:Name'" "$t/m.ini"

printf '[%s]\n' "$(printf 's%.0s' $(seq 1 60))" > "$t/n.ini"
expect "over-long section name" 78 "^$t/n.ini:1: section name is longer than 49 bytes" "$t/n.ini"

printf '[source pf]\ntype = pipe\n' > "$t/p.ini"
expect "bad source type" 78 "^$t/p.ini:2: type: 'pipe' is not one of file\|stdin\|journal" "$t/p.ini"

printf '[global]\ndatabase = /x.db\n\n[source pf]\ntype = file\n' > "$t/q.ini"
expect "file source without path" 78 "^$t/q.ini:4: \[source pf\]: type = file needs a path" "$t/q.ini"

printf '[source]\npath = /var/log/mail.log\n' > "$t/r.ini"
expect "source without a name" 78 "^$t/r.ini:1: \[source\] needs a name" "$t/r.ini"

printf '[source a]\npath = /var/log/mail.log\n[source "b"]\npath = /var/log/mail.log\n' > "$t/s.ini"
expect "two sources, one file" 78 "^$t/s.ini:3: \[source b\]: /var/log/mail.log is read by \[source a\] already" "$t/s.ini"

printf '[source j]\ntype = journal\nmatch = _SYSTEMD_UNIT\n' > "$t/u.ini"
expect "journal match syntax" 78 "^$t/u.ini:3: match: '_SYSTEMD_UNIT' is not FIELD=value" "$t/u.ini"

printf '[source pf]\npath = /var/log/mail.log\nmatch = A=b\n' > "$t/v.ini"
expect "match on a file source" 78 "^$t/v.ini:1: \[source pf\]: match and directory are only for type = journal" "$t/v.ini"

printf '[user "Alice@example.com"]\n[defaults]\nlock_timeout = 2h\n[user "alice@example.com"]\n' > "$t/w.ini"
expect "a user twice, differing in case" 78 "^$t/w.ini:4: \[user alice@example.com\]: the same user as \[user Alice@example.com\] \(line 1\)" "$t/w.ini"

printf '[user "bob@example.com"]\narchive = yes\n' > "$t/x.ini"
expect "archive without an address" 78 "^$t/x.ini:1: \[user bob@example.com\]: archive = yes needs archive_address" "$t/x.ini"

printf '[user "bob@example.com"]\nauto_lock = maybe\n' > "$t/y.ini"
expect "a bad boolean" 78 "^$t/y.ini:2: auto_lock: 'maybe' is not yes or no" "$t/y.ini"

printf '[global]\nadmin_contact = not an address\n' > "$t/z.ini"
expect "a bad address" 78 "^$t/z.ini:2: admin_contact: 'not an address' is not a mail address" "$t/z.ini"

printf '[user "192.0.2.1/24"]\ntype = ip\n' > "$t/c1.ini"
expect "a CIDR with host bits" 78 "^$t/c1.ini:1: \[user 192.0.2.1/24\]: '192.0.2.1/24' is not an address or CIDR" "$t/c1.ini"

printf '[identity_header "X-Client-ID"]\nregex = ^tenant-[0-9]+\n' > "$t/c2.ini"
expect "an identity regex without a capture" 78 "^$t/c2.ini:2: regex: needs a capture group" "$t/c2.ini"

printf '[identity_header "X-Client-ID"]\nregex = ^tenant-([0-9]+\n' > "$t/c3.ini"
expect "a broken identity regex" 78 "^$t/c3.ini:2: regex: missing closing parenthesis" "$t/c3.ini"

expect "the sample relayguard.ini" 0 '^configuration OK$' "$TOP/samples/relayguard.ini"

expect "missing file" 78 "^$t/none.ini: cannot open: No such file" "$t/none.ini"

# every error is reported, not just the first
printf '[parse]\nyear = x\nspamd_window = y\n[zz]\n' > "$t/o.ini"
out=$("$RG" -c "$t/o.ini" check-config 2>&1)
if [ "$(grep -c "^$t/o.ini:[0-9]*:" <<<"$out")" -eq 3 ] && grep -q '3 errors' <<<"$out"; then
    echo "PASS: config: all errors reported"
else
    echo "FAIL: config: all errors reported: $out"
fi

# parse refuses a bad config too (same exit code)
"$RG" -c "$t/o.ini" parse </dev/null >/dev/null 2>&1; rc=$?
[ $rc -eq 78 ] && echo "PASS: config: parse refuses a bad config (78)" || echo "FAIL: config: parse with a bad config exited $rc"

# the schema table
if "$RG" check-config --schema | grep -qE '^parse +max_message_age +duration +6d'; then
    echo "PASS: config: --schema prints the table"
else
    echo "FAIL: config: --schema"
fi

# [domain NAME]: a domain name, and a DKIM selector of DNS labels
printf '[domain "exa mple.com"]\ndkim_selector = s1\n' > "$t/d1.ini"
expect "a [domain] that is not a domain name" 78 "^$t/d1.ini:1: \[domain exa mple.com\]: not a domain name" "$t/d1.ini"
printf '[domain example.com]\ndkim_selector = s1 x\n' > "$t/d2.ini"
expect "a DKIM selector with a space" 78 "^$t/d2.ini:1: \[domain example.com\]: dkim_selector 's1 x' is not a DKIM selector" "$t/d2.ini"
printf '[domain example.com]\ndkim_selector = -s1\n' > "$t/d3.ini"
expect "a DKIM selector starting with '-'" 78 "^$t/d3.ini:1: \[domain example.com\]: dkim_selector '-s1'" "$t/d3.ini"
printf '[domain example.com]\ndkim_selector = s2026.eu-1\n' > "$t/d4.ini"
expect "a dotted DKIM selector" 0 '^configuration OK$' "$t/d4.ini"

# the samples show what the commands print for the sample configuration
for c in postfix-config:postfix-main.cf.excerpt rspamd-config:rspamd-dkim_signing.conf; do
    if "$RG" -c "$TOP/samples/relayguard.ini" "${c%%:*}" | cmp -s - "$TOP/samples/${c#*:}"; then
        echo "PASS: config: samples/${c#*:} is what ${c%%:*} prints"
    else
        echo "FAIL: config: samples/${c#*:} differs from what ${c%%:*} prints (make it again)"
    fi
done

# a bad value in a [user] is reported, and the checks after it do not trip
# over the value that was not set (found by the fuzzer)
printf '[user "x@y.example"]\narchive = yes\narchive_address = not-an-address\nidentification = nose\n' > "$t/u1.ini"
expect "bad values in a [user]: reported, no crash" 78 "^$t/u1.ini:3: archive_address: 'not-an-address' is not a mail address" "$t/u1.ini"

# One validation for every command (issue 10 item 7): each file in
# tests/config/refused/ holds something no Postfix map could hold (or a
# Postfix lookup could never match); its first line says where and what:
# "; refused: LINE: PATTERN". check-config, collect --once (without
# --analyze) and analyze must each refuse it with FILE:LINE and exit 78.
# A working database, source and map directory are appended, so that a
# command that did not check would run and exit 0.
mkdir -p "$t/rf/maps"; : > "$t/rf/empty.log"; : > "$t/rf/main.cf"
for f in "$TOP"/tests/config/refused/*.ini; do
    c=$(basename "$f" .ini)
    IFS= read -r head < "$f"
    line=${head#; refused: }; pat=${line#*: }; line=${line%%: *}
    cf="$t/rf/$c.ini"
    { cat "$f"; printf '\n[global]\ndatabase = %s/rf/%s.db\nmap_directory = %s/rf/maps\npostfix_config_directory = %s/rf\n[source rf]\npath = %s/rf/empty.log\n' "$t" "$c" "$t" "$t" "$t"; } > "$cf"
    for cmd in check-config "collect --once --quiet" "analyze --dry-run"; do
        # shellcheck disable=SC2086
        out=$("$RG" -c "$cf" $cmd 2>&1 </dev/null); rc=$?
        if [ "$rc" -ne 78 ]; then
            echo "FAIL: config: refused $c: $cmd exit $rc, want 78: $(head -2 <<<"$out" | tr '\n' ' ')"
        elif ! grep -qE -- "^$cf:$line: $pat" <<<"$out"; then
            echo "FAIL: config: refused $c: $cmd output lacks /$cf:$line: $pat/: $(head -2 <<<"$out" | tr '\n' ' ')"
        else
            echo "PASS: config: refused $c: $cmd"
        fi
    done
done

# The compiled cache (rules/cfgcache.h): the analyzer commands keep a
# snapshot of the loaded configuration beside the database and use it while
# the file's bytes are the same. A change (even of the same length under
# the same mtime) is parsed and takes effect; a damaged snapshot, or one
# others may write, is ignored; a bad file still gives FILE:LINE and 78.
cc=$t/cache; mkdir -p "$cc/maps"; : > "$cc/main.cf"; : > "$cc/empty.log"
cache_ini() {    # cache_ini THRESHOLD [EXTRA LINE]
    printf '[global]\ndatabase = %s/rg.db\nmap_directory = %s/maps\npostfix_config_directory = %s\n[source rf]\npath = %s/empty.log\n[user alice@example.com]\nspam_lock_threshold = %s\n%s' \
        "$cc" "$cc" "$cc" "$cc" "$1" "${2:-}" > "$cc/rg.ini"
}
# cache_run NAME WANT_HOW WANT_THRESHOLD: explain alice, check where the
# configuration came from (-vv) and that the threshold is the file's
cache_run() {
    local out rc
    out=$("$RG" -vv -c "$cc/rg.ini" explain user alice@example.com 2>&1); rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "FAIL: config: cache: $1: exit $rc: $(head -3 <<<"$out" | tr '\n' ' ')"
    elif ! grep -q "configuration: $2 (1 users): $cc/rg.db.config-cache" <<<"$out"; then
        echo "FAIL: config: cache: $1: not '$2': $(grep 'configuration:' <<<"$out")"
    elif ! grep -q "spam threshold $3 in" <<<"$out"; then
        echo "FAIL: config: cache: $1: threshold is not $3: $(grep 'spam threshold' <<<"$out")"
    else
        echo "PASS: config: cache: $1"
    fi
}
cache_ini 3
"$RG" -c "$cc/rg.ini" init >/dev/null
cache_run "first run parses and writes the snapshot" "parsed, cache written" 3
m=$(stat -c %a "$cc/rg.db.config-cache" 2>/dev/null)
[ "$m" = 600 ] && echo "PASS: config: cache: the snapshot is mode 600" \
    || echo "FAIL: config: cache: the snapshot is mode '$m', want 600"
cache_run "an unchanged file is not parsed again" "from the cache" 3
touch -r "$cc/rg.ini" "$cc/stamp"
cache_ini 9
touch -r "$cc/stamp" "$cc/rg.ini"       # same length, same mtime
cache_run "a changed file is parsed again and the change holds" "parsed, cache written" 9
cache_run "then its new snapshot is used" "from the cache" 9
printf 'damaged!' | dd of="$cc/rg.db.config-cache" bs=1 seek=150 conv=notrunc status=none
cache_run "a damaged snapshot is ignored and written anew" "parsed, cache written" 9
chmod 666 "$cc/rg.db.config-cache"
cache_run "a snapshot others may write is not trusted" "parsed, cache written" 9
cache_run "(the rewritten one is used)" "from the cache" 9
cache_ini 9 $'limit_per_hour = lots\n'
for cmd in "explain user alice@example.com" "analyze --dry-run" check-config; do
    # shellcheck disable=SC2086
    out=$("$RG" -c "$cc/rg.ini" $cmd 2>&1 </dev/null); rc=$?
    if [ "$rc" -ne 78 ]; then
        echo "FAIL: config: cache: a bad file with a snapshot: $cmd exit $rc, want 78"
    elif ! grep -q "^$cc/rg.ini:9: limit_per_hour: 'lots' is not a whole number" <<<"$out"; then
        echo "FAIL: config: cache: a bad file with a snapshot: $cmd: $(head -2 <<<"$out" | tr '\n' ' ')"
    else
        echo "PASS: config: cache: a bad file with a snapshot: $cmd gives FILE:LINE, 78"
    fi
done
