#!/bin/bash
# tests/suites/demo.sh - `make demo` shows an automatic spam lock from the
# bundled samples (samples/spam.log and spam.rspamd.log, a real Postfix +
# rspamd run made by samples/make-spam-sample.sh), besides the manual one.
set -u
top=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
RG=${RELAYGUARD:-$top/build/relayguard}
out=$(mktemp); trap 'rm -f "$out"' EXIT
# the build directory of the binary under test, if it is ours
B=build
case $(realpath "$RG") in "$top"/*) B=$(realpath --relative-to="$top" "$(dirname "$(realpath "$RG")")") ;; esac
make -C "$top" --no-print-directory B="$B" demo > "$out" 2>&1; rc=$?
check() { if eval "$2"; then echo "PASS: demo: $1"; else echo "FAIL: demo: $1${3:+: $3}"; fi; }
check "make demo exits 0" "[ $rc = 0 ]" "$(tail -5 "$out")"
check "make demo locks alice automatically for spam (rule=spam, count 5 in 10m)" \
    "grep -q '^action=lock kind=user user=\"alice@example.com\" rule=spam .*count=5 window=10m' '$out'" "$(grep action=lock "$out")"
check "... and Postfix's map refuses her" "grep -q '^alice@example.com	450 4.7.1 sending locked: spam' '$out'"
check "... and the manual lock of bob is there too" "grep -q '^bob@example.com	450 4.7.1 sending locked: by the administrator' '$out'"
exit 0
