#!/bin/bash
# layers.sh - the layering of the source tree, checked (no build, no Postfix):
#
#   common <- rules <- store <- collector, analyzer, reports <- cli
#
# 1. a folder includes only from the folders below it (and itself);
# 2. only store/ speaks SQL: no other file includes <sqlite3.h> or names
#    sqlite3 (a type, a call), and none takes the raw connection (store_db);
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
    # the store persists the collector's records and restores its open
    # state: assemble.h (and source.h's positions) are the
    # model it stores, still in collector/ (to move below store/)
    'store/store.h:../collector/assemble.h'
    'store/store.h:../collector/source.h'
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
done
[ $n -eq 0 ] && echo "PASS: layers: no SQL and no raw connection outside store/ (but the listed files)"

# the lists only shrink: an entry whose file is gone or clean is stale
n=0
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
