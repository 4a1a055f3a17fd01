#!/usr/bin/python3
"""maildir.py - read the mails a test Maildir received, as JSON lines.

Usage: maildir.py DIR [--raw-part N]
Prints one JSON object per delivered mail (sorted by file name): the file,
the top header fields (as raw, undecoded strings and decoded), the MIME
structure, each part's content type, decoded text, and for message/rfc822
parts the exact bytes of the attached message.
"""
import email
import email.header
import email.policy
import json
import os
import sys


def decoded(v):
    v = v.replace("\r\n", "").replace("\n", "")    # unfold (RFC 5322 2.2.3)
    return str(email.header.make_header(email.header.decode_header(v)))


def part_info(p):
    ct = p.get_content_type()
    info = {"type": ct, "headers": [[k, v] for k, v in p.items()]}
    if ct == "message/rfc822":
        inner = p.get_payload()[0]
        info["rfc822"] = inner.as_bytes(policy=email.policy.compat32).decode("latin-1")
    elif ct == "message/feedback-report":
        pl = p.get_payload()
        if isinstance(pl, list):
            fields = []
            for sub in pl:
                fields += [[k, v] for k, v in sub.items()]
            info["fields"] = fields
        else:
            info["text"] = pl
    elif not p.is_multipart():
        info["text"] = p.get_payload(decode=True).decode("utf-8")
    return info


def main():
    d = sys.argv[1]
    files = []
    for sub in ("new", "cur"):
        p = os.path.join(d, sub)
        if os.path.isdir(p):
            files += [os.path.join(p, f) for f in os.listdir(p)]
    for f in sorted(files, key=lambda x: os.path.basename(x)):
        raw = open(f, "rb").read()
        m = email.message_from_bytes(raw, policy=email.policy.compat32)
        out = {"file": f, "raw": raw.decode("latin-1"),
               "headers": [[k, v] for k, v in m.items()],
               "decoded": {k: decoded(v) for k, v in m.items()},
               "type": m.get_content_type(),
               "parts": [part_info(p) for p in (m.get_payload() if m.is_multipart() else [m])]}
        print(json.dumps(out))


main()
