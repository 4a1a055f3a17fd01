#!/bin/bash
# tests/suites/query.sh - `messages`, `stats`, `users` and parse --summary
# over the bundled sample (samples/relay.log, from the project's own Postfix
# run): the user is the configured [user NAME] (as analyze counts it), the
# raw login or IP a column; the column orders agree; windows and limits are
# printed as the configuration writes them; relative times are accepted;
# messages carry Postfix's severity words.
set -u
top=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
RG=${RELAYGUARD:-$top/build/relayguard}
suite=query
work=$(mktemp -d /tmp/rg-query.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT

ok() { echo "PASS: $suite: $1"; }
ko() { echo "FAIL: $suite: $1${2:+: $2}"; }
check() { if eval "$2"; then ok "$1"; else ko "$1" "${3:-}"; fi; }

ini() {    # ini FILE USERS...: a configuration over the sample log
    local f=$1; shift
    {
        printf '[global]\ndatabase = %s/rg.db\nmap_directory = %s/maps\n' "$work" "$work"
        printf 'postfix_config_directory = %s\n[parse]\nyear = 2026\ntimezone = UTC\n' "$work"
        printf '[source postfix]\npath = %s/samples/relay.log\n' "$top"
        printf '%s\n' "$@"
    } > "$f"
}
: > "$work/main.cf"
ini "$work/a.ini" '[user "alice@example.com"]' '[user "bob@example.com"]' \
    '[user "127.0.0.10/31"]' 'type = ip' 'spam_lock_window = 10m' \
    'connection_limits = yes' 'limit_per_hour = 20'
ini "$work/b.ini" '[user "tenant7.example"]' 'type = domain' 'match_sender_domain = yes'
"$RG" -c "$work/a.ini" collect --once --quiet 2> "$work/collect.err" \
    || { ko "collect the sample" "$(cat "$work/collect.err")"; exit 1; }

# ---- stats: one row per configured user; a /31 is not split in two
"$RG" -c "$work/a.ini" stats > "$work/stats.txt" 2>&1
"$RG" -c "$work/a.ini" stats --json > "$work/stats.json" 2>&1
check "stats: the configured 127.0.0.10/31 is one row (not one per IP)" \
    "grep -q '^127.0.0.10/31 ' '$work/stats.txt' && ! grep -q '^127.0.0.1[01] ' '$work/stats.txt'" \
    "$(cat "$work/stats.txt")"
python3 - "$work/stats.json" > "$work/stats.chk" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {r["user"]: r for r in rows if r["user"]}
ip = by.get("127.0.0.10/31")
ok = ip is not None and ip["kind"] == "ip" and sorted(ip["logins"]) == ["127.0.0.10", "127.0.0.11"] \
    and ip["messages"] == 7 and ip["sessions"] == 2
un = [r for r in rows if r["user"] is None]
ok = ok and all(len(r["logins"]) == 1 for r in un) and "carol@example.net" in [r["logins"][0] for r in un]
print("ok" if ok else "bad %r" % rows)
PY
check "stats --json: the /31 row counts both IPs (7 messages, 2 sessions, logins listed); unassigned mail keyed by its login" \
    "[ \"\$(cat '$work/stats.chk')\" = ok ]" "$(cat "$work/stats.chk")"

# ---- messages --user: the configured user, also a domain user
"$RG" -c "$work/b.ini" messages --user tenant7.example > "$work/m.txt" 2>&1
n=$(grep -c 'app@tenant7.example' "$work/m.txt")
check "messages --user tenant7.example (a domain user, match_sender_domain) finds its messages" \
    "[ '$n' -ge 4 ] && [ \$(tail -n +2 '$work/m.txt' | grep -vc 'tenant7.example') = 0 ]" "$(cat "$work/m.txt")"
"$RG" -c "$work/a.ini" messages --user 127.0.0.10/31 --json > "$work/m31.json" 2>&1
check "messages --user 127.0.0.10/31 finds the mail of both IPs" \
    "grep -q '\"client_ip\":\"127.0.0.10\"' '$work/m31.json' && grep -q '\"client_ip\":\"127.0.0.11\"' '$work/m31.json'"
"$RG" -c "$work/a.ini" messages --user 127.0.0.20 > "$work/mraw.txt" 2>&1
check "messages --user with a raw client IP of no configured user still works" \
    "[ \$(grep -c ' 127.0.0.20 ' '$work/mraw.txt') -ge 1 ]" "$(cat "$work/mraw.txt")"
check "messages: a user and a login/ip column" \
    "head -1 '$work/m.txt' | grep -q 'user  *login/ip'"

# ---- the same column order in parse --summary and stats
h1=$("$RG" parse --year 2026 --tz UTC --summary "$top/samples/relay.log" | head -1 | awk '{print $2,$3,$4,$5,$6,$7,$8,$9,$10}')
h2=$(head -1 "$work/stats.txt" | awk '{print $2,$3,$4,$5,$6,$7,$8,$9,$10}')
check "parse --summary and stats: the same columns in the same order ($h2)" "[ '$h1' = '$h2' ]" "summary: $h1"

# ---- users: windows as in the configuration, - for no limit, week and month
"$RG" -c "$work/a.ini" users > "$work/users.txt" 2>&1
check "users: windows as the configuration writes them (10m, not 600s)" \
    "grep -q 'in 10m;' '$work/users.txt' && ! grep -q '600s' '$work/users.txt'" "$(cat "$work/users.txt")"
check "users: no limit is '-', not 0/0; the week and month counts are shown" \
    "! grep -q '/0 ' '$work/users.txt' && grep -q '/20 per hour' '$work/users.txt' && grep -q 'per week' '$work/users.txt' && grep -q 'per month' '$work/users.txt'" \
    "$(cat "$work/users.txt")"

# ---- relative times
for c in "messages --since 1h" "stats --since 2d" "messages --since 30d --until 1m" "identities --since 1h"; do
    # shellcheck disable=SC2086
    "$RG" -c "$work/a.ini" $c > /dev/null 2> "$work/rel.err"; rc=$?
    check "$c is accepted (relative time)" "[ $rc = 0 ]" "exit $rc: $(cat "$work/rel.err")"
done
"$RG" -c "$work/a.ini" messages --since 1h > "$work/rel.txt"
check "messages --since 1h: nothing from the sample (it is older)" "[ \$(wc -l < '$work/rel.txt') = 1 ]"

# ---- severity words
"$RG" -c "$work/a.ini" messages --since yesterday-ish > /dev/null 2> "$work/sev.err"
check "an error that ends the command says 'fatal:'" "grep -q '^relayguard: fatal: ' '$work/sev.err'" "$(cat "$work/sev.err")"
"$RG" nosuchcommand 2> "$work/sev2.err"
check "an unknown command is fatal: too" "grep -q '^relayguard: fatal: unknown command' '$work/sev2.err'"
# under systemd (JOURNAL_STREAM names our stderr): a syslog priority first
python3 - "$RG" "$work/a.ini" > "$work/journal.chk" <<'PY'
import os, subprocess, sys, tempfile
f = tempfile.TemporaryFile()
st = os.fstat(f.fileno())
env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
subprocess.run([sys.argv[1], "-c", sys.argv[2], "messages", "--since", "bad"], stderr=f, env=env)
f.seek(0)
a = f.read().decode()
g = tempfile.TemporaryFile()
subprocess.run([sys.argv[1], "-c", sys.argv[2], "messages", "--since", "bad"], stderr=g,
               env=dict(os.environ, JOURNAL_STREAM="1:2"))
g.seek(0)
b = g.read().decode()
print("ok" if a.startswith("<3>relayguard: fatal: ") and b.startswith("relayguard: fatal: ") else "bad %r %r" % (a, b))
PY
check "under the journal (JOURNAL_STREAM is stderr) lines start <3>; with another JOURNAL_STREAM they do not" \
    "[ \"\$(cat '$work/journal.chk')\" = ok ]" "$(cat "$work/journal.chk")"

# ---- help texts
a=$("$RG" lock --help); b=$("$RG" unlock --help); c=$("$RG" reset --help)
check "lock, unlock and reset each have their own help" "[ \"\$a\" != \"\$b\" ] && [ \"\$b\" != \"\$c\" ] && [ \"\$a\" != \"\$c\" ]"
check "relayguard --help: postfix-config does not run into its summary" \
    "\"$RG\" --help | grep -Eq '^  postfix-config  +print'"
check "relayguard --help lists the exit codes" \
    "\"$RG\" --help | grep -Eq '^  75 +a temporary failure' && \"$RG\" --help | grep -Eq '^  78 '"
exit 0
