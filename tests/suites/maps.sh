#!/bin/bash
# maps.sh - the map writer (analyzer/maps.c) against the real postmap: what
# Postfix reads back from each kind of map for hash, lmdb and cdb, rewriting
# identical content touches nothing, a change is a rename (readers never see
# a missing map during 200 rewrites), failures leave the live map untouched.
# The maps are written by the unit-test binary's driver mode (test_maps
# --write DIR ...), with a private postmap configuration directory.
set -u
T=${UNIT_DIR:-$TOP/build/tests}/test_maps
PM=/usr/sbin/postmap
t=$(mktemp -d /tmp/rg-maps.XXXXXX); chmod 755 "$t"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$t"' EXIT

ok() { if [ "$1" = 0 ]; then echo "PASS: maps: $2"; else echo "FAIL: maps: $2${3:+: $3}"; fi; }
if [ ! -x "$T" ]; then echo "FAIL: maps: $T not built (run make)"; exit 1; fi
if [ ! -x "$PM" ]; then echo "SKIP: maps: $PM is not installed"; exit 0; fi

C=$t/conf; mkdir -p "$C"
# aged FILE: a configuration file written by the test made older: Postfix
# reads a main.cf whose mtime is not before the read began again after a
# second (2 s per postconf or postmap run on a new one, measured); the
# cache check (1b) keeps its fresh main.cf, its stamp is the subject
aged() { touch -d '-1 minute' "$@"; }
printf 'compatibility_level = 3.6\n' > "$C/main.cf"; aged "$C/main.cf"
q() { "$PM" -c "$C" -q "$@" 2>&1; }
# snap DIR: names, inodes, sizes, mtimes and contents of every file
snap() { (cd "$1" && for f in *; do [ -e "$f" ] || continue; stat -c '%n %i %s %.9Y %a' "$f"; cksum < "$f"; done); }
leftovers() { ls "$1" | grep -c '\.new' ; }

okb() { if [ -z "$bad" ]; then ok 0 "$1"; else ok 1 "$1" "$bad"; fi; }
# expect WHAT GOT WANT: accumulate mismatches in $bad
expect() { [ "$2" = "$3" ] || bad+="$1 gave '$2', want '$3'; "; }
absent() { local o; o=$(q "$2" "$3"); [ $? = 1 ] && [ -z "$o" ] || bad+="$1 found '$o' for '$2'; "; }

check_indexed() {   # check_indexed TYPE DIR VARIANT
    local ty=$1 d=$2 v=$3
    bad=
    expect sasl "$(q bob@example.com "$ty:$d/sasl_access")" "REJECT 5.7.1 locked"
    expect sasl-case "$(q BOB@Example.COM "$ty:$d/sasl_access")" "REJECT 5.7.1 locked"
    expect sasl "$(q alice "$ty:$d/sasl_access")" "450 4.7.1 slow down"
    expect sasl "$(q user-$v "$ty:$d/sasl_access")" "REJECT variant $v"
    absent sasl bob "$ty:$d/sasl_access"
    absent sasl "user-$((v + 1))" "$ty:$d/sasl_access"
    expect sender "$(q spammer@example.net "$ty:$d/sender_access")" "REJECT spammer"
    expect sender "$(q example.org "$ty:$d/sender_access")" "REJECT domain"
    expect sender "$(q v-$v@example.com "$ty:$d/sender_access")" "REJECT variant $v"
    absent sender nobody@example.net "$ty:$d/sender_access"
    expect bcc "$(q boss@example.com "$ty:$d/sender_bcc")" "archive@example.com"
    expect bcc "$(q @example.org "$ty:$d/sender_bcc")" "archive+org@example.com"
    absent bcc other@example.com "$ty:$d/sender_bcc"
}

check_cidr() {      # check_cidr DIR: the most specific network wins
    local d=$1
    bad=
    expect cidr "$(q 10.1.2.3 "cidr:$d/client_access")" "REJECT A"
    expect cidr "$(q 10.1.2.4 "cidr:$d/client_access")" "REJECT B"
    expect cidr "$(q 10.1.3.1 "cidr:$d/client_access")" "REJECT C"
    expect cidr "$(q 10.1.0.0 "cidr:$d/client_access")" "REJECT H"
    expect cidr "$(q 127.0.0.1 "cidr:$d/client_access")" "DUNNO"
    expect cidr "$(q 2001:db8::1 "cidr:$d/client_access")" "REJECT E"
    expect cidr "$(q 2001:db8::2 "cidr:$d/client_access")" "REJECT D"
    expect cidr "$(q 2001:db8:1::5 "cidr:$d/client_access")" "REJECT F"
    absent cidr 10.2.0.1 "cidr:$d/client_access"
    absent cidr 2001:db9::1 "cidr:$d/client_access"
}

check_pcre() {      # check_pcre DIR: hostile values match themselves only
    local d=$1 w=$t/q; mkdir -p "$w"
    bad=
    "$T" --pcre-queries "$w" || { bad="no query files"; return; }
    "$PM" -c "$C" -q - "pcre:$d/header_checks" < "$w/pos.in" > "$w/pos.out" 2> "$w/err"
    cmp -s "$w/pos.out" "$w/pos.want" || bad+="hostile values: $(diff "$w/pos.want" "$w/pos.out" | cat -v | head -c 400); "
    "$PM" -c "$C" -q - "pcre:$d/header_checks" < "$w/neg.in" > "$w/neg.out" 2>> "$w/err"
    [ -s "$w/neg.out" ] && bad+="near misses matched: $(cat -v "$w/neg.out" | head -c 400); "
    [ -s "$w/err" ] && bad+="postmap warned: $(head -c 300 "$w/err"); "
    expect pcre "$(q 'X-Client-ID: $1 ${x} $(y) $$' "pcre:$d/header_checks")" 'REJECT id-4 $4'
    expect pcre "$(q 'x-client-id: OK' "pcre:$d/header_checks")" 'REJECT id-7 $7'
    absent pcre 'X-Client-ID: ok' "pcre:$d/header_checks"
    absent pcre 'X-Client-ID: TENANT-9' "pcre:$d/header_checks"
    expect pcre "$(q 'X-Client-ID: Tenant-9' "pcre:$d/header_checks")" 'REJECT id-1 $1'
}

# 1. every kind for every indexed type
types="hash lmdb"
if "$PM" -c "$C" -q x cdb:/dev/null 2>&1 | grep -q 'unsupported dictionary type'; then
    echo "SKIP: maps: cdb: postfix-cdb is not installed"
else
    types+=" cdb"
fi
for ty in $types; do
    d=$t/$ty; mkdir -p "$d"
    out=$("$T" --write "$d" --type "$ty" --confdir "$C" 2>&1)
    ok $? "$ty: the five maps are written" "$out"
    [ "$(grep -c 'changed=1' <<< "$out")" = 5 ] || echo "FAIL: maps: $ty: not every map reported changed: $out"
    check_indexed "$ty" "$d" 0
    okb "$ty: postmap -q reads back every sasl, sender and bcc answer (keys folded)"
    ext=$ty; [ "$ty" = hash ] && ext=db
    m=$(stat -c '%a' "$d/sasl_access" "$d/sasl_access.$ext" | paste -sd' ')
    [ "$m" = "644 644" ]; ok $? "$ty: the maps are mode 0644" "$m"
done
d=$t/hash
check_cidr "$d"
okb "cidr: most specific network first, IPv4 and IPv6"
check_pcre "$d"
okb "pcre: hostile header values match exactly themselves, nothing else"

# 1b. keys folded as Postfix folds them (postconf -xh smtputf8_enable)
U=$t/utf8conf; mkdir -p "$U"
printf 'compatibility_level = 3.6\n' > "$U/main.cf"; aged "$U/main.cf"
o=$("$T" --utf8 --confdir "$U" 2>&1); [ "$o" = "smtputf8_enable=yes" ]
ok $? "smtputf8_enable read expanded (the default at compatibility_level 3.6 is yes)" "$o"
printf 'compatibility_level = 0\n' > "$U/main.cf"; aged "$U/main.cf"
o=$("$T" --utf8 --confdir "$U" 2>&1); [ "$o" = "smtputf8_enable=no" ]
ok $? "smtputf8_enable at compatibility_level 0 is no" "$o"
printf 'compatibility_level = 3.6\nsmtputf8_enable = no\n' > "$U/main.cf"; aged "$U/main.cf"
o=$("$T" --utf8 --confdir "$U" 2>&1); [ "$o" = "smtputf8_enable=no" ]
ok $? "smtputf8_enable = no is read" "$o"
# the answer is kept in DIR/.smtputf8_enable with main.cf's stamp (no
# postconf per run): read back while main.cf is unchanged, asked again when
# main.cf changes, even to a file of the same size
K=$t/utf8cache; mkdir -p "$K"
printf 'compatibility_level = 3.6\nsmtputf8_enable = no \n' > "$U/main.cf"; aged "$U/main.cf"
o1=$("$T" --utf8 --confdir "$U" --write "$K" --only sender_access 2>&1 | head -1)
c1=$(cat "$K/.smtputf8_enable" 2>&1)
sed -i 's/ 0$/ 1/' "$K/.smtputf8_enable"
o2=$("$T" --utf8 --confdir "$U" --write "$K" --only sender_access 2>&1 | head -1)
printf 'compatibility_level = 3.6\nsmtputf8_enable = yes\n' > "$U/main.cf"
printf 'compatibility_level = 3.6\nsmtputf8_enable = no \n' > "$U/main.cf"
o3=$("$T" --utf8 --confdir "$U" --write "$K" --only sender_access 2>&1 | head -1)
[ "$o1" = smtputf8_enable=no ] && [ "${c1##* }" = 0 ] && [ "$o2" = smtputf8_enable=yes ] && [ "$o3" = smtputf8_enable=no ]
ok $? "smtputf8_enable kept beside the maps while main.cf is unchanged, asked again after any change" "$o1 / $c1 / $o2 / $o3"
for ty in $types; do
    for mode in yes no; do
        printf 'compatibility_level = 3.6\nsmtputf8_enable = %s\n' "$mode" > "$U/main.cf"; aged "$U/main.cf"
        du=$t/utf8-$ty-$mode; mkdir -p "$du"
        o=$("$T" --write "$du" --type "$ty" --confdir "$U" --utf8 --only sender_access 2>&1)
        ok $? "$ty, smtputf8_enable = $mode: keys differing in non-ASCII case give postmap no duplicate" "$o"
        qu() { "$PM" -c "$U" -q "$@" 2>&1; }
        bad=
        expect sender "$(qu 'ÄBC@Evil.example' "$ty:$du/sender_access")" "REJECT fold"
        expect sender "$(qu 'äbc@evil.example' "$ty:$du/sender_access")" "REJECT fold"
        expect sender "$(qu 'STRASSE@X.example' "$ty:$du/sender_access")" "REJECT sz"
        if [ "$mode" = yes ]; then
            expect sender "$(qu 'straße@x.example' "$ty:$du/sender_access")" "REJECT sz"
        fi
        okb "$ty, smtputf8_enable = $mode: postmap -q finds every case variant"
    done
done

# 2. identical content: nothing touched
before=$(snap "$d")
sleep 0.05
out=$("$T" --write "$d" --type hash --confdir "$C" 2>&1)
[ $? = 0 ] && [ "$(grep -c 'changed=0' <<< "$out")" = 5 ]
ok $? "rewriting identical content reports changed=0" "$out"
after=$(snap "$d")
[ "$before" = "$after" ]; ok $? "rewriting identical content touches no file (inode, mtime)" "$(diff <(echo "$before") <(echo "$after") | head -5)"

# 3. a change is a rename over the live file
i1=$(stat -c %i "$d/sasl_access.db" "$d/header_checks")
out=$("$T" --write "$d" --type hash --confdir "$C" --variant 1 2>&1)
[ $? = 0 ] && [ "$(grep -c 'changed=1' <<< "$out")" = 5 ]; ok $? "a changed map reports changed=1" "$out"
i2=$(stat -c %i "$d/sasl_access.db" "$d/header_checks")
[ "$i1" != "$i2" ] && [ "$(leftovers "$d")" = 0 ]; ok $? "a changed map replaces the live files by rename, no .new left" "$i1 / $i2"
check_indexed hash "$d" 1
okb "the new content is live"

# 4. an empty map is still written (and postmap'ed)
e=$t/empty; mkdir -p "$e"
out=$("$T" --write "$e" --type hash --confdir "$C" --empty 2>&1)
ok $? "empty maps are written" "$out"
bad=
for f in sasl_access sasl_access.db client_access header_checks sender_access.db sender_bcc.db; do
    [ -f "$e/$f" ] || bad+="$f missing; "
done
absent sasl anyone "hash:$e/sasl_access"
absent cidr 127.0.0.1 "cidr:$e/client_access"
absent pcre "X-Client-ID: x" "pcre:$e/header_checks"
okb "an empty map exists and answers 'not found' without error"

# 5. readers never see a missing or half map during 200 rewrites
rm -f "$t/stop" "$t/fails" "$t/reads"
(
    n=0
    while [ ! -e "$t/stop" ]; do
        o=$(q probe "hash:$d/sasl_access"); [ "$o" = DUNNO ] || echo "sasl: $o" >> "$t/fails"
        o=$(q probe@example.com "hash:$d/sender_bcc"); [ "$o" = probe-archive@example.com ] || echo "bcc: $o" >> "$t/fails"
        o=$(q 127.0.0.1 "cidr:$d/client_access"); [ "$o" = DUNNO ] || echo "cidr: $o" >> "$t/fails"
        o=$(q "X-Probe: probe" "pcre:$d/header_checks"); [ "$o" = DUNNO ] || echo "pcre: $o" >> "$t/fails"
        n=$((n + 1))
    done
    echo "$n" > "$t/reads"
) &
pids+=($!)
wfail=0
for i in $(seq 1 200); do
    "$T" --write "$d" --type hash --confdir "$C" --variant $((i % 2 + 2)) > "$t/wout" 2>&1 || { wfail=1; break; }
done
touch "$t/stop"; wait "${pids[-1]}"
reads=$(cat "$t/reads" 2>/dev/null || echo 0)
[ "$wfail" = 0 ]; ok $? "200 rewrites succeed" "$(cat "$t/wout")"
[ ! -s "$t/fails" ] && [ "$reads" -gt 20 ]
ok $? "$reads rounds of postmap -q during 200 rewrites never failed (hash, cidr, pcre)" "$(sort "$t/fails" 2>/dev/null | uniq -c | head -5)"
# the same for lmdb, a shorter run
l=$t/lmdb; rm -f "$t/stop" "$t/fails"
(
    while [ ! -e "$t/stop" ]; do
        o=$(q probe "lmdb:$l/sasl_access"); [ "$o" = DUNNO ] || echo "lmdb: $o" >> "$t/fails"
    done
) &
pids+=($!)
for i in $(seq 1 50); do
    "$T" --write "$l" --type lmdb --confdir "$C" --only sasl_access --variant $((i % 2 + 2)) > /dev/null 2>&1
done
touch "$t/stop"; wait "${pids[-1]}"
[ ! -s "$t/fails" ]; ok $? "lmdb readers never fail during 50 rewrites" "$(head -3 "$t/fails" 2>/dev/null)"

# 6. failures leave the live map untouched and clean up
fails_cleanly() {   # fails_cleanly NAME PATTERN DIR ARGS...: exit 1, message, nothing changed
    local name=$1 pat=$2 dir=$3; shift 3
    local b a o
    b=$(snap "$dir")
    o=$("$T" --write "$dir" "$@" 2>&1)
    local rc=$?
    a=$(snap "$dir")
    if [ $rc = 0 ]; then ok 1 "$name" "succeeded: $o"
    elif ! grep -q -- "$pat" <<< "$o"; then ok 1 "$name" "message lacks '$pat': $o"
    elif [ "$b" != "$a" ]; then ok 1 "$name" "live files changed: $(diff <(echo "$b") <(echo "$a") | head -4)"
    elif [ "$(leftovers "$dir")" != 0 ]; then ok 1 "$name" ".new files left: $(ls "$dir")"
    else ok 0 "$name"; fi
    printf '%s\n' "$o" | head -1 | sed 's/^/    /'
}
fails_cleanly "postmap missing: error, live map untouched" "exec /nonexistent/postmap" \
    "$d" --type hash --confdir "$C" --variant 7 --only sasl_access --postmap /nonexistent/postmap
fails_cleanly "postmap missing (cidr): error, live map untouched" "exec /nonexistent/postmap" \
    "$d" --confdir "$C" --variant 7 --only client_access --postmap /nonexistent/postmap
fails_cleanly "postmap fails: its stderr in the message, live map untouched" "main.cf" \
    "$d" --type hash --confdir "$t/no-such-conf" --variant 7 --only sasl_access
fails_cleanly "unsupported map type" "unsupported map type" \
    "$d" --type btree --confdir "$C" --variant 7 --only sender_access
# a postmap that builds the map but reads back something else
cat > "$t/liar" <<EOF
#!/bin/sh
for a in "\$@"; do [ "\$a" = -q ] && { cat > /dev/null; echo "x	WRONG"; exit 0; }; done
exec $PM "\$@"
EOF
chmod 755 "$t/liar"
fails_cleanly "verification by postmap -q fails: live map untouched" "does not read back" \
    "$d" --type hash --confdir "$C" --variant 7 --only sasl_access --postmap "$t/liar"
fails_cleanly "verification fails (pcre): live map untouched" "does not read back" \
    "$d" --confdir "$C" --variant 7 --only header_checks --postmap "$t/liar"
# a postmap that warns about the file (Postfix skips such a rule)
cat > "$t/warner" <<EOF
#!/bin/sh
for a in "\$@"; do case \$a in *:*.new) echo "postmap: warning: pcre map \${a#*:}, line 2: bad rule" >&2 ;; esac; done
exec $PM "\$@"
EOF
chmod 755 "$t/warner"
fails_cleanly "a postmap warning about the new file is a failure" "warning: pcre map" \
    "$d" --confdir "$C" --variant 7 --only header_checks --postmap "$t/warner"
# the directory: missing, a .new that cannot be removed, locked
o=$("$T" --write "$t/no-such-dir" --type hash --confdir "$C" --only sasl_access 2>&1)
[ $? = 1 ] && grep -q "open directory $t/no-such-dir" <<< "$o" && [ ! -e "$t/no-such-dir" ]
ok $? "a missing directory: error naming it" "$o"
mkdir "$d/sasl_access.new"; touch "$d/sasl_access.new/x"
fails_cleanly_dir() {
    local b a o
    b=$(snap "$d"); o=$("$T" --write "$d" --type hash --confdir "$C" --variant 8 --only sasl_access 2>&1); local rc=$?; a=$(snap "$d")
    [ $rc = 1 ] && grep -q "remove stale $d/sasl_access.new" <<< "$o" && [ "$b" = "$a" ]
}
fails_cleanly_dir; ok $? "a .new path that cannot be removed: error, live map untouched"
rm -rf "$d/sasl_access.new"
flock -x "$d" -c 'sleep 2' & pids+=($!)
sleep 0.3
b=$(snap "$d"); o=$("$T" --write "$d" --type hash --confdir "$C" --variant 9 2>&1); rc=$?; a=$(snap "$d")
[ $rc = 1 ] && grep -q "another writer" <<< "$o" && [ "$b" = "$a" ]
ok $? "a second writer fails on the directory lock, live map untouched" "$o"
wait "${pids[-1]}"
# a stale .new from a crash is replaced
echo junk > "$d/sasl_access.new"; echo junk > "$d/sasl_access.new.db"
o=$("$T" --write "$d" --type hash --confdir "$C" --variant 10 --only sasl_access 2>&1)
[ $? = 0 ] && [ "$(leftovers "$d")" = 0 ] && [ "$(q user-10 "hash:$d/sasl_access")" = "REJECT variant 10" ]
ok $? "stale .new files of a crashed run are replaced" "$o"
# after all the failures the map still answers as before
bad=
expect sasl "$(q user-10 "hash:$d/sasl_access")" "REJECT variant 10"
expect sasl "$(q bob@example.com "hash:$d/sasl_access")" "REJECT 5.7.1 locked"
expect sender "$(q v-2@example.com "hash:$d/sender_access")" "REJECT variant 2"
expect pcre "$(q "X-Client-ID: variant-2" "pcre:$d/header_checks")" "REJECT variant 2"
expect cidr "$(q 10.1.2.4 "cidr:$d/client_access")" "REJECT B"
okb "the live maps still answer after the failures"
exit 0
