#!/usr/bin/python3
"""traffic.py - send relayguard's fixed set of test traffic to a private Postfix
started by tests/lib/postfix.sh, and write a manifest (JSON) of what was sent
and what the log should show.

  traffic.py send MANIFEST        send everything (needs the PF_* variables)
  traffic.py queue-ops MANIFEST   after the queue settled: postsuper -h and -H
                                  one deferred message, postsuper -d another;
                                  records the queue IDs in the manifest

Manifest (one JSON object):
  {"run": "...", "ports": {...}, "sessions": [SESSION...], "messages": [MESSAGE...],
   "queue_ops": [{"op": "hold"|"release"|"delete", "message": "m17", "queue_id": "..."}]}
  SESSION: {"id", "port_name" ("smtpd"|"submission"), "client_ip", "helo",
            "auth": null | {"user", "ok": bool, "reply"}, "messages": [ids],
            "aborted": true when the client dropped the connection (no QUIT)}
  MESSAGE: {"id", "desc", "session", "port_name", "client_ip", "helo",
            "user": {"kind": "sasl"|"ip"|"none", "name": sasl user or client ip},
            "sasl_username": str|null, "sender", "subject", "message_id",
            "identity": value of X-Client-ID as sent (null: none),
            "identity_header": header name as written, "headers": [raw lines],
            "outcome": "queued"|"held"|"rejected"|"discarded"|"refused"|"aborted",
            "rejected": {"code", "dsn", "text"} (header REJECT, after DATA),
            "recipients": [{"address", "expect": "sent"|"bounced"|"deferred"|"refused"|
                            "held"|"rejected"|"discarded"|"aborted",
                            "dsn": "5.1.1" (bounced, refused), "code": 550 (refused),
                            "delivered_as": [final addresses] (aliases: orig_to),
                            "deferred_reason": "..."}],
            "bounce_notification": true when a bounce goes back to the sender,
            "smtp": {"mail": [code, text], "rcpts": {addr: [code, text]}, "data": [code, text]}}
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import send  # noqa: E402

LONG_ID = "tenant-long-" + "-".join("segment%02d" % i for i in range(30))  # > 200 chars


def plan(env):
    dom_rej = env["PF_DOMAIN_REJECT"]
    dom_def = env["PF_DOMAIN_DEFER"]
    dom_dat = env["PF_DOMAIN_DATAREJ"]
    dom_down = env["PF_DOMAIN_DOWN"]
    local = env["PF_LOCAL_DOMAIN"]

    def R(address, expect="sent", **kw):
        r = {"address": address, "expect": expect}
        r.update(kw)
        return r

    def M(mid, desc, sender, recipients, subject, identity=None, headers=(), outcome="queued",
          identity_header="X-Client-ID", **kw):
        h = []
        if identity is not None:
            h.append("%s: %s" % (identity_header, identity))
        h.extend(headers)
        m = {"id": mid, "desc": desc, "sender": sender, "recipients": recipients, "subject": subject,
             "identity": identity, "identity_header": identity_header if identity else None,
             "headers": h, "outcome": outcome}
        m.update(kw)
        return m

    bounced_511 = dict(dsn="5.1.1", code=550)
    sessions = [
        # SASL user alice, port 25-style listener, two messages in one session
        {"id": "s01", "port_name": "smtpd", "client_ip": "127.0.0.2",
         "helo": "alice-laptop.example.com", "auth": ("alice@example.com", "alice-pw"),
         "messages": [
             M("m01", "alice smtpd tenant-7, 2 sent", "alice@example.com",
               [R("bob@example.com"), R("dave@example.org")],
               "Quarterly report", "tenant-7"),
             M("m02", "alice smtpd 2nd in session, 1 sent + 1 bounced 5.1.1", "alice@example.com",
               [R("eve@example.org"), R("nobody@" + dom_rej, "bounced", **bounced_511)],
               "Invitation", "tenant-7", bounce_notification=True),
         ]},
        # alice on submission: one recipient deferred (450 at RCPT), X-Spam-Flag
        {"id": "s02", "port_name": "submission", "client_ip": "127.0.0.2",
         "helo": "alice-laptop.example.com", "auth": ("alice@example.com", "alice-pw"),
         "messages": [
             M("m03", "alice submission, X-Spam-Flag, 1 sent + 1 deferred 450", "alice@example.com",
               [R("frank@example.org"), R("later@" + dom_def, "deferred", dsn="4.2.0")],
               "Weekly numbers", "tenant-7", headers=["X-Spam-Flag: YES"]),
         ]},
        # bob on submission: virtual alias (orig_to), address with status=, HOLD
        {"id": "s03", "port_name": "submission", "client_ip": "127.0.0.3",
         "helo": "bob-desktop.example.com", "auth": ("bob@example.com", "bob-pw"),
         "messages": [
             M("m04", "bob submission, alias orig_to + status= address", "bob@example.com",
               [R("sales@example.com", delivered_as=["carol@example.net"]),
                R("status=bounced@example.com")],
               "Order 4711", "tenant-9"),
             M("m05", "bob submission, HOLD", "bob@example.com", [R("grace@example.org", "held")],
               "Please check HOLDME", "tenant-9", outcome="held"),
         ]},
        # bob on smtpd: alias to two, closed port (refused, then suspended), REJECT
        {"id": "s04", "port_name": "smtpd", "client_ip": "127.0.0.3",
         "helo": "bob-desktop.example.com", "auth": ("bob@example.com", "bob-pw"),
         "messages": [
             M("m06", "bob smtpd, alias to 2 + closed port deferred", "bob@example.com",
               [R("team@example.com", delivered_as=["alice@example.com", "bob@example.com"]),
                R("heidi@" + dom_down, "deferred", dsn="4.4.1")],
               "Team lunch", "tenant-9"),
             M("m07", "bob smtpd, no identity, deferred (suspended)", "bob@example.com", [R("ivan@" + dom_down, "deferred", dsn="4.4.1")],
               "No identity header here"),
             M("m08", "bob smtpd, header REJECT", "bob@example.com", [R("judy@example.org", "rejected")],
               "This is REJECTME stuff", "tenant-9", outcome="rejected",
               rejected={"code": 550, "dsn": "5.7.1", "text": "policy says no"}),
         ]},
        # IP user 127.0.0.10 (mynetworks): local unknown recipient refused
        # before and after an accepted one
        {"id": "s05", "port_name": "smtpd", "client_ip": "127.0.0.10",
         "helo": "app1.tenant7.example", "auth": None,
         "messages": [
             M("m09", "IP user .10, 2 sent", "app@tenant7.example", [R("kim@example.org"), R("lee@example.org")],
               "Your invoice", "tenant-7"),
             M("m10", "IP user .10, local unknown refused first (NOQUEUE)", "app@tenant7.example",
               [R("nosuch@" + local, "refused", **bounced_511), R("mallory@example.org")],
               "Newsletter", "tenant-7"),
             M("m11", "IP user .10, local unknown refused after queue ID", "app@tenant7.example",
               [R("oscar@example.org"), R("nosuch2@" + local, "refused", **bounced_511)],
               "Newsletter 2", "tenant-7"),
         ]},
        # IP user 127.0.0.11: DISCARD, quoted local part, long header, 554 after DATA
        {"id": "s06", "port_name": "smtpd", "client_ip": "127.0.0.11",
         "helo": "app2.tenant9.example", "auth": None,
         "messages": [
             M("m12", "IP user .11, DISCARD", "noreply@tenant9.example", [R("peggy@example.org", "discarded")],
               "DISCARDME newsletter", "tenant-9", outcome="discarded"),
             M("m13", "IP user .11, quoted sender, 554 after DATA bounce", '"john doe"@example.com',
               [R("quentin@example.org"), R("rob@" + dom_dat, "bounced", dsn="5.7.1")],
               "From John", "tenant-9", bounce_notification=True),
             M("m14", "IP user .11, X-Client-ID > 200 chars", "noreply@tenant9.example", [R("sybil@example.org")],
               "Long identity", LONG_ID),
         ]},
        # unauthenticated client outside mynetworks: relay access denied
        {"id": "s07", "port_name": "smtpd", "client_ip": "127.0.0.5",
         "helo": "unknown-host.example.net", "auth": None,
         "messages": [
             M("m15", "unauthenticated .5, relay denied (NOQUEUE)", "spammer@example.net",
               [R("victim@example.org", "refused", code=554, dsn="5.7.1")],
               "Buy now", outcome="refused"),
         ]},
        # failed SASL login (wrong password), then an attempt without login
        {"id": "s08", "port_name": "submission", "client_ip": "127.0.0.30",
         "helo": "guesser.example.net", "auth": ("alice@example.com", "wrong-password"),
         "messages": [
             M("m16", "failed login .30, relay denied (NOQUEUE)", "alice@example.com",
               [R("trent@example.org", "refused", code=554, dsn="5.7.1")],
               "Guessing", outcome="refused"),
         ]},
        # carol: messages the queue operations work on
        {"id": "s09", "port_name": "submission", "client_ip": "127.0.0.4",
         "helo": "carol-phone.example.net", "auth": ("carol@example.net", "carol-pw"),
         "messages": [
             M("m17", "carol submission, deferred, postsuper -h then -H", "carol@example.net", [R("walter@" + dom_def, "deferred", dsn="4.2.0")],
               "Hold and release me", "tenant-7"),
             M("m18", "carol submission, deferred, postsuper -d", "carol@example.net", [R("xavier@" + dom_down, "deferred", dsn="4.4.1")],
               "Delete me", "tenant-7"),
         ]},
        # IP user 127.0.0.20 (a /32 in mynetworks): null sender, lower-case header name
        {"id": "s10", "port_name": "smtpd", "client_ip": "127.0.0.20",
         "helo": "monitor.example.com", "auth": None,
         "messages": [
             M("m19", "IP user .20, null sender", "", [R("uma@example.org")], "Null sender notice"),
             M("m20", "IP user .20, lower-case x-client-id", "monitor@example.com", [R("victor@example.org")],
               "Lower-case header name", "tenant-9", identity_header="x-client-id"),
         ]},
        # alice drops the connection after RCPT: a queue ID with only a
        # client= line, "lost connection after RCPT", no quit
        {"id": "s11", "port_name": "submission", "client_ip": "127.0.0.6",
         "helo": "alice-tablet.example.com", "auth": ("alice@example.com", "alice-pw"),
         "aborted": True,
         "messages": [
             M("m21", "alice dropped the connection after RCPT", "alice@example.com",
               [R("yvonne@example.org", "aborted")], "Never finished", "tenant-7",
               outcome="aborted", abort="RCPT"),
         ]},
    ]
    return sessions


def cmd_send(manifest_path):
    env = os.environ
    for k in ("PF_PORT", "PF_SUBMISSION_PORT", "PF_DOMAIN_REJECT", "PF_LOCAL_DOMAIN"):
        if k not in env:
            sys.exit("traffic.py: %s is not set (source tests/lib/postfix.sh; pf_start)" % k)
    ports = {"smtpd": int(env["PF_PORT"]), "submission": int(env["PF_SUBMISSION_PORT"])}
    run = "%s.%d" % (time.strftime("%Y%m%d%H%M%S"), os.getpid())
    manifest = {"run": run, "ports": ports, "hostname": env.get("PF_HOSTNAME"),
                "sessions": [], "messages": [], "queue_ops": []}
    failures = 0
    for s in plan(env):
        msgs = []
        for m in s["messages"]:
            m["message_id"] = "<rg-%s.%s@client.example.test>" % (m["id"], run)
            rcpts = [r["address"] for r in m["recipients"]]
            body = "Test message %s (%s).\r\nSecond line.\r\n" % (m["id"], m["subject"])
            m["data"] = send.build_message(m["sender"], rcpts, m["subject"], m["headers"],
                                           body, m["message_id"],
                                           header_from=m["sender"] or "MAILER-DAEMON")
            msgs.append({"sender": m["sender"], "recipients": rcpts, "data": m["data"],
                         "abort": m.get("abort")})
        res = send.send_session("127.0.0.1", ports[s["port_name"]], s["helo"], s["client_ip"],
                                s["auth"], msgs)
        auth_ok = bool(res["auth"] and res["auth"]["ok"])
        sess = {"id": s["id"], "port_name": s["port_name"], "client_ip": s["client_ip"],
                "helo": s["helo"], "messages": [m["id"] for m in s["messages"]],
                "auth": ({"user": s["auth"][0], "ok": auth_ok,
                          "reply": [res["auth"]["code"], res["auth"]["text"]]}
                         if s["auth"] else None),
                "error": res["error"], "aborted": bool(s.get("aborted"))}
        manifest["sessions"].append(sess)
        if res["error"]:
            print("traffic.py: session %s: %s" % (s["id"], res["error"]), file=sys.stderr)
            failures += 1
        for m, r in zip(s["messages"], res["results"] + [None] * len(s["messages"])):
            del m["data"]
            m["session"] = s["id"]
            m["port_name"] = s["port_name"]
            m["client_ip"] = s["client_ip"]
            m["helo"] = s["helo"]
            m["sasl_username"] = s["auth"][0] if auth_ok else None
            if auth_ok:
                m["user"] = {"kind": "sasl", "name": s["auth"][0]}
            elif s["client_ip"] in ("127.0.0.10", "127.0.0.11", "127.0.0.20"):
                m["user"] = {"kind": "ip", "name": s["client_ip"]}
            else:
                m["user"] = {"kind": "none", "name": s["client_ip"]}
            m["smtp"] = r
            manifest["messages"].append(m)
            # compare what the server said with what the plan expects
            problems = check_smtp(m, r)
            for p in problems:
                print("traffic.py: %s: %s" % (m["id"], p), file=sys.stderr)
            failures += bool(problems)
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    return 1 if failures else 0


def check_smtp(m, r):
    """SMTP-level expectations: which replies the client must have got."""
    if r is None:
        return ["not sent"]
    out = []
    if r["mail"] is None or r["mail"][0] != 250:
        return ["MAIL refused: %s" % (r["mail"],)]
    for rc in m["recipients"]:
        code, text = r["rcpts"].get(rc["address"], (None, None))
        if rc["expect"] == "refused":
            if code != rc.get("code"):
                out.append("RCPT %s: want %s, got %s %s" % (rc["address"], rc.get("code"), code, text))
        elif code not in (250, 251):
            out.append("RCPT %s refused: %s %s" % (rc["address"], code, text))
    if m["outcome"] == "aborted":
        if not r.get("aborted"):
            out.append("the client did not drop the connection")
    elif m["outcome"] == "refused":
        if r["data"] is not None:
            out.append("DATA was sent though all recipients should be refused")
    elif m["outcome"] == "rejected":
        if not r["data"] or r["data"][0] != m["rejected"]["code"]:
            out.append("DATA: want %s, got %s" % (m["rejected"]["code"], r["data"]))
    else:
        if not r["data"] or r["data"][0] != 250:
            out.append("DATA: want 250, got %s" % (r["data"],))
    return out


def postqueue_json(conf):
    out = subprocess.run(["postqueue", "-c", conf, "-j"], capture_output=True, text=True,
                         check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def cmd_queue_ops(manifest_path):
    conf = os.environ["PF_CONF"]
    with open(manifest_path) as f:
        manifest = json.load(f)
    msgs = {m["id"]: m for m in manifest["messages"]}
    queue = postqueue_json(conf)

    def qid_of(mid, queue_name):
        want = {r["address"] for r in msgs[mid]["recipients"]}
        hits = [q for q in queue if q["queue_name"] == queue_name
                and {r["address"] for r in q["recipients"]} == want
                and q["sender"] == msgs[mid]["sender"]]
        if len(hits) != 1:
            raise SystemExit("traffic.py: %s: %d matches in the %s queue: %s"
                             % (mid, len(hits), queue_name, json.dumps(queue)))
        return hits[0]["queue_id"]

    ops = []
    q17 = qid_of("m17", "deferred")
    q18 = qid_of("m18", "deferred")
    for op, flag, mid, qid in (("hold", "-h", "m17", q17), ("release", "-H", "m17", q17),
                               ("delete", "-d", "m18", q18)):
        p = subprocess.run(["postsuper", "-c", conf, flag, qid], capture_output=True, text=True)
        ops.append({"op": op, "message": mid, "queue_id": qid, "status": p.returncode,
                    "output": (p.stdout + p.stderr).strip()})
        if p.returncode != 0:
            print("traffic.py: postsuper %s %s failed: %s" % (flag, qid, p.stderr), file=sys.stderr)
        time.sleep(0.2)
    manifest["queue_ops"] = ops
    msgs["m17"]["queue_ops"] = ["hold", "release"]
    msgs["m18"]["queue_ops"] = ["delete"]
    # what is left in the queue, for the record
    manifest["queue_after"] = [{"queue_name": q["queue_name"], "queue_id": q["queue_id"],
                                "sender": q["sender"],
                                "recipients": [r["address"] for r in q["recipients"]]}
                               for q in postqueue_json(conf)]
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    return 0 if all(o["status"] == 0 for o in ops) else 1


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("send", "queue-ops"):
        sys.exit(__doc__.split("\n\n")[1])
    if sys.argv[1] == "send":
        return cmd_send(sys.argv[2])
    return cmd_queue_ops(sys.argv[2])


if __name__ == "__main__":
    sys.exit(main())
