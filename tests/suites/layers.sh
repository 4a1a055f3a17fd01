#!/bin/bash
# layers.sh - the layering of the source tree, checked (no Postfix):
#
#   common <- rules <- store <- collector, analyzer, reports <- cli
#
# 1. a folder includes only from the folders below it (and itself);
# 2. only store/ speaks SQL: no other file includes <sqlite3.h> or names
#    sqlite3 (a type, a call), and none takes the raw connection (store_db)
#    or includes store/'s private header (store_int.h, which declares it);
# 3. the same at link level, from the build's objects (OBJDIR, default the
#    directory of RELAYGUARD, else build/): no object of a folder refers to
#    a symbol that only a folder not below it defines (nm -u against
#    nm --defined-only). SKIP when an object is missing or older than its
#    source (build first).
#
# Files still being moved into store/ by other work are listed below, each
# with where it goes; a listed file that no longer needs its entry is
# reported too, so that the lists only shrink.
set -u
cd "${TOP:-$(dirname "$0")/../..}" || exit 2

# rule 2: SQL outside store/ (file: where its SQL goes)
sql_allowed=(
)
# rule 2: the raw connection (store_db) outside store/
conn_allowed=(
)
# rule 1: includes across the layers that are known and transitional
include_allowed=(
)
# rule 3: symbols across the layers, known and transitional
# (object:symbol, as rule 1's file:include)
link_allowed=(
)

rank() {
    case $1 in
    common) echo 0 ;; rules) echo 1 ;; store) echo 2 ;;
    collector|analyzer|reports) echo 3 ;; cli) echo 4 ;; *) echo -1 ;;
    esac
}
listed() {	# listed WORD LIST...
    local w=$1 x; shift
    for x in "$@"; do
        # shellcheck disable=SC2053
        [[ $w == $x ]] && return 0
    done
    return 1
}

fail=0
bad() { echo "FAIL: layers: $*"; fail=1; }

files=$(ls common/*.[ch] rules/*.[ch] store/*.[ch] collector/*.[ch] \
    analyzer/*.[ch] reports/*.[ch] cli/*.[ch] 2>/dev/null)

# 1: includes go down only
n=0
for f in $files; do
    dir=${f%%/*}; r=$(rank "$dir")
    while IFS= read -r inc; do
        [ -n "$inc" ] || continue
        to=${inc#../}; to=${to%%/*}
        [ "$to" = "$dir" ] && continue
        if [ "$(rank "$to")" -ge "$r" ] && ! listed "$f:$inc" "${include_allowed[@]}"; then
            bad "$f includes $inc ($to is not below $dir)"
            n=$((n + 1))
        fi
    done < <(sed -n 's/^#include "\(\.\.\/[^"]*\)".*/\1/p' "$f")
done
[ $n -eq 0 ] && echo "PASS: layers: every folder includes only from below"

# 2: SQL only in store/
n=0
for f in $files; do
    case $f in store/*) continue ;; esac
    if grep -q 'sqlite3' "$f" && ! listed "$f" "${sql_allowed[@]}"; then
        bad "$f: $(grep -n -m1 'sqlite3' "$f" | cut -c1-100): SQL belongs in store/"
        n=$((n + 1))
    fi
    if grep -q 'store_db(' "$f" && ! listed "$f" "${conn_allowed[@]}"; then
        bad "$f: $(grep -n -m1 'store_db(' "$f" | cut -c1-100): the raw connection outside store/"
        n=$((n + 1))
    fi
    if grep -q '^#include ".*store_int\.h"' "$f"; then
        bad "$f: $(grep -n -m1 'store_int\.h' "$f" | cut -c1-100): store/'s private header outside store/"
        n=$((n + 1))
    fi
done
[ $n -eq 0 ] && echo "PASS: layers: no SQL and no raw connection outside store/ (but the listed files)"

# 3: no object calls up (what rule 1 cannot see: a declaration written
# by hand, a header of the wrong folder with the same name)
objdir=${OBJDIR:-$(dirname "${RELAYGUARD:-build/relayguard}")}
missing=
for f in $files; do
    case $f in *.c) ;; *) continue ;; esac
    o=$objdir/${f%.c}.o
    if [ ! -f "$o" ] || [ "$o" -ot "$f" ]; then missing=$o; break; fi
done
if [ -n "$missing" ]; then
    echo "SKIP: layers: link level: $missing is missing or older than its source (build first)"
elif ! command -v nm >/dev/null; then
    echo "SKIP: layers: link level: no nm"
else
    tmp=$(mktemp -d) || exit 2
    trap 'rm -rf "$tmp"' EXIT
    # the symbols each folder defines (only the objects of its sources:
    # a stale object of a removed file is not the build's)
    for d in common rules store collector analyzer reports cli; do
        for f in $files; do
            case $f in $d/*.c) echo "$objdir/${f%.c}.o" ;; esac
        done > "$tmp/$d.objs"
        # shellcheck disable=SC2046
        nm --defined-only -g $(cat "$tmp/$d.objs") 2>/dev/null |
            awk 'NF == 3 { print $3 }' | sort -u > "$tmp/$d.def"
    done
    n=0
    for d in common rules store collector analyzer reports cli; do
        r=$(rank "$d")
        # what only the folders not below d define
        : > "$tmp/up"
        for u in common rules store collector analyzer reports cli; do
            [ "$u" = "$d" ] && continue
            [ "$(rank "$u")" -ge "$r" ] && cat "$tmp/$u.def" >> "$tmp/up"
        done
        for b in common rules store collector analyzer reports cli; do
            [ "$(rank "$b")" -lt "$r" ] && cat "$tmp/$b.def"
        done | sort -u > "$tmp/below"
        sort -u "$tmp/up" | comm -23 - "$tmp/below" | comm -23 - "$tmp/$d.def" > "$tmp/only_up"
        while IFS= read -r o; do
            while IFS= read -r sym; do
                src=${o#"$objdir"/}; src=${src%.o}.c
                listed "$src:$sym" "${link_allowed[@]}" && continue
                bad "$src (object) refers to $sym, defined only above $d/"
                n=$((n + 1))
            done < <(nm -u "$o" | awk '{ print $2 }' | sort -u | comm -12 - "$tmp/only_up")
        done < "$tmp/$d.objs"
    done
    [ $n -eq 0 ] && echo "PASS: layers: no object refers to a symbol of a folder above it ($objdir)"
fi

# the lists only shrink: an entry whose file is gone or clean is stale
n=0
for e in "${include_allowed[@]}"; do
    f=${e%%:*} inc=${e#*:}
    if [ -f "$f" ] && grep -q "^#include \"$inc\"" "$f"; then continue; fi
    bad "$e is listed as an include across the layers, but $f no longer has it: remove it from include_allowed"
    n=$((n + 1))
done
for e in "${link_allowed[@]}"; do
    f=${e%%:*} sym=${e#*:}
    o=$objdir/${f%.c}.o
    if [ ! -f "$o" ] || nm -u "$o" 2>/dev/null | awk '{ print $2 }' | grep -qx "$sym"; then continue; fi
    bad "$e is listed as a reference across the layers, but $o no longer has it: remove it from link_allowed"
    n=$((n + 1))
done
for f in "${sql_allowed[@]}"; do
    if [ -f "$f" ] && grep -q 'sqlite3' "$f"; then continue; fi
    bad "$f is listed as still speaking SQL, but does not: remove it from sql_allowed"
    n=$((n + 1))
done
for f in "${conn_allowed[@]}"; do
    if [ -f "$f" ] && grep -q 'store_db(' "$f"; then continue; fi
    bad "$f is listed as taking store_db(), but does not: remove it from conn_allowed"
    n=$((n + 1))
done
[ $n -eq 0 ] && echo "PASS: layers: every allow-list entry is still needed"
exit $fail
