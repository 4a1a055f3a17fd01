# shellcheck shell=bash
# tests/lib/traffic.sh - the fixed test traffic, shared by samples/make-samples.sh
# and tests/suites/parse_postfix.sh.  Source after tests/lib/postfix.sh and
# pf_start.
#
#   rg_traffic MANIFEST   send everything (tests/lib/traffic.py send), wait for
#                         the queue to settle, hold+release one deferred message
#                         and delete another (traffic.py queue-ops), postfix
#                         reload, wait for the log.  Writes the manifest JSON to MANIFEST.
#                         Returns non-zero when a step failed.

RG_LIB=${RG_LIB:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}

rg_traffic() {
    local manifest=${1:?usage: rg_traffic MANIFEST} rc=0
    /usr/bin/python3 "$RG_LIB/traffic.py" send "$manifest" || rc=1
    pf_wait_settled 40 || return 1
    /usr/bin/python3 "$RG_LIB/traffic.py" queue-ops "$manifest" || rc=1
    # a reload (as "postfix logrotate" does) logs master's "reload" line
    postfix -c "$PF_CONF" reload </dev/null >/dev/null 2>&1 || rc=1
    pf_flush_log 10 || rc=1
    return $rc
}
