#!/usr/bin/env python3
"""report_log.py - a Postfix + rspamd log of spam for the report tests.

Usage: report_log.py DAYS PER_DAY > log

Each day (from 2026-11-02) and each of the users alice, bob, carol (SASL) and
an unassigned login, PER_DAY messages: clean ones delivered, rspamd rejects
(milter-reject), held ones (milter-hold: still on hold, and some released or
deleted with postsuper), a header_checks HOLD with a negative score, and
hostile values: a Subject and an X-Client-ID that look like formulas, a
sender that starts with '='. Deterministic (no randomness), so the store's
counts are known to the test only through the store itself.
"""
import sys

days, per_day = int(sys.argv[1]), int(sys.argv[2])
users = ["alice@example.com", "bob@example.com", "carol@example.net", "mallory@nowhere.test"]
MON = "Nov"
n = 0
out = sys.stdout.write


def line(day, t, prog, text):
    out(f"{MON} {day:2d} {t} relay {prog}: {text}\n")


for day in range(2, 2 + days):
    for k in range(per_day):
        for ui, user in enumerate(users):
            n += 1
            q = "%010X" % (0xA00000 + n)
            sec = (k * 37 + ui * 7) % 86400
            t = "%02d:%02d:%02d" % (sec // 3600, (sec // 60) % 60, sec % 60)
            ip = "127.0.0.%d" % (2 + ui)
            kind = (k + ui) % 6
            sender = user if kind != 5 else "=1+2@evil.example"
            line(day, t, "postfix/smtpd[100]", f"{q}: client=unknown[{ip}], sasl_method=PLAIN, sasl_username={user}")
            line(day, t, "postfix/cleanup[200]", f"{q}: message-id=<m{n}@client.example>")
            subj = '=HYPERLINK("http://evil.example/","click")' if kind == 2 else f"report test {n}"
            line(day, t, "postfix/cleanup[200]", f"{q}: info: header Subject: {subj} from unknown[{ip}]; from=<{sender}> to=<dave@example.org> proto=ESMTP helo=<h>")
            line(day, t, "postfix/cleanup[200]", f"{q}: info: header X-Client-ID: @SUM(1+1) from unknown[{ip}]; from=<{sender}> to=<dave@example.org> proto=ESMTP helo=<h>")
            if kind in (1, 2):      # rspamd reject
                line(day, t, "rspamd[99]", f"<9a{n:04x}>; proxy; rspamd_task_write_log: id: <m{n}@client.example>, qid: <{q}>, ip: {ip}, user: {user}, from: <{sender}>, (default: T (reject): [1006.00/15.00] [GTUBE(0.00){{}},MID_RHS_NOT_FQDN(0.50){{}}]), len: 566, time: 8.2ms, dns req: 0, digest: <1a2b>, rcpts: <dave@example.org>, mime_rcpts: <dave@example.org>")
                line(day, t, "postfix/cleanup[200]", f"{q}: milter-reject: END-OF-MESSAGE from unknown[{ip}]: 5.7.1 Gtube pattern; from=<{sender}> to=<dave@example.org> proto=ESMTP helo=<h>")
                continue
            if kind == 3:           # rspamd spam, held by the milter
                line(day, t, "rspamd[99]", f"<9a{n:04x}>; proxy; rspamd_task_write_log: id: <m{n}@client.example>, qid: <{q}>, ip: {ip}, user: {user}, from: <{sender}>, (default: T (reject): [17.25/15.00] [BAYES_SPAM(5.10){{}},R_SPF_FAIL(1.00){{}}]), len: 700, time: 8.2ms, dns req: 0, digest: <1a2b>, rcpts: <dave@example.org>, mime_rcpts: <dave@example.org>")
                line(day, t, "postfix/cleanup[200]", f"{q}: milter-hold: END-OF-MESSAGE from unknown[{ip}]: milter triggers HOLD action; from=<{sender}> to=<dave@example.org> proto=ESMTP helo=<h>")
                line(day, t, "postfix/qmgr[300]", f"{q}: from=<{sender}>, size=700, nrcpt=1 (queue active)")
                if n % 3 == 0:
                    line(day, t, "postfix/postsuper[400]", f"{q}: removed")
                elif n % 3 == 1:
                    line(day, t, "postfix/postsuper[400]", f"{q}: released from hold")
                    line(day, t, "postfix/smtp[500]", f"{q}: to=<dave@example.org>, relay=127.0.0.1[127.0.0.1]:2525, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)")
                    line(day, t, "postfix/qmgr[300]", f"{q}: removed")
                continue
            if kind == 4:           # header_checks HOLD, a negative score
                line(day, t, "rspamd[99]", f"<9a{n:04x}>; proxy; rspamd_task_write_log: id: <m{n}@client.example>, qid: <{q}>, ip: {ip}, user: {user}, from: <{sender}>, (default: F (no action): [-2.50/15.00] [R_DKIM_ALLOW(-0.20){{}}]), len: 500, time: 8.2ms, dns req: 0, digest: <1a2b>, rcpts: <dave@example.org>, mime_rcpts: <dave@example.org>")
                line(day, t, "postfix/cleanup[200]", f"{q}: hold: header Subject: {subj} from unknown[{ip}]; from=<{sender}> to=<dave@example.org> proto=ESMTP helo=<h>")
                line(day, t, "postfix/qmgr[300]", f"{q}: from=<{sender}>, size=500, nrcpt=1 (queue active)")
                continue
            line(day, t, "postfix/qmgr[300]", f"{q}: from=<{sender}>, size=400, nrcpt=1 (queue active)")
            st = "sent (250 2.0.0 Ok)" if kind != 0 or k % 4 else "deferred (connect refused)"
            dsn = "2.0.0" if st.startswith("sent") else "4.4.1"
            line(day, t, "postfix/smtp[500]", f"{q}: to=<dave@example.org>, relay=127.0.0.1[127.0.0.1]:2525, delay=1, delays=0/0/0/1, dsn={dsn}, status={st}")
            if st.startswith("sent"):
                line(day, t, "postfix/qmgr[300]", f"{q}: removed")
