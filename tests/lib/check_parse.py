#!/usr/bin/python3
"""check_parse.py - check `relayguard parse --sessions` output against the
manifest written by tests/lib/traffic.py.

Usage: check_parse.py MANIFEST JSONL
       (e.g. check_parse.py samples/relay.sent.json <(relayguard parse --sessions samples/relay.log))

Prints one "PASS: name" or "FAIL: name: why" line per assertion group, in the
protocol of tests/run.  Exit status 1 when anything failed.
"""
import json
import re
import sys

HOST = "relay"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
QID = re.compile(r"^[0-9A-Za-z]+$")

failed = 0


def result(name, problems):
    global failed
    name = name.replace("\n", " ")
    if problems:
        failed += 1
        print("FAIL: %s: %s" % (name, "; ".join(problems)))
    else:
        print("PASS: %s" % name)


def short(obj, n=600):
    s = json.dumps(obj, sort_keys=True)
    return s if len(s) <= n else s[:n] + "..."


def hget(headers, name):
    """header value by name, exact key first, then case-insensitive"""
    if not isinstance(headers, dict):
        return None
    if name in headers:
        return headers[name]
    for k, v in headers.items():
        if k.lower() == name.lower():
            return v
    return None


def rcpt_entries(rec, address):
    return [r for r in rec.get("recipients") or [] if isinstance(r, dict)
            and r.get("address") == address]


def rcpt_by_orig(rec, final, orig):
    return [r for r in rec.get("recipients") or [] if isinstance(r, dict)
            and r.get("address") == final and r.get("orig_to") == orig]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        man = json.load(f)
    records, bad = [], []
    with open(sys.argv[2]) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                bad.append("line %d is not JSON (%s): %s" % (n, e, line[:200].rstrip()))
                continue
            if not isinstance(obj, dict):
                bad.append("line %d is not an object" % n)
                continue
            records.append(obj)
    result("output is JSON Lines, one object per line (%d records)" % len(records), bad[:5])
    if not records:
        result("output has records", ["relayguard printed no records"])
        return 1

    msgs_rec = [r for r in records if r.get("type") == "message"]
    sess_rec = [r for r in records if r.get("type") == "session"]
    other = [r for r in records if r.get("type") not in ("message", "session")]

    # ---- general shape
    probs = []
    if other:
        probs.append("%d records of unknown type, e.g. %s" % (len(other), short(other[0], 200)))
    for r in msgs_rec:
        if r.get("host") != HOST:
            probs.append("host %r, want %r in %s" % (r.get("host"), HOST, short(r, 200)))
            break
    for r in msgs_rec:
        fs = r.get("first_seen")
        if not isinstance(fs, str) or not ISO.match(fs):
            probs.append("first_seen %r is not an ISO time in %s" % (fs, short(r, 200)))
            break
    for r in msgs_rec:
        q = r.get("queue_id")
        if q is not None and (not isinstance(q, str) or not QID.match(q)):
            probs.append("bad queue_id %r" % (q,))
            break
    result("records: type message|session, host=relay, ISO first_seen, queue_id form", probs)

    # ---- match each sent message to a record
    queued_kinds = ("queued", "held", "rejected", "discarded")
    sent = [m for m in man["messages"] if m["outcome"] in queued_kinds]
    mid_of = {m["message_id"]: m["id"] for m in sent}
    claimed = {}   # id(record) -> message id
    match = {}     # message id -> record
    for m in sent:
        hits = [r for r in msgs_rec if r.get("message_id") == m["message_id"]]
        if len(hits) == 1:
            match[m["id"]] = hits[0]
            claimed[id(hits[0])] = m["id"]
        elif len(hits) > 1:
            match[m["id"]] = hits  # reported below
    for m in sent:
        if m["id"] in match:
            continue
        # no message-id logged (REJECT / DISCARD stop cleanup before it):
        # the one unclaimed queued record from the same client with this sender
        cands = [r for r in msgs_rec if id(r) not in claimed and r.get("queue_id")
                 and r.get("client_ip") == m["client_ip"]
                 and r.get("message_id") not in mid_of]
        if len(cands) > 1:
            cands = [r for r in cands if r.get("sender") == m["sender"]] or cands
        if len(cands) > 1:
            rc = {x["address"] for x in m["recipients"]}
            cands = [r for r in cands if rc & {x.get("address") for x in r.get("recipients") or []
                                               if isinstance(x, dict)}] or cands
        if len(cands) == 1:
            match[m["id"]] = cands[0]
            claimed[id(cands[0])] = m["id"]

    for m in sent:
        name = "%s %s" % (m["id"], m.get("desc", ""))
        rec = match.get(m["id"])
        if rec is None:
            result(name, ["no message record with message_id=%s (or, failing that, one unmatched "
                          "record from client_ip %s)" % (m["message_id"], m["client_ip"])])
            continue
        if isinstance(rec, list):
            result(name, ["%d records with message_id=%s: %s" % (len(rec), m["message_id"],
                                                               short(rec, 400))])
            continue
        result(name, check_message(m, rec, man))

    # ---- refusals by Postfix's smtpd (RCPT stage)
    noq = [r for r in msgs_rec if not r.get("queue_id")]
    for m in man["messages"]:
        for rc in m["recipients"]:
            if rc["expect"] != "refused":
                continue
            name = "%s smtpd refused <%s> %s" % (m["id"], rc["address"], rc.get("code"))
            after_qid = m["outcome"] not in ("refused",) and m["recipients"][0] is not rc
            cands = [r for r in noq if rcpt_entries(r, rc["address"])]
            where = "NOQUEUE record"
            if not cands and after_qid and m["id"] in match and isinstance(match[m["id"]], dict):
                # "QID: reject: RCPT ..." may land in the message's own record
                rr = rcpt_entries(match[m["id"]], rc["address"])
                if rr:
                    cands = [match[m["id"]]]
                    where = "message record"
            if not cands:
                result(name, ["no record without queue_id (NOQUEUE) nor recipient entry for <%s>"
                              % rc["address"]])
                continue
            rec = cands[0]
            probs = []
            ent = rcpt_entries(rec, rc["address"])[0]
            if ent.get("status") != "rejected":
                probs.append("recipient status %r, want 'rejected'" % ent.get("status"))
            if where == "NOQUEUE record":
                rej = rec.get("rejected")
                if not isinstance(rej, dict):
                    probs.append("no 'rejected' object")
                else:
                    if rej.get("code") != rc.get("code"):
                        probs.append("rejected.code %r, want %r" % (rej.get("code"), rc.get("code")))
                    if rej.get("dsn") != rc.get("dsn"):
                        probs.append("rejected.dsn %r, want %r" % (rej.get("dsn"), rc.get("dsn")))
                    if rej.get("stage") not in (None, "RCPT"):
                        probs.append("rejected.stage %r, want 'RCPT'" % rej.get("stage"))
                    if not rej.get("text"):
                        probs.append("rejected.text missing")
                if rec.get("client_ip") != m["client_ip"]:
                    probs.append("client_ip %r, want %r" % (rec.get("client_ip"), m["client_ip"]))
                if rec.get("sender") != m["sender"]:
                    probs.append("sender %r, want %r" % (rec.get("sender"), m["sender"]))
                if rec.get("host") != HOST:
                    probs.append("host %r" % rec.get("host"))
                if m["sasl_username"] is None and rec.get("sasl_username"):
                    probs.append("sasl_username %r on an unauthenticated client"
                                 % rec.get("sasl_username"))
                if m["sasl_username"] and rec.get("sasl_username") != m["sasl_username"]:
                    probs.append("sasl_username %r, want %r" % (rec.get("sasl_username"),
                                                                m["sasl_username"]))
            else:
                if ent.get("dsn") not in (None, rc.get("dsn")):
                    probs.append("dsn %r, want %r" % (ent.get("dsn"), rc.get("dsn")))
            if probs:
                probs.append("record (%s): %s" % (where, short(rec)))
            result(name, probs)

    # ---- a client that dropped the connection after RCPT: its queue ID has
    # only a "client=" line; no record may call it delivered
    for m in man["messages"]:
        if m["outcome"] != "aborted":
            continue
        name = "%s %s" % (m["id"], m.get("desc", ""))
        probs = []
        for r in msgs_rec:
            if r.get("client_ip") != m["client_ip"] or not r.get("queue_id"):
                continue
            for x in r.get("recipients") or []:
                if isinstance(x, dict) and x.get("status") in ("sent", "bounced", "deferred"):
                    probs.append("record has a delivery: %s" % short(r))
        result(name, probs)

    # ---- bounce notifications (Postfix's own mail, from=<>)
    for m in sent:
        if not m.get("bounce_notification"):
            continue
        name = "%s bounce notification to <%s>" % (m["id"], m["sender"])
        hits = [r for r in msgs_rec if r.get("queue_id") and r.get("sender") == ""
                and rcpt_entries(r, m["sender"])]
        probs = []
        if not hits:
            probs.append("no record with sender \"\" and recipient <%s>" % m["sender"])
        else:
            r = hits[0]
            if rcpt_entries(r, m["sender"])[0].get("status") != "sent":
                probs.append("status %r" % rcpt_entries(r, m["sender"])[0].get("status"))
            if r.get("sasl_username") or r.get("client_ip"):
                probs.append("locally made bounce carries client_ip/sasl_username: %s" % short(r))
        result(name, probs)

    # ---- sessions
    for s in man["sessions"]:
        nmail = len(s["messages"])
        auth = s.get("auth")
        who = auth["user"] if auth else "no login"
        if auth and not auth["ok"]:
            who = "failed login as %s" % auth["user"]
        name = "%s session %s %s from %s (%s)" % (s["id"], s["port_name"], who, s["client_ip"],
                                                  "mail=%d" % nmail)
        cands = [r for r in sess_rec if r.get("client_ip") == s["client_ip"]]
        if not cands:
            result(name, ["no session record with client_ip %s" % s["client_ip"]])
            continue
        exact = [r for r in cands if isinstance(r.get("counters"), dict)
                 and r["counters"].get("mail") == nmail]
        rec = exact[0] if exact else cands[0]
        probs = []
        c = rec.get("counters")
        if not isinstance(c, dict):
            probs.append("no counters")
        else:
            for k, want in (("mail", nmail), ("ehlo", 1), ("quit", 1)):
                if s.get("aborted") and k == "quit":
                    if c.get(k) not in (None, 0):
                        probs.append("counters.quit %r, but the client sent no QUIT" % c.get(k))
                elif c.get(k) != want:
                    probs.append("counters.%s %r, want %r" % (k, c.get(k), want))
            if "commands" not in c:
                probs.append("counters.commands missing")
        for k in ("pid", "connect", "disconnect"):
            if rec.get(k) in (None, ""):
                probs.append("%s missing" % k)
        if rec.get("host") != HOST:
            probs.append("host %r" % rec.get("host"))
        if auth and auth["ok"]:
            if rec.get("sasl_username") != auth["user"]:
                probs.append("sasl_username %r, want %r" % (rec.get("sasl_username"), auth["user"]))
        elif rec.get("sasl_username"):
            probs.append("sasl_username %r on a session without a successful login"
                         % rec.get("sasl_username"))
        if probs:
            probs.append("record: %s" % short(rec))
        result(name, probs)

    return 1 if failed else 0


def check_message(m, rec, man):
    p = []

    def want(field, value):
        if rec.get(field) != value:
            p.append("%s %r, want %r" % (field, rec.get(field), value))

    if not rec.get("queue_id"):
        p.append("no queue_id")
    want("host", HOST)
    want("client_ip", m["client_ip"])
    if m["outcome"] not in ("rejected", "discarded") or "sender" in rec:
        want("sender", m["sender"])
    if m["user"]["kind"] == "sasl":
        want("sasl_username", m["sasl_username"])
        if rec.get("sasl_method") not in (None, "PLAIN"):
            p.append("sasl_method %r, want PLAIN" % rec.get("sasl_method"))
    elif rec.get("sasl_username"):
        p.append("sasl_username %r on an IP user" % rec.get("sasl_username"))
    # identity header
    hv = hget(rec.get("headers"), "X-Client-ID")
    ident = m.get("identity")
    if m["outcome"] in ("rejected", "discarded"):
        pass  # cleanup stopped before the X-Client-ID header (Subject comes first)
    elif ident is None:
        if hv is not None:
            p.append("headers X-Client-ID %r, but none was sent" % hv)
    elif len(ident) > 150:
        if not isinstance(hv, str) or not ident.startswith(hv) or len(hv) < 150:
            p.append("headers X-Client-ID %r, want a prefix (Postfix cuts it) of %r" % (hv, ident))
    elif hv != ident:
        p.append("headers X-Client-ID %r, want %r" % (hv, ident))
    if any(h.lower().startswith("x-spam-flag:") for h in m["headers"]):
        sv = hget(rec.get("headers"), "X-Spam-Flag")
        if sv != "YES":
            p.append("headers X-Spam-Flag %r, want 'YES'" % sv)
    # outcome
    if m["outcome"] == "held":
        if rec.get("held") is not True:
            p.append("held %r, want true" % rec.get("held"))
        if rec.get("complete") is True:
            p.append("complete true for a message still on hold")
    elif rec.get("held") is True and "release" not in m.get("queue_ops", []):
        p.append("held true, but the message was not held")
    if m["outcome"] == "rejected":
        rej = rec.get("rejected")
        want_r = m["rejected"]
        if not isinstance(rej, dict):
            p.append("no 'rejected' object")
        else:
            if rej.get("dsn") != want_r["dsn"]:
                p.append("rejected.dsn %r, want %r" % (rej.get("dsn"), want_r["dsn"]))
            if rej.get("code") not in (None, want_r["code"]):
                p.append("rejected.code %r, want %r (or none: the log has no code)"
                         % (rej.get("code"), want_r["code"]))
            if want_r["text"] not in str(rej.get("text", "")):
                p.append("rejected.text %r lacks %r" % (rej.get("text"), want_r["text"]))
        for r in rec.get("recipients") or []:
            if isinstance(r, dict) and r.get("status") == "sent":
                p.append("rejected message has a sent recipient %s" % short(r))
    else:
        # a message with some recipients refused at RCPT (QID reject) may carry
        # "rejected"; other accepted messages must not
        if rec.get("rejected") and not any(x["expect"] == "refused" for x in m["recipients"]):
            p.append("unexpected 'rejected' %s" % short(rec.get("rejected")))
    if m["outcome"] == "discarded":
        for r in rec.get("recipients") or []:
            if isinstance(r, dict) and r.get("status") in ("sent", "deferred", "bounced"):
                p.append("discarded message has a delivery %s" % short(r))
        v = rec.get("verdict")
        if rec.get("discarded") is not True and not (isinstance(v, dict) and "discard" in
                                                     json.dumps(v).lower()):
            p.append("not marked discarded (want discarded: true)")
        # cleanup's "discard:" line is the message's last line: Postfix logs no
        # "removed" after it, so the record is as complete as it will get
        if rec.get("complete") is not True:
            p.append("complete %r, want true: nothing follows cleanup's discard line"
                     % rec.get("complete"))
    # recipients
    if m["outcome"] == "queued":
        expect_complete = True
        for rc in m["recipients"]:
            e = rc["expect"]
            if e == "refused":
                continue
            if e == "deferred":
                expect_complete = False
            finals = rc.get("delivered_as")
            if finals:
                for fa in finals:
                    ents = rcpt_by_orig(rec, fa, rc["address"])
                    if not ents:
                        p.append("no recipient {address: %s, orig_to: %s}" % (fa, rc["address"]))
                    elif ents[0].get("status") != e:
                        p.append("<%s> status %r, want %r" % (fa, ents[0].get("status"), e))
                continue
            ents = rcpt_entries(rec, rc["address"])
            if not ents:
                p.append("no recipient <%s>" % rc["address"])
                continue
            ent = ents[-1]
            if ent.get("status") != e:
                p.append("<%s> status %r, want %r" % (rc["address"], ent.get("status"), e))
            if e == "sent":
                if ent.get("dsn") != "2.0.0":
                    p.append("<%s> dsn %r, want 2.0.0" % (rc["address"], ent.get("dsn")))
                if "127.0.0.1" not in str(ent.get("relay", "")):
                    p.append("<%s> relay %r" % (rc["address"], ent.get("relay")))
            elif e in ("bounced", "deferred") and rc.get("dsn"):
                if ent.get("dsn") != rc["dsn"]:
                    p.append("<%s> dsn %r, want %r" % (rc["address"], ent.get("dsn"), rc["dsn"]))
            if e != "sent" and not ent.get("response"):
                p.append("<%s> response missing" % rc["address"])
        if "delete" in m.get("queue_ops", []):
            expect_complete = True   # postsuper -d: "QID: removed"
        if expect_complete and rec.get("complete") is not True:
            p.append("complete %r, want true (%s)" % (
                rec.get("complete"),
                "postsuper removed it" if "delete" in m.get("queue_ops", []) else "qmgr removed it"))
        if not expect_complete and rec.get("complete") is True:
            p.append("complete true, but the message is still in the deferred queue")
        if "release" in m.get("queue_ops", []) and rec.get("held") is True:
            p.append("held true, but postsuper -H released it")
        nacc = sum(len(x.get("delivered_as") or [1]) for x in m["recipients"]
                   if x["expect"] != "refused")
        if isinstance(rec.get("nrcpt"), int) and rec["nrcpt"] != nacc:
            p.append("nrcpt %r, want %d" % (rec.get("nrcpt"), nacc))
    if p:
        p.append("record: %s" % short(rec))
    return p


if __name__ == "__main__":
    sys.exit(main())
