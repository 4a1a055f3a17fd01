#!/bin/bash
# bench/report.sh - `relayguard report quarantine` into one XLSX workbook:
# N quarantined messages (default 1,000,000) of 1,000 users in one month,
# and, for the memory, the same at N/10: constant-memory mode must keep the
# peak RSS flat. The floor is `sqlite3 -csv` of the same rows (the store's
# read alone, no workbook).
#
# Usage: bench/report.sh [--rows N] [--keep]
# Environment: RELAYGUARD (the binary, default build/relayguard).
#
# The databases are generated with SQL into bench/out/report-N/ (gitignored)
# and reused. Prints wall and CPU seconds and peak RSS (GNU time) per run:
# on a shared machine the wall time waits for the CPU, the CPU time does not.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
RG=${RELAYGUARD:-$top/build/relayguard}
rows=1000000
keep=0
while [ $# -gt 0 ]; do
    case $1 in
    --rows) rows=$(python3 -c "print(int(float('$2')))"); shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "usage: $0 [--rows N] [--keep]" >&2; exit 64 ;;
    esac
done
[ -x /usr/bin/time ] || { echo "bench/report.sh: /usr/bin/time missing (scripts/install-deps bench)" >&2; exit 69; }

# make_db N: a store with N held spam messages spread over November 2026
make_db() {
    local n=$1 dir=$top/bench/out/report-$1
    if [ -f "$dir/done" ]; then echo "$dir"; return; fi
    rm -rf "$dir"; mkdir -p "$dir"
    : > "$dir/empty.log"; : > "$dir/main.cf"
    {
        printf '[global]\ndatabase = %s/rg.db\nmap_directory = %s/maps\n' "$dir" "$dir"
        printf 'postfix_config_directory = %s\n[report]\ntimezone = UTC\n' "$dir"
        printf '[source empty]\npath = %s/empty.log\n' "$dir"
        for i in $(seq 0 999); do printf '[user "u%d@example.com"]\n' "$i"; done
    } > "$dir/rg.ini"
    "$RG" -c "$dir/rg.ini" collect --once --quiet
    sqlite3 "$dir/rg.db" <<SQL >&2
PRAGMA journal_mode = WAL;
BEGIN;
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $n)
INSERT INTO messages(id, kind, host, queue_id, complete, open, first_seen,
  last_seen, client_ip, sasl_method, sasl_username, sender, size, nrcpt,
  message_id, held, spam, json)
SELECT i, 'message', 'relay', printf('%010X', i), 0, 1,
  1793491200000000 + i * (2592000000000 / $n), 1793491200000000 + i * (2592000000000 / $n),
  '192.0.2.1', 'PLAIN', printf('u%d@example.com', i % 1000),
  printf('sender%d@example.com', i % 5000), 1000 + i % 50000, 1,
  printf('<m%d@example.com>', i), 1, 1, '{"held":true}' FROM s;
INSERT INTO recipients(message, idx, address, status)
  SELECT id, 0, printf('rcpt%d@example.net', id % 77777), NULL FROM messages;
INSERT INTO verdicts(message, source, spam, trusted, score, required, action, symbols)
  SELECT id, 'rspamd', 1, 1, printf('%.2f', 15 + (id % 1000) / 100.0), '15.00', 'reject',
  'BAYES_SPAM,R_SPF_FAIL,MID_RHS_NOT_FQDN' FROM messages;
INSERT INTO headers(message, name, value) SELECT id, 'Subject',
  printf('=cheap offer number %d', id) FROM messages;
COMMIT;
SQL
    touch "$dir/done"
    echo "$dir"
}

measure() {    # measure LABEL CMD...: wall and CPU seconds, peak RSS
    local t e u s m
    t=$( { /usr/bin/time -f '%e %U %S %M' "${@:2}" > /dev/null; } 2>&1 | tail -n 1)
    read -r e u s m <<<"$t"
    printf '%-44s %8s s wall %8.2f s CPU %6s MiB\n' "$1" "$e" \
        "$(awk -v a="$u" -v b="$s" 'BEGIN { print a + b }')" "$((m / 1024))"
}

small=$((rows / 10))
for n in "$small" "$rows"; do
    dir=$(make_db "$n")
    out=$dir/q.xlsx
    measure "relayguard report quarantine, $n rows" \
        "$RG" -c "$dir/rg.ini" report quarantine --since 2026-11-01Z --until 2026-12-01Z \
        --output "$out"
    ls -l "$out" | awk '{ printf "%-44s %8.1f MiB\n", "  workbook", $5 / 1048576 }'
    measure "sqlite3 -csv of the same rows (floor), $n" \
        sqlite3 -csv "$dir/rg.db" "SELECT m.first_seen, m.queue_id, m.sasl_username,
          m.sender, (SELECT group_concat(address, ', ') FROM recipients WHERE message = m.id),
          (SELECT value FROM headers WHERE message = m.id AND name = 'Subject'),
          m.size, v.score, v.symbols FROM messages m LEFT JOIN verdicts v ON v.message = m.id
          ORDER BY m.first_seen, m.id"
done
if [ "$keep" = 0 ]; then rm -f "$top"/bench/out/report-*/q.xlsx; fi
