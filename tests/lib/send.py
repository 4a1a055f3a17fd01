#!/usr/bin/python3
"""send.py - send one (or a few) test messages over SMTP, reporting every refusal.

Usage as a command:
  send.py --port 2525 [--host 127.0.0.1] [--from-ip 127.0.0.10] [--helo client.example]
          [--auth USER:PASS] --sender alice@example.com --to a@x --to b@y
          [--header "X-Client-ID: tenant-7"] [--subject S] [--body TEXT]
          [--message-id "<id@host>"] [--count N] [--smtputf8]
          [--raw-header "X-Client-ID: tenant-\\xff"]  (\\xHH: raw bytes, not UTF-8)

Prints one line per refusal, "REFUSED <code> <text>" (for a recipient:
"REFUSED <code> <text> rcpt=<address>"), then "SENT rcpts=N" when the
message was accepted for at least one recipient.  Exit status: 0 when every
recipient was accepted, 1 when anything was refused (partly or wholly),
2 on a connection or protocol failure.

As a library: send_session(...) runs one SMTP session with several messages
and returns a list of result dicts (see below), without raising on refusals.
"""
import argparse
import codecs
import email.utils
import smtplib
import socket
import sys
import time


def build_message(sender, recipients, subject=None, headers=(), body="",
                  message_id=None, header_from=None):
    """A simple RFC 5322 message as text (CRLF-free; smtplib fixes line ends)."""
    lines = []
    lines.append("From: %s" % (header_from or sender or "<>"))
    lines.append("To: %s" % ", ".join(recipients))
    if subject is not None:
        lines.append("Subject: %s" % subject)
    lines.append("Date: %s" % email.utils.formatdate(localtime=False))
    if message_id:
        lines.append("Message-ID: %s" % message_id)
    for h in headers:
        lines.append(h)
    lines.append("MIME-Version: 1.0")
    lines.append("Content-Type: text/plain; charset=us-ascii")
    lines.append("")
    lines.append(body if body else "test message")
    return "\r\n".join(lines) + "\r\n"


def _reply_text(msg):
    if isinstance(msg, bytes):
        msg = msg.decode("utf-8", "replace")
    return " ".join(msg.split("\n"))


def send_session(host, port, helo="client.example.test", from_ip=None, auth=None,
                 messages=(), timeout=30):
    """One SMTP session.  auth: (user, password) or None.  messages: list of
    dicts with keys sender, recipients, data (text), and optionally
    abort="RCPT" to drop the connection after the RCPT commands.  Returns a dict:
      {"connected": bool, "error": str|None,
       "auth": None | {"ok": bool, "code": int, "text": str},
       "results": [{"mail": (code, text), "rcpts": {addr: (code, text)},
                    "data": (code, text) | None, "accepted": bool}, ...]}
    """
    out = {"connected": False, "error": None, "auth": None, "results": []}
    src = (from_ip, 0) if from_ip else None
    try:
        s = smtplib.SMTP(host, port, local_hostname=helo, timeout=timeout,
                         source_address=src)
    except (OSError, smtplib.SMTPException) as e:
        out["error"] = "connect: %s" % e
        return out
    out["connected"] = True
    try:
        code, text = s.ehlo(helo)
        if code != 250:
            out["error"] = "EHLO: %d %s" % (code, _reply_text(text))
            s.close()
            return out
        if auth:
            user, password = auth
            try:
                s.user, s.password = user, password
                code, text = s.auth("PLAIN", s.auth_plain, initial_response_ok=True)
                out["auth"] = {"ok": True, "code": code, "text": _reply_text(text)}
            except smtplib.SMTPAuthenticationError as e:
                out["auth"] = {"ok": False, "code": e.smtp_code,
                               "text": _reply_text(e.smtp_error)}
            except smtplib.SMTPException as e:
                out["auth"] = {"ok": False, "code": 0, "text": str(e)}
        for m in messages:
            r = {"mail": None, "rcpts": {}, "data": None, "accepted": False, "aborted": False}
            out["results"].append(r)
            sender = m["sender"]
            params = ""
            if m.get("smtputf8"):
                s.command_encoding = "utf-8"
                params = " SMTPUTF8"
            code, text = s.docmd("MAIL", "FROM:<%s>%s" % (sender, params))
            r["mail"] = (code, _reply_text(text))
            if code != 250:
                s.rset()
                continue
            ok = 0
            for rcpt in m["recipients"]:
                code, text = s.docmd("RCPT", "TO:<%s>" % rcpt)
                r["rcpts"][rcpt] = (code, _reply_text(text))
                if code in (250, 251):
                    ok += 1
            if m.get("abort") == "RCPT":
                # drop the connection without DATA or QUIT ("lost connection")
                s.close()
                r["aborted"] = True
                return out
            if ok == 0:
                s.rset()
                continue
            # surrogateescape: --raw-header bytes that are not UTF-8
            code, text = s.data(m["data"].encode("utf-8", "surrogateescape"))
            r["data"] = (code, _reply_text(text))
            r["accepted"] = code == 250
            if code != 250:
                s.rset()
        try:
            s.quit()
        except smtplib.SMTPServerDisconnected:
            pass
    except (OSError, smtplib.SMTPException) as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
        try:
            s.close()
        except OSError:
            pass
    return out


def report(result, file=sys.stdout):
    """Print REFUSED lines for one send_session result; return the exit status."""
    status = 0
    if result["error"]:
        print("ERROR %s" % result["error"], file=file)
        return 2
    a = result["auth"]
    if a and not a["ok"]:
        print("REFUSED %s %s stage=AUTH" % (a["code"], a["text"]), file=file)
        status = 1
    for r in result["results"]:
        code, text = r["mail"]
        if code != 250:
            print("REFUSED %d %s stage=MAIL" % (code, text), file=file)
            status = 1
            continue
        for rcpt, (code, text) in r["rcpts"].items():
            if code not in (250, 251):
                print("REFUSED %d %s rcpt=%s" % (code, text, rcpt), file=file)
                status = 1
        if r["data"] is not None:
            code, text = r["data"]
            if code != 250:
                print("REFUSED %d %s stage=DATA" % (code, text), file=file)
                status = 1
            else:
                n = sum(1 for c, _ in r["rcpts"].values() if c in (250, 251))
                print("SENT rcpts=%d %s" % (n, text), file=file)
    return status


def main(argv=None):
    ap = argparse.ArgumentParser(description="send a test message over SMTP")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--from-ip", help="source address to connect from (127.0.0.x)")
    ap.add_argument("--helo", default="client.example.test")
    ap.add_argument("--auth", help="USER:PASS (AUTH PLAIN)")
    ap.add_argument("--sender", "--from", dest="sender", default="",
                    help="envelope sender (empty: null sender)")
    ap.add_argument("--to", action="append", default=[], required=True,
                    help="envelope recipient (repeat)")
    ap.add_argument("--header", action="append", default=[], help='"Name: value" (repeat)')
    ap.add_argument("--raw-header", action="append", default=[],
                    help=r'"Name: value" with \xHH escapes sent as raw bytes (repeat)')
    ap.add_argument("--smtputf8", action="store_true",
                    help="MAIL FROM:<...> SMTPUTF8 (a non-ASCII sender)")
    ap.add_argument("--subject", default="test")
    ap.add_argument("--body", default="test message")
    ap.add_argument("--message-id")
    ap.add_argument("--count", type=int, default=1, help="send N copies in one session")
    ap.add_argument("--timeout", type=float, default=30)
    a = ap.parse_args(argv)
    auth = None
    if a.auth:
        if ":" not in a.auth:
            ap.error("--auth wants USER:PASS")
        auth = tuple(a.auth.split(":", 1))
    msgs = []
    for i in range(a.count):
        mid = a.message_id
        if mid and a.count > 1:
            mid = mid.replace("@", ".%d@" % i, 1)
        if not mid:
            mid = "<%s.%d.%d@send.example.test>" % (time.strftime("%Y%m%d%H%M%S"),
                                                     id(msgs) & 0xffff, i)
        raw = [codecs.escape_decode(h.encode("utf-8"))[0].decode("utf-8", "surrogateescape")
               for h in a.raw_header]
        data = build_message(a.sender, a.to, a.subject, a.header + raw, a.body, mid)
        msgs.append({"sender": a.sender, "recipients": a.to, "data": data,
                     "smtputf8": a.smtputf8})
    res = send_session(a.host, a.port, a.helo, a.from_ip, auth, msgs, a.timeout)
    return report(res)


if __name__ == "__main__":
    sys.exit(main())
