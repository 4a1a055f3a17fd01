#!/bin/bash
# bench/mail.sh - how fast `relayguard mail send` empties the outbox into a
# real Postfix, next to Postfix's own smtp-source against the same server in
# the same run, with the same settings: one connection at a time, no TLS,
# no AUTH (smtp-source has neither), the same sender, recipient and message
# size. The server is postfix-config's loopback service for relayguard's own
# mail on a private Postfix (tests/lib/postfix.sh); the admin's domain is
# delivered by discard(8), so what is measured is the SMTP side.
#
#   bench/mail.sh [--mails N]      (default 10000; needs root)
#
# The N alerts are one alert mail composed by relayguard (a manual lock's),
# copied N times in the outbox with a new Message-ID each.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
N=10000
[ "${1:-}" = --mails ] && N=$2
RG0=${RELAYGUARD:-$top/build/relayguard}
[ "$(id -u)" = 0 ] || { echo "bench/mail.sh: needs root (a private Postfix)" >&2; exit 77; }
. "$top/tests/lib/postfix.sh"
work=$(mktemp -d /tmp/rg-bench-mail.XXXXXX); chmod 755 "$work"
cp "$RG0" "$work/relayguard"; RG=$work/relayguard
trap 'pf_stop; rm -rf "$work"' EXIT
pf_start "$work/pf" 2> "$work/pf.err" || { cat "$work/pf.err"; exit 1; }
echo "admin.example.test discard:" >> "$PF_CONF/transport"
PORT=$(net_free_ports 1)
cat > "$work/rg.ini" <<INI
[global]
database = $work/rg.db
map_directory = $work/maps
postfix_config_directory = $PF_CONF
admin_contact = admin@admin.example.test
[user "alice@example.com"]
[mail]
smtp_server = 127.0.0.1:$PORT
starttls = no
from = relayguard@admin.example.test
send_after_analyze = no
INI
"$RG" -c "$work/rg.ini" postfix-config | sed -n '/^# master.cf: relayguard/,$p' | grep -v '^#' >> "$PF_CONF/master.cf"
postfix -c "$PF_CONF" reload > /dev/null 2>&1
for i in $(seq 1 100); do net_listening "$PORT" && break; sleep 0.1; done
"$RG" -c "$work/rg.ini" lock user alice@example.com --reason "bench" > /dev/null
python3 - "$work/rg.db" "$N" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1]); n = int(sys.argv[2])
row = db.execute("SELECT kind, mail_from, rcpt, subject, message_id, body, created FROM outbox").fetchone()
db.execute("DELETE FROM outbox")
k, f, r, s, mid, body, c = row
for i in range(n):
    new = mid.replace("<rg.", "<rg.b%d." % i)
    db.execute("INSERT INTO outbox(kind, mail_from, rcpt, subject, message_id, body, created, next_try) "
               "VALUES (?,?,?,?,?,?,?,?)", (k, f, r, s, new, body.replace(mid.encode(), new.encode()), c, c))
db.commit()
PY
size=$(sqlite3 "$work/rg.db" "SELECT length(body) FROM outbox LIMIT 1")
settle() { postqueue -c "$PF_CONF" -f >/dev/null 2>&1; pf_wait_settled 600 >/dev/null 2>&1 || true; }
ms() { date +%s%N; }
t0=$(ms); "$RG" -c "$work/rg.ini" mail send > "$work/send.out"; t1=$(ms)
sent=$(sqlite3 "$work/rg.db" "SELECT count(*) FROM outbox WHERE status = 'sent'")
settle
t2=$(ms); smtp-source -d -s 1 -m "$N" -l "$size" -f relayguard@admin.example.test \
    -t admin@admin.example.test -M bench.example.test "127.0.0.1:$PORT"; t3=$(ms)
settle
rg_ms=$(( (t1 - t0) / 1000000 )); ss_ms=$(( (t3 - t2) / 1000000 ))
printf '%-28s %8s %10s %12s\n' "sender" "mails" "seconds" "mails/s"
printf '%-28s %8d %10.2f %12.0f\n' "relayguard mail send" "$sent" "$(echo "$rg_ms/1000" | bc -l)" "$(echo "$sent*1000/$rg_ms" | bc -l)"
printf '%-28s %8d %10.2f %12.0f\n' "smtp-source -d -s 1" "$N" "$(echo "$ss_ms/1000" | bc -l)" "$(echo "$N*1000/$ss_ms" | bc -l)"
printf 'message size %d bytes; relayguard/smtp-source = %.2f\n' "$size" "$(echo "($sent*1000/$rg_ms)/($N*1000/$ss_ms)" | bc -l)"
