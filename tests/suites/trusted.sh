#!/bin/bash
# trusted.sh - "trusted verdict" has one definition ([global]
# trusted_verdicts, rules/policy.c): the spam `stats` shows (stored by
# collect) and the spam the analyzer counts (`identities`) follow it alike.
# samples/relay.log has one spam verdict, a header alice's client wrote
# (source client-header): untrusted by default, trusted when listed.
set -u
RG=${RELAYGUARD:-$TOP/build/relayguard}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# run CONFIG-LINE: collect the sample; alice's spam in stats and identities
run() {
    rm -f "$tmp"/rg.db*
    mkdir -p "$tmp/maps" && touch "$tmp/main.cf"
    printf '[global]\ndatabase = %s/rg.db\nmap_directory = %s/maps\npostfix_config_directory = %s\nadmin_contact = abuse@example.org\n%s\n[parse]\nyear = 2026\ntimezone = UTC\n[source postfix]\npath = %s/samples/relay.log\n[user "alice@example.com"]\n[user "bob@example.com"]\n' \
        "$tmp" "$tmp" "$tmp" "$1" "$TOP" > "$tmp/rg.ini"
    "$RG" -c "$tmp/rg.ini" collect --once --quiet || return 1
    stats=$("$RG" -c "$tmp/rg.ini" stats --json | grep '"user":"alice@example.com"' \
        | sed -n 's/.*"spam":\([0-9]*\).*/\1/p')
    ids=$("$RG" -c "$tmp/rg.ini" identities --since 2026-01-01 --json \
        | grep '"user":"alice@example.com"' | sed -n 's/.*"spam":\([0-9]*\).*/\1/p')
}

run "" || { echo "FAIL: trusted: collect failed"; exit 1; }
if [ "$stats" = 0 ] && [ "$ids" = 0 ]; then
    echo "PASS: trusted: by default a client-written spam header counts nowhere"
else
    echo "FAIL: trusted: default: stats spam=$stats identities spam=$ids (want 0 and 0)"
fi
run "trusted_verdicts = rspamd, header, client-header" \
    || { echo "FAIL: trusted: collect failed"; exit 1; }
if [ "$stats" = 1 ] && [ "$ids" = 1 ]; then
    echo "PASS: trusted: client-header listed: stats and the analyzer both count it"
else
    echo "FAIL: trusted: client-header trusted: stats spam=$stats identities spam=$ids (want 1 and 1)"
fi
run "trusted_verdicts = rspamd" || { echo "FAIL: trusted: collect failed"; exit 1; }
if [ "$stats" = 0 ] && [ "$ids" = 0 ]; then
    echo "PASS: trusted: rspamd only: the header counts nowhere"
else
    echo "FAIL: trusted: rspamd only: stats spam=$stats identities spam=$ids (want 0 and 0)"
fi
