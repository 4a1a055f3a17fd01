#!/usr/bin/python3
"""assemble.py - message and session assembly on small logs that exercise
one rule each (queue-ID reuse, NOQUEUE logins, holds, filters, verdicts,
expiry, several hosts, compressed and merged inputs, hostile text).

The lines follow the exact formats seen in the project's own Postfix runs
(samples/relay.log); the scenarios recombine them where a real run cannot
be made to produce an order on demand (a reused short queue ID, a week of
silence)."""
import atexit, gzip, json, os, shutil, subprocess, sys, tempfile

RG = os.environ.get("RELAYGUARD", "build/relayguard")
tmp = tempfile.mkdtemp(prefix="rg-asm.")
# the logs written here (one of 33 MB) go with the suite, pass or fail
atexit.register(shutil.rmtree, tmp, ignore_errors=True)
failures = 0


def parse(text, *args, files=None):
    """run relayguard parse on text (or files); return the list of objects"""
    if files is None:
        path = os.path.join(tmp, "in.log")
        with open(path, "w") as f:
            f.write(text)
        files = [path]
    p = subprocess.run([RG, "parse", "--year", "2025", "--tz", "UTC", *args, *files],
                       capture_output=True, timeout=30)
    if p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}: {p.stderr.decode()[:200]}")
    out = []
    for line in p.stdout.decode("utf-8").splitlines():
        out.append(json.loads(line))
    return out


def msgs(objs, qid=None):
    return [o for o in objs if o["type"] == "message" and (qid is None or o.get("queue_id") == qid)]


def case(name, fn):
    global failures
    try:
        fn()
        print(f"PASS: assemble: {name}")
    except Exception as e:  # an assertion or a crash: both are failures
        failures += 1
        print(f"FAIL: assemble: {name}: {type(e).__name__}: {str(e)[:300]}")


def L(t, prog, pid, msg, host="relay"):
    return f"Nov 28 {t} {host} postfix/{prog}[{pid}]: {msg}\n"


def flow(qid, t="10:00:00", client="unknown[127.0.0.2]", sasl="alice@example.com",
         rcpt="bob@example.org", pid=100, host="relay", status="sent"):
    auth = f", sasl_method=PLAIN, sasl_username={sasl}" if sasl else ""
    return (L(t, "smtpd", pid, f"{qid}: client={client}{auth}", host)
            + L(t, "cleanup", 200, f"{qid}: message-id=<{qid}@x>", host)
            + L(t, "qmgr", 300, f"{qid}: from=<alice@example.com>, size=500, nrcpt=1 (queue active)", host)
            + L(t, "smtp", 400, f"{qid}: to=<{rcpt}>, relay=127.0.0.1[127.0.0.1]:2525, delay=0.02, delays=0.01/0.01/0/0, dsn=2.0.0, status={status} (250 2.0.0 Ok)", host)
            + L(t, "qmgr", 300, f"{qid}: removed", host))


def t_reuse():
    o = parse(flow("ABC123") + flow("ABC123", t="10:05:00", sasl="bob@example.com"))
    m = msgs(o, "ABC123")
    assert len(m) == 2, m
    assert [x["sasl_username"] for x in m] == ["alice@example.com", "bob@example.com"]
    assert all(x["complete"] for x in m)


def t_reuse_without_end():
    # the first message's end is missing (log loss): the second client= starts anew
    text = flow("ABC123").replace("ABC123: removed", "ABC123: skipped, still being delivered")
    o = parse(text + flow("ABC123", t="10:05:00", sasl="bob@example.com"))
    m = msgs(o, "ABC123")
    assert len(m) == 2 and m[0]["complete"] is False and m[1]["complete"] is True, m


def t_hosts():
    o = parse(flow("ABC123", host="mx1") + flow("ABC123", host="mx2", sasl="bob@example.com"))
    m = msgs(o, "ABC123")
    assert sorted((x["host"], x["sasl_username"]) for x in m) == [("mx1", "alice@example.com"), ("mx2", "bob@example.com")]


def t_noqueue_login():
    # Postfix 3.7 logs the login on client= lines only, and here the
    # reject comes before the session's first accepted message
    text = (L("10:00:00", "submission/smtpd", 77, "connect from unknown[127.0.0.2]")
            + L("10:00:01", "submission/smtpd", 77, "NOQUEUE: reject: RCPT from unknown[127.0.0.2]: 550 5.1.1 <nobody@relay.example.test>: Recipient address rejected: User unknown in local recipient table; from=<alice@example.com> to=<nobody@relay.example.test> proto=ESMTP helo=<h>")
            + flow("DEF456", t="10:00:02", pid=77).replace("postfix/smtpd", "postfix/submission/smtpd")
            + L("10:00:03", "submission/smtpd", 77, "disconnect from unknown[127.0.0.2] ehlo=1 auth=1 mail=2 rcpt=1/2 data=1 quit=1 commands=7/8"))
    o = parse(text, "--sessions")
    nq = [x for x in msgs(o) if "queue_id" not in x]
    assert len(nq) == 1, o
    r = nq[0]
    assert r["sasl_username"] == "alice@example.com", r
    assert r["rejected"]["dsn"] == "5.1.1" and r["rejected"]["code"] == 550 and r["rejected"]["stage"] == "RCPT"
    assert r["recipients"] == [{"address": "nobody@relay.example.test", "status": "rejected", "dsn": "5.1.1",
                                "response": "<nobody@relay.example.test>: Recipient address rejected: User unknown in local recipient table"}], r
    s = [x for x in o if x["type"] == "session"]
    assert len(s) == 1 and s[0]["sasl_username"] == "alice@example.com" and s[0]["rejects"] == 1 and s[0]["messages"] == 1
    assert s[0]["counters"]["rcpt"] == 1 and s[0]["counters_failed"] == {"rcpt": 1, "commands": 1} and s[0]["counters"]["ehlo"] == 1


def t_noqueue_no_login():
    text = (L("10:00:00", "smtpd", 78, "connect from unknown[127.0.0.10]")
            + L("10:00:01", "smtpd", 78, "NOQUEUE: reject: RCPT from unknown[127.0.0.10]: 554 5.7.1 <x@y.example>: Relay access denied; from=<a@b.example> to=<x@y.example> proto=ESMTP helo=<h>")
            + L("10:00:02", "smtpd", 78, "disconnect from unknown[127.0.0.10] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4"))
    r = [x for x in msgs(parse(text)) if "queue_id" not in x]
    assert len(r) == 1 and "sasl_username" not in r[0] and r[0]["client_ip"] == "127.0.0.10", r


def t_rcpt_reject_goes_on():
    text = (L("10:00:00", "smtpd", 100, "ABC123: client=unknown[127.0.0.10]")
            + L("10:00:00", "smtpd", 100, "ABC123: reject: RCPT from unknown[127.0.0.10]: 550 5.1.1 <no@relay.example.test>: Recipient address rejected: User unknown; from=<a@b.example> to=<no@relay.example.test> proto=ESMTP helo=<h>")
            + flow("ABC123", sasl=None, client="unknown[127.0.0.10]").split("\n", 1)[1])
    m = msgs(parse(text), "ABC123")
    assert len(m) == 1 and m[0]["complete"], m
    st = {r["address"]: r["status"] for r in m[0]["recipients"]}
    assert st == {"no@relay.example.test": "rejected", "bob@example.org": "sent"}, st


def t_hold_release():
    text = flow("ABC123").replace(
        L("10:00:00", "qmgr", 300, "ABC123: from=<alice@example.com>, size=500, nrcpt=1 (queue active)"),
        L("10:00:00", "cleanup", 200, "ABC123: hold: header Subject: HOLDME from unknown[127.0.0.2]; from=<alice@example.com> to=<bob@example.org> proto=ESMTP helo=<h>: held")
        + L("10:01:00", "postsuper", 500, "ABC123: released from hold")
        + L("10:01:00", "qmgr", 300, "ABC123: from=<alice@example.com>, size=500, nrcpt=1 (queue active)"))
    m = msgs(parse(text), "ABC123")
    assert len(m) == 1 and m[0]["complete"] and m[0]["held"] is False, m
    assert m[0]["recipients"][0]["status"] == "sent"


def t_held_at_end():
    text = (L("10:00:00", "smtpd", 100, "ABC123: client=unknown[127.0.0.2], sasl_method=PLAIN, sasl_username=alice@example.com")
            + L("10:00:00", "cleanup", 200, "ABC123: message-id=<a@b>")
            + L("10:00:01", "postsuper", 500, "ABC123: placed on hold"))
    m = msgs(parse(text), "ABC123")
    assert len(m) == 1 and m[0]["complete"] is False and m[0]["held"] is True, m


def t_header_reject_ends():
    text = (L("10:00:00", "smtpd", 100, "ABC123: client=unknown[127.0.0.3], sasl_method=PLAIN, sasl_username=bob@example.com")
            + L("10:00:00", "cleanup", 200, "ABC123: reject: header Subject: REJECTME from unknown[127.0.0.3]; from=<bob@example.com> to=<judy@example.org> proto=ESMTP helo=<h>: 5.7.1 policy says no")
            + flow("ABC123", t="10:01:00"))
    m = msgs(parse(text), "ABC123")
    assert len(m) == 2, m
    assert m[0]["rejected"] == {"stage": "header", "dsn": "5.7.1", "text": "policy says no"} and m[0]["complete"], m[0]
    assert "rejected" not in m[1]


def t_deferred_retry():
    base = L("10:00:00", "smtpd", 100, "ABC123: client=unknown[127.0.0.2], sasl_method=PLAIN, sasl_username=alice@example.com")
    d = lambda t, st, dsn: L(t, "smtp", 400, f"ABC123: to=<x@defer.example.org>, relay=127.0.0.1[127.0.0.1]:2526, delay=1, delays=0/0/0/1, dsn={dsn}, status={st} (450 4.2.0 later)")
    o = parse(base + d("10:00:01", "deferred", "4.2.0") + d("10:10:01", "deferred", "4.2.0")
              + d("10:30:01", "sent", "2.0.0") + L("10:30:01", "qmgr", 300, "ABC123: removed"))
    r = msgs(o, "ABC123")[0]["recipients"]
    assert len(r) == 1 and r[0]["attempts"] == 3 and r[0]["status"] == "sent" and r[0]["dsn"] == "2.0.0", r


def t_bounce_of():
    text = (flow("ABC123", status="bounced")
            + L("10:00:01", "bounce", 600, "ABC123: sender non-delivery notification: FED987")
            + L("10:00:01", "qmgr", 300, "FED987: from=<>, size=2551, nrcpt=1 (queue active)")
            + L("10:00:02", "qmgr", 300, "FED987: removed"))
    m = msgs(parse(text), "FED987")
    assert len(m) == 1 and m[0]["bounce_of"] == "ABC123" and m[0]["sender"] == "", m


def t_amavis():
    text = (L("10:00:00", "submission/smtpd", 100, "AAA111: client=unknown[127.0.0.2], sasl_method=PLAIN, sasl_username=alice@example.com")
            + L("10:00:00", "cleanup", 200, "AAA111: info: header X-Client-ID: tenant-7 from unknown[127.0.0.2]; from=<alice@example.com> to=<bob@example.org> proto=ESMTP helo=<h>")
            + L("10:00:00", "qmgr", 300, "AAA111: from=<alice@example.com>, size=500, nrcpt=1 (queue active)")
            + L("10:00:01", "smtpd", 101, "BBB222: client=localhost[127.0.0.1]")
            + "Nov 28 10:00:01 relay amavis[4051]: (4051-09) Passed SPAM {RelayedOutbound}, ORIGINATING LOCAL [127.0.0.2]:1434 [127.0.0.2] <alice@example.com> -> <bob@example.org>, Queue-ID: AAA111, Message-ID: <m@x>, mail_id: x, Hits: 7.4, size: 500, queued_as: BBB222, 104 ms\n"
            + L("10:00:01", "smtp", 400, "AAA111: to=<bob@example.org>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as BBB222)")
            + L("10:00:01", "qmgr", 300, "AAA111: removed")
            + L("10:00:01", "qmgr", 300, "BBB222: from=<alice@example.com>, size=900, nrcpt=1 (queue active)")
            + L("10:00:02", "smtp", 400, "BBB222: to=<bob@example.org>, relay=127.0.0.1[127.0.0.1]:2525, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)")
            + L("10:00:02", "qmgr", 300, "BBB222: removed"))
    o = parse(text)
    a, b = msgs(o, "AAA111")[0], msgs(o, "BBB222")[0]
    assert a["filtered_as"] == "BBB222", a
    assert b["orig_queue_id"] == "AAA111" and b["sasl_username"] == "alice@example.com" and b["client_ip"] == "127.0.0.2", b
    assert b["verdict"]["source"] == "amavis" and b["verdict"]["spam"] is True and b["verdict"]["score"] == 7.4, b
    assert b["headers"] == {"X-Client-ID": "tenant-7"}, b


def t_rspamd_merged():
    pf = flow("ABC123")
    rs = ("2025-11-28 10:00:00 #1576(rspamd_proxy) <9a8448>; proxy; rspamd_task_write_log: id: <ABC123@x>, qid: <ABC123>, ip: 127.0.0.2, "
          "user: alice@example.com, from: <alice@example.com>, (default: T (reject): [1006.00/15.00] [GTUBE(0.00){},R_DKIM_NA(0.00){}]), len: 566, time: 8ms\n")
    p1, p2 = os.path.join(tmp, "maillog"), os.path.join(tmp, "rspamd.log")
    open(p1, "w").write(pf)
    open(p2, "w").write(rs)
    m = msgs(parse(None, files=[p1, p2]), "ABC123")
    assert len(m) == 1, m
    v = m[0]["verdict"]
    assert v == {"source": "rspamd", "spam": True, "score": 1006.0, "required": 15.0, "action": "reject", "symbols": "GTUBE,R_DKIM_NA"} or \
        v == {"source": "rspamd", "spam": True, "score": 1006.00, "required": 15.00, "action": "reject", "symbols": "GTUBE,R_DKIM_NA"}, v


def t_spamd():
    text = (flow("ABC123").replace("10:00:00 relay postfix/smtp", "10:00:03 relay postfix/smtp").replace("10:00:00 relay postfix/qmgr[300]: ABC123: removed", "10:00:03 relay postfix/qmgr[300]: ABC123: removed")
            + "")
    spamd = "Nov 28 10:00:02 relay spamd[1234]: spamd: result: Y 1000 - GTUBE,NO_RELAYS scantime=0.1,size=700,user=x,uid=1,required_score=5.0,rhost=localhost,raddr=127.0.0.1,rport=4,mid=<ABC123@x>,autolearn=no\n"
    lines = text.splitlines(True)
    lines.insert(3, spamd)
    m = msgs(parse("".join(lines)), "ABC123")
    assert m[0]["verdict"]["source"] == "spamd" and m[0]["verdict"]["spam"] is True and m[0]["verdict"]["score"] == 1000, m
    # the same message-id an hour later is not this message's result
    late = spamd.replace("10:00:02", "11:00:02")
    m = msgs(parse(text + late), "ABC123")
    assert "verdict" not in m[0], m


def t_spam_headers():
    base = L("10:00:00", "smtpd", 100, "ABC123: client=unknown[127.0.0.2], sasl_method=PLAIN, sasl_username=alice@example.com")
    client = L("10:00:00", "cleanup", 200, "ABC123: info: header X-Spam-Flag: YES from unknown[127.0.0.2]; from=<a@b> to=<c@d> proto=ESMTP helo=<h>")
    milter = L("10:00:00", "cleanup", 200, "ABC123: milter-header-info: header X-Spam: Yes from localhost[127.0.0.1]; from=<a@b> to=<c@d> proto=ESMTP helo=<h>")
    end = L("10:00:01", "qmgr", 300, "ABC123: removed")
    v = msgs(parse(base + client + end), "ABC123")[0]["verdict"]
    assert v == {"source": "header", "spam": True, "from_client": True}, v
    v = msgs(parse(base + client + milter + end), "ABC123")[0]["verdict"]
    assert v == {"source": "header", "spam": True}, v
    # a filter's own verdict outranks a header
    rej = L("10:00:00", "cleanup", 200, "ABC123: milter-reject: END-OF-MESSAGE from localhost[127.0.0.1]: 5.7.1 Gtube pattern; from=<a@b> to=<c@d> proto=ESMTP helo=<h>")
    m = msgs(parse(base + client + rej), "ABC123")[0]
    assert m["verdict"]["source"] == "milter" and m["rejected"]["stage"] == "END-OF-MESSAGE" and m["complete"], m


def t_stale():
    start = L("10:00:00", "smtpd", 100, "ABC123: client=unknown[127.0.0.2]")
    later = "".join(flow("DEF456", t="10:00:00").replace("Nov 28", "Dec  6").splitlines(True))
    o = parse(start + later)
    m = msgs(o)
    assert [x.get("queue_id") for x in m][:1] == ["ABC123"] and m[0].get("stale") is True and m[0]["complete"] is False, m
    # several open at once: each is written exactly once, none is lost
    more = (start + L("10:00:01", "smtpd", 101, "BCD234: client=unknown[127.0.0.3]")
            + "Dec  1 10:00:00 relay postfix/smtpd[102]: CDE345: client=unknown[127.0.0.4]\n" + later)
    got = sorted(x.get("queue_id") for x in msgs(parse(more)))
    assert got == ["ABC123", "BCD234", "CDE345", "DEF456"], got
    # within the age it stays open until the end
    o = parse(start + flow("DEF456", t="12:00:00"))
    assert [x["queue_id"] for x in msgs(o)] == ["DEF456", "ABC123"], msgs(o)


def t_aborted():
    # the client went away after RCPT: nothing but client= is ever logged
    text = (L("10:00:00", "submission/smtpd", 9, "connect from unknown[127.0.0.6]")
            + L("10:00:00", "submission/smtpd", 9, "ABC123: client=unknown[127.0.0.6], sasl_method=PLAIN, sasl_username=alice@example.com")
            + L("10:00:01", "submission/smtpd", 9, "lost connection after RCPT from unknown[127.0.0.6]")
            + L("10:00:01", "submission/smtpd", 9, "disconnect from unknown[127.0.0.6] ehlo=1 auth=1 mail=1 rcpt=1 commands=4")
            + flow("DEF456", t="10:00:30"))
    o = parse(text)
    m = msgs(o, "ABC123")
    assert len(m) == 1 and m[0]["complete"] is True and m[0].get("aborted") is True, m
    # a session cut by the end of the log is not an aborted message
    m = msgs(parse(text.split("lost connection")[0].rsplit("\n", 1)[0] + "\n"), "ABC123")
    assert m[0]["complete"] is False and "aborted" not in m[0], m


def t_session_pid_reuse():
    text = (L("10:00:00", "smtpd", 9, "connect from unknown[127.0.0.2]")
            + L("10:05:00", "smtpd", 9, "connect from unknown[127.0.0.3]")
            + L("10:05:01", "smtpd", 9, "disconnect from unknown[127.0.0.3] ehlo=1 quit=1 commands=2"))
    s = [x for x in parse(text, "--sessions") if x["type"] == "session"]
    assert [(x["client_ip"], x["complete"]) for x in s] == [("127.0.0.2", False), ("127.0.0.3", True)], s


def t_gzip_and_order():
    p1, p2 = os.path.join(tmp, "maillog.1.gz"), os.path.join(tmp, "maillog")
    with gzip.open(p1, "wt") as f:
        f.write(L("10:00:00", "smtpd", 100, "ABC123: client=unknown[127.0.0.2], sasl_method=PLAIN, sasl_username=alice@example.com"))
    open(p2, "w").write(flow("ABC123").split("\n", 1)[1].replace("10:00:00", "10:00:05"))
    for files in ([p1, p2], [p2, p1]):  # rotated files in either order
        m = msgs(parse(None, files=files), "ABC123")
        assert len(m) == 1 and m[0]["complete"] and m[0]["sasl_username"] == "alice@example.com", m


def t_hostile_text():
    evil = 'v"\\\x01\x7f\xff\xfe<script> \u2028'
    text = (L("10:00:00", "smtpd", 100, "ABC123: client=unknown[127.0.0.2]")
            + L("10:00:00", "cleanup", 200, f"ABC123: info: header X-Client-ID: {evil} from unknown[127.0.0.2]; from=<a@b> to=<c@d> proto=ESMTP helo=<h>")
            + L("10:00:01", "qmgr", 300, "ABC123: removed"))
    path = os.path.join(tmp, "evil.log")
    with open(path, "wb") as f:
        f.write(text.encode("utf-8", "surrogateescape").replace("\u00ff".encode(), b"\xff").replace("\u00fe".encode(), b"\xfe"))
    p = subprocess.run([RG, "parse", "--year", "2025", "--tz", "UTC", path], capture_output=True, timeout=30)
    lines = p.stdout.split(b"\n")
    assert p.returncode == 0 and len(lines) == 2 and lines[1] == b"", lines
    o = json.loads(lines[0].decode("utf-8"))  # strict UTF-8 and JSON
    v = o["headers"]["X-Client-ID"]
    assert v.startswith('v"\\\x01\x7f') and "\ufffd" in v and "<script>" in v and "\u2028" in v, v


def t_hostile_header_name():
    # the header name is log text too: it must come out as an escaped key
    text = (L("10:00:00", "smtpd", 100, "ABC123: client=unknown[127.0.0.2]")
            + L("10:00:00", "cleanup", 200, 'ABC123: info: header X-A"b\\\x02c: 1 from unknown[127.0.0.2]; from=<a@b> to=<c@d> proto=ESMTP helo=<h>')
            + L("10:00:01", "qmgr", 300, "ABC123: removed"))
    m = msgs(parse(text), "ABC123")[0]
    assert m["headers"] == {'X-A"b\\\x02c': "1"}, m


def t_cut_header():
    val = "t" * 190
    text = (L("10:00:00", "smtpd", 100, "ABC123: client=unknown[127.0.0.2]")
            + L("10:00:00", "cleanup", 200, f"ABC123: info: header X-Client-ID: {val[:200-13]} from unknown[127.0.0.2]; from=<a@b> to=<c@d> proto=ESMTP helo=<h>")
            + L("10:00:01", "qmgr", 300, "ABC123: removed"))
    m = msgs(parse(text), "ABC123")[0]
    assert m["headers_cut"] == ["X-Client-ID"], m
    m = msgs(parse(text.replace(val[:200-13], "short")), "ABC123")[0]
    assert "headers_cut" not in m, m


def t_malformed_counted():
    text = "garbage\n" + flow("ABC123")[:-40] + "\n" + "\x00\x01\x02\n" + L("10:00:09", "smtpd", 1, "something Postfix never said")
    p = subprocess.run([RG, "parse", "--year", "2025", "--stats", "-"], input=text.encode(), capture_output=True, timeout=30)
    err = p.stderr.decode()
    assert p.returncode == 0, err
    assert "not a log line (skipped) 3" in err and "not recognised 1" in err, err



def t_stats_no_json():
    text = flow("ABC123") + flow("ABC124", pid=101)
    p = subprocess.run([RG, "parse", "--year", "2025", "--stats", "--sessions", "-"],
                       input=text.encode(), capture_output=True, timeout=30)
    err = p.stderr.decode()
    assert p.returncode == 0, err
    assert p.stdout == b"", p.stdout[:200]
    assert "records: messages 2, sessions 0 (not written)" in err, err
    # --json asks for the records as well
    p = subprocess.run([RG, "parse", "--year", "2025", "--stats", "--json", "-"],
                       input=text.encode(), capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode()
    assert len(p.stdout.decode().splitlines()) == 2, p.stdout[:300]
    assert "records: messages 2" in p.stderr.decode()


def t_stats_count_open():
    # --stats counts the messages still open at the end without handing
    # them out: its count must be what parse writes, whether every open
    # one is only open (counted) or one ended in the last seconds and
    # lingers (handed out one by one), from a file and on standard input,
    # in one thread and in two
    def opened(qid, t, pid):  # held: never ends in the log
        return (L(t, "smtpd", pid, f"{qid}: client=unknown[127.0.0.2]")
                + L(t, "cleanup", 200, f"{qid}: message-id=<{qid}@x>")
                + L(t, "qmgr", 300, f"{qid}: from=<a@b>, size=5, nrcpt=1 (queue active)"))
    open_only = flow("ABC100") + "".join(opened("ABC%d" % (200 + i), "10:00:%02d" % i, 500 + i)
                                         for i in range(40))
    lingering = open_only + flow("ABC300", t="10:00:59", pid=900)
    for name, text in (("open only", open_only), ("one lingering", lingering)):
        path = os.path.join(tmp, "count.log")
        with open(path, "w") as f:
            f.write(text)
        want = len(msgs(parse(text)))
        assert want == (41 if name == "open only" else 42), (name, want)
        for args, inp in (([path], None), (["-"], text.encode()),
                          (["--threads", "2", path], None)):
            p = subprocess.run([RG, "parse", "--year", "2025", "--stats", *args],
                               input=inp, capture_output=True, timeout=30)
            err = p.stderr.decode()
            assert p.returncode == 0, err
            assert f"records: messages {want}, sessions 0 (not written)" in err, (name, args, err[-300:])


def defer_line(qid, i, resp):
    return L("10:00:%02d" % (i % 60), "smtp", 400 + i % 7,
             f"{qid}: to=<bob@example.org>, relay=127.0.0.1[127.0.0.1]:2525, delay={i}, "
             f"delays=0.01/0.01/0/0, dsn=4.4.1, status=deferred ({resp})")


def t_values_replaced():
    # a value replaced by a shorter one (in place) and then a longer one
    resps = ["connect to 127.0.0.1[127.0.0.1]:2525: Connection refused, a long one",
             "short", "x" * 300, "s2", "the last one, longer than s2"]
    text = "".join(L("10:00:00", *x.split("|")) for x in [
        "smtpd|100|ABC123: client=unknown[127.0.0.2]",
        "cleanup|200|ABC123: message-id=<ABC123@x>",
        "qmgr|300|ABC123: from=<alice@example.com>, size=500, nrcpt=1 (queue active)"])
    text += "".join(defer_line("ABC123", i, r) for i, r in enumerate(resps))
    text += L("10:00:59", "qmgr", 300, "ABC123: removed")
    m = msgs(parse(text), "ABC123")[0]
    rc = m["recipients"][0]
    assert rc["response"] == resps[-1], rc
    assert rc["attempts"] == len(resps) and rc["delay"] == len(resps) - 1, rc
    assert m["message_id"] == "<ABC123@x>" and m["sender"] == "alice@example.com", m


def t_long_deferral_bounded():
    # 20,000 attempts with 1-2 KB responses that change every time: the
    # replaced values must not pile up in the record (it is compacted)
    n = 20000
    path = os.path.join(tmp, "defer.log")
    with open(path, "w") as f:
        f.write(L("10:00:00", "smtpd", 100, "ABC123: client=unknown[127.0.0.2]"))
        for i in range(n):
            # short and long in turn: a long one never fits where a
            # short one was written
            f.write(defer_line("ABC123", i, "%05d " % i + "y" * (1000 + i % 2 * 1000)))
        f.write(L("10:00:59", "qmgr", 300, "ABC123: removed"))
    p = subprocess.run(["/usr/bin/time", "-f", "%M", RG, "parse", "--year", "2025", path],
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode()[-300:]
    rss_kib = int(p.stderr.decode().split()[-1])
    m = json.loads(p.stdout.decode().splitlines()[0])
    rc = m["recipients"][0]
    assert rc["attempts"] == n and rc["response"].startswith("%05d " % (n - 1)), rc["attempts"]
    # 20 MB of replaced responses; the live record is a few KB (under
    # ASan freed memory is quarantined, and TSan keeps shadow memory: the
    # bound means nothing there)
    if "ASAN_OPTIONS" not in os.environ and "TSAN_OPTIONS" not in os.environ:
        assert rss_kib < 16 * 1024, f"peak RSS {rss_kib} KiB"



def t_nul_ends_value():
    # a NUL in a value ends it, as it always has: a number stays a number
    # and no raw NUL reaches the JSON (found by the line fuzzer)
    text = (L("10:00:00", "smtpd", 100, "ABC123: client=unknown[127.0.0.2]")
            + L("10:00:00", "smtp", 400, "ABC123: to=<bob@example.org>, relay=127.0.0.1[127.0.0.1]:2525, "
                "delay=2.0\0\0\0abc, delays=0.01/0.01/0/0, dsn=2.0.0, status=sent (250 2.0.0 O\0k)")
            + L("10:00:01", "qmgr", 300, "ABC123: removed"))
    path = os.path.join(tmp, "nul.log")
    with open(path, "w") as f:
        f.write(text)
    p = subprocess.run([RG, "parse", "--year", "2025", "--tz", "UTC", path], capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode()
    assert b"\0" not in p.stdout, p.stdout[:300]
    rc = msgs([json.loads(x) for x in p.stdout.decode().splitlines()], "ABC123")[0]["recipients"][0]
    assert rc["delay"] == 2.0 and rc["response"] == "250 2.0.0 O", rc



def t_waiting_message_goes_on():
    # a deferred message silent for an hour is compacted into one chunk
    # (tighten); later lines must still find and change all of it
    text = (L("10:00:00", "smtpd", 100, "ABC123: client=unknown[127.0.0.2], sasl_method=PLAIN, sasl_username=alice@example.com")
            + L("10:00:00", "cleanup", 200, "ABC123: info: header X-Client-ID: tenant-7 from unknown[127.0.0.2]; from=<a@b> to=<c@d> proto=ESMTP helo=<h>")
            + L("10:00:00", "cleanup", 200, "ABC123: message-id=<ABC123@x>")
            + L("10:00:00", "qmgr", 300, "ABC123: from=<alice@example.com>, size=500, nrcpt=2 (queue active)")
            + defer_line("ABC123", 1, "connect to 127.0.0.1[127.0.0.1]:2525: Connection refused")
            + L("10:00:01", "smtp", 400, "ABC123: to=<carol@example.org>, relay=127.0.0.1[127.0.0.1]:2525, delay=1, delays=0.01/0.01/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok)"))
    # an hour of other traffic moves log time on (sweeps run every minute)
    for i in range(60):
        q = "B%05X" % i
        text += flow(q, t="%02d:%02d:00" % (10 + (i + 1) // 60, (i + 1) % 60), pid=1000 + i)
    text += (L("11:01:00", "smtp", 400, "ABC123: to=<bob@example.org>, relay=127.0.0.1[127.0.0.1]:2525, delay=3600, delays=0.01/0.01/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as XYZ)")
             + L("11:01:00", "qmgr", 300, "ABC123: removed"))
    m = msgs(parse(text), "ABC123")[0]
    assert m["complete"] and m["sasl_username"] == "alice@example.com", m
    assert m["headers"] == {"X-Client-ID": "tenant-7"} and m["message_id"] == "<ABC123@x>", m
    rcpts = {r["address"]: r for r in m["recipients"]}
    assert rcpts["bob@example.org"]["attempts"] == 2 and rcpts["bob@example.org"]["status"] == "sent", rcpts
    assert rcpts["bob@example.org"]["response"] == "250 2.0.0 Ok: queued as XYZ", rcpts
    assert rcpts["carol@example.org"]["attempts"] == 1, rcpts


def t_many_waiting_found_again():
    """6,000 deferred messages silent for an hour (the assembler keeps the
    waiting ones in a table of their own, behind a Bloom filter rebuilt as
    they leave it): spamd's result by Message-ID reaches one of them, and
    each one's delivery an hour later finds it and completes it"""
    n = 6000
    text = ""
    for i in range(n):
        q = "W%05X" % i
        text += (L("10:00:00", "smtpd", 100, f"{q}: client=unknown[127.0.0.2]")
                 + L("10:00:00", "cleanup", 200, f"{q}: message-id=<{q}@w>")
                 + L("10:00:00", "qmgr", 300, f"{q}: from=<alice@example.com>, size=500, nrcpt=1 (queue active)")
                 + defer_line(q, 1, "connect to 127.0.0.1[127.0.0.1]:2525: Connection refused"))
    for i in range(60):
        q = "B%05X" % i
        text += flow(q, t="%02d:%02d:00" % (10 + (i + 1) // 60, (i + 1) % 60), pid=1000 + i)
    spamd = ("Nov 28 %s relay spamd[1234]: spamd: result: Y 1000 - GTUBE scantime=0.1,size=700,user=x,uid=1,"
             "required_score=5.0,rhost=localhost,raddr=127.0.0.1,rport=4,mid=<%s>,autolearn=no\n")
    # the first spamd line indexes the Message-IDs of all held messages,
    # the waiting ones too
    text += spamd % ("11:00:30", "unknown@x")
    for i in range(n):
        q = "W%05X" % i
        text += (L("11:01:00", "smtp", 400, f"{q}: to=<bob@example.org>, relay=127.0.0.1[127.0.0.1]:2525, delay=3600, delays=0.01/0.01/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok)")
                 + L("11:01:00", "qmgr", 300, f"{q}: removed"))
    text += spamd % ("11:01:01", "W00007@w")
    objs = parse(text)
    waiting = [m for m in msgs(objs) if m["queue_id"].startswith("W")]
    assert len(waiting) == n, len(waiting)
    bad = [m for m in waiting if not m["complete"] or m["recipients"][0]["attempts"] != 2
           or m["recipients"][0]["status"] != "sent"]
    assert not bad, bad[:2]
    v = {m["queue_id"]: m.get("verdict") for m in waiting}
    assert v["W00007"] is not None and v["W00007"]["source"] == "spamd", v["W00007"]
    assert sum(1 for x in v.values() if x is not None) == 1


def t_spamd_newest_after_resize():
    """two open messages with one Message-ID, then more than the index's
    first 1,024 buckets: spamd's result goes to the newer of the two"""
    def opened(qid, mid, t):
        return (L(t, "smtpd", 100, f"{qid}: client=unknown[127.0.0.2]")
                + L(t, "cleanup", 200, f"{qid}: message-id=<{mid}>"))
    text = opened("AAA001", "dup@x", "10:00:00") + opened("BBB002", "dup@x", "10:00:01")
    text += "".join(opened("C%05X" % i, f"m{i}@x", "10:00:01") for i in range(1100))
    text += "Nov 28 10:00:02 relay spamd[1234]: spamd: result: Y 1000 - GTUBE scantime=0.1,size=700,user=x,uid=1,required_score=5.0,rhost=localhost,raddr=127.0.0.1,rport=4,mid=<dup@x>,autolearn=no\n"
    objs = parse(text)
    a, b = msgs(objs, "AAA001")[0], msgs(objs, "BBB002")[0]
    assert "verdict" not in a and b["verdict"]["source"] == "spamd", (a, b)


for name, fn in [("queue-ID reuse after removed", t_reuse),
                 ("queue-ID reuse without an end", t_reuse_without_end),
                 ("several hosts, one queue ID", t_hosts),
                 ("NOQUEUE reject takes the session's login (3.7)", t_noqueue_login),
                 ("NOQUEUE reject without login", t_noqueue_no_login),
                 ("RCPT reject with a queue ID does not end the message", t_rcpt_reject_goes_on),
                 ("hold, release, delivery", t_hold_release),
                 ("held at end of input", t_held_at_end),
                 ("header_checks REJECT ends the message", t_header_reject_ends),
                 ("deferred recipient retried", t_deferred_retry),
                 ("bounce_of", t_bounce_of),
                 ("amavis re-injection links both queue IDs", t_amavis),
                 ("rspamd's own log merged by time", t_rspamd_merged),
                 ("spamd result by message-id within the window", t_spamd),
                 ("spamd: the newest of one Message-ID, after the index grew", t_spamd_newest_after_resize),
                 ("client-written spam header is not trusted", t_spam_headers),
                 ("stale messages expire by log time", t_stale),
                 ("smtpd pid reuse", t_session_pid_reuse),
                 ("a client gone after RCPT: the queue ID is closed as aborted", t_aborted),
                 ("gzip input, rotated files in either order", t_gzip_and_order),
                 ("hostile bytes stay valid JSON", t_hostile_text),
                 ("a cut header value is marked", t_cut_header),
                 ("a hostile header name stays valid JSON", t_hostile_header_name),
                 ("malformed lines are counted", t_malformed_counted),
                 ("--stats writes no JSON (--json: both)", t_stats_no_json),
                 ("--stats counts the open ones as parse writes them", t_stats_count_open),
                 ("a value replaced by a shorter and a longer one", t_values_replaced),
                 ("a record deferred 20,000 times stays small", t_long_deferral_bounded),
                 ("a NUL in log text ends the value", t_nul_ends_value),
                 ("a waiting message compacted while silent goes on", t_waiting_message_goes_on),
                 ("6,000 waiting messages, each found again an hour later", t_many_waiting_found_again)]:
    case(name, fn)
sys.exit(1 if failures else 0)
