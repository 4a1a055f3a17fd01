#!/usr/bin/python3
"""deferred.py - a Postfix log of a relay whose next hop is down: every
message has one recipient delivered at once and two deferred, retried by
qmgr every 5 minutes of log time (ROUNDS times), then delivered and
removed. Each retry touches every message waiting, so `collect` saves
each of them again at the next commit, with recipients unchanged until
the last round (bench/README.md, issue 9: saving an open message again).

  bench/deferred.py MESSAGES ROUNDS OUT.log
"""
import sys

n, rounds, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ev = []          # (seconds, order, line)


def at(t, text):
    ev.append((t, len(ev), text))


def stamp(t):
    d, t = divmod(int(t), 86400)
    return "Nov %2d %02d:%02d:%02d" % (20 + d, t // 3600, t // 60 % 60, t % 60)


arrive = 1800.0 / n          # all of them in the first half hour
for i in range(n):
    q = "%011X" % (0x1000000 + i * 7919)
    t = 3600 + i * arrive
    pid = 20000 + i % 50
    at(t, "relay postfix/smtpd[%d]: %s: client=unknown[10.1.%d.%d], "
       "sasl_method=PLAIN, sasl_username=user%d@example.com"
       % (pid, q, i // 250 % 250, i % 250, i % 400))
    at(t, "relay postfix/cleanup[26809]: %s: message-id=<m%d.bench@client."
       "example.test>" % (q, i))
    at(t, "relay postfix/qmgr[26678]: %s: from=<user%d@example.com>, "
       "size=%d, nrcpt=3 (queue active)" % (q, i % 400, 900 + i % 5000))
    at(t + 0.2, "relay postfix/smtp[26810]: %s: to=<friend%d@example.org>, "
       "relay=mx.example.org[192.0.2.10]:25, delay=0.2, delays=0/0/0.1/0.1, "
       "dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as %X)" % (q, i, i))
    for k in range(rounds + 1):
        r = t + 0.3 + k * 300
        if k > 0:
            at(r, "relay postfix/qmgr[26678]: %s: from=<user%d@example.com>, "
               "size=%d, nrcpt=3 (queue active)" % (q, i % 400, 900 + i % 5000))
        for j in (1, 2):
            if k < rounds:
                at(r, "relay postfix/smtp[%d]: %s: to=<rcpt%d@down.example.net>, "
                   "relay=none, delay=%d, delays=%d/0/0.1/0, dsn=4.4.1, "
                   "status=deferred (connect to mx.down.example.net[198.51.100.7]:25: "
                   "Connection refused)" % (26900 + j, q, 2 * i + j, k * 300, k * 300))
            else:
                at(r, "relay postfix/smtp[%d]: %s: to=<rcpt%d@down.example.net>, "
                   "relay=mx.down.example.net[198.51.100.7]:25, delay=%d, "
                   "delays=%d/0/0.1/0.1, dsn=2.0.0, status=sent (250 2.0.0 Ok)"
                   % (26900 + j, q, 2 * i + j, k * 300, k * 300))
        if k == rounds:
            at(r + 0.1, "relay postfix/qmgr[26678]: %s: removed" % q)
ev.sort()
with open(out, "w") as f:
    for t, _, text in ev:
        f.write("%s %s\n" % (stamp(t), text))
print("%d lines" % len(ev))
