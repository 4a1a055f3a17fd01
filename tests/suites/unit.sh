#!/bin/bash
# unit.sh - run the C unit tests (built by make into build/tests/).
dir=${UNIT_DIR:-$TOP/build/tests}
rc=0
shopt -s nullglob
tests=(); for t in "$dir"/test_*; do case $t in *.d) ;; *) tests+=("$t") ;; esac; done
if [ ${#tests[@]} -eq 0 ]; then
    echo "FAIL: unit: no unit test binaries in $dir (run make)"
    exit 1
fi
for t in "${tests[@]}"; do
    case $t in *.d) continue ;; esac
    ( cd "$TOP/tests/unit" && "$t" ) || rc=1
done
exit $rc
