#!/usr/bin/python3
"""collect_check.py - compare what `relayguard collect` stored with what the
log files hold, for tests/suites/collect_crash.sh and rotation.sh.

  collect_check.py vs-parse DB PARSE.jsonl [LABEL]
      PARSE.jsonl is `relayguard parse --sessions --year Y --tz Z FILES...`
      over every file the collector should have read.  Checks that every
      record of it is stored exactly once in DB (tables messages and
      sessions) and that DB holds nothing else.
  collect_check.py counts DB
      one line: messages=N noqueue=N open=N sessions=N open_sessions=N
      verdicts=N lines=N (lines: the sum of sources.lines)

Comparison rules (vs-parse):
  * a row with open = 0 (finished: the collector wrote it for good) must be
    byte-for-byte one of parse's objects;
  * a row with open = 1 is the collector's snapshot of a record that has not
    ended yet, or that ended less than the linger time (5 s of log time) ago,
    or whose SMTP session ended without a queue file (the aborted check runs
    later): parse, at the end of its input, hands these out finished
    (`asm_finish`), so "complete" and "aborted" may differ.  Such a row must
    equal one of parse's objects once those two keys are removed from both.
  * each of parse's objects must be matched by exactly one row, and each row
    by exactly one object: a row matched twice or an object left over is a
    record stored twice, or lost.
Prints one summary line, then at most 8 examples of each kind of mismatch;
exit status 0 when everything matched, 1 otherwise.
"""
import collections
import os
import json
import sqlite3
import subprocess
import sys

NORMALIZE_DROP = ("complete", "aborted")


def norm(text):
    o = json.loads(text)
    for k in NORMALIZE_DROP:
        o.pop(k, None)
    return json.dumps(o, sort_keys=True, separators=(",", ":"))


def key_of(text):
    try:
        o = json.loads(text)
    except ValueError:
        return text[:120]
    if o.get("type") == "session":
        return "session %s %s[%s] connect=%s" % (o.get("host"), o.get("program"), o.get("pid"),
                                                o.get("connect"))
    return "%s %s first_seen=%s client=%s" % (o.get("host"), o.get("queue_id", "NOQUEUE"),
                                              o.get("first_seen"), o.get("client_ip"))


def load_db(path):
    # the JSON is rebuilt from the stored rows: relayguard dump
    rg = os.environ.get("RELAYGUARD", "relayguard")
    rows = []
    for table in ("messages", "sessions"):
        out = subprocess.run([rg, "dump", table, "--open", "--database", path],
                             check=True, stdout=subprocess.PIPE).stdout
        for line in out.decode("utf-8", "surrogateescape").splitlines():
            op, js = line.split(" ", 1)
            rows.append((table, int(op), js))
    return rows


def vs_parse(dbpath, parsepath, label):
    rows = load_db(dbpath)
    with open(parsepath, encoding="utf-8", errors="surrogateescape") as f:
        objs = [line.rstrip("\n") for line in f if line.strip()]
    want_exact = collections.Counter(objs)
    problems = collections.defaultdict(list)
    # pass 1: finished rows, exactly
    open_rows = []
    n_closed = 0
    for table, op, js in rows:
        if op:
            open_rows.append((table, js))
            continue
        n_closed += 1
        if want_exact[js] > 0:
            want_exact[js] -= 1
        else:
            problems["finished row not among parse's records (stored twice, or differs)"].append(js)
    # pass 2: open rows, modulo complete/aborted
    rest = collections.Counter()
    for js, n in want_exact.items():
        if n > 0:
            rest[norm(js)] += n
    by_norm = {}
    for js, n in want_exact.items():
        if n > 0:
            by_norm.setdefault(norm(js), js)
    for table, js in open_rows:
        k = norm(js)
        if rest[k] > 0:
            rest[k] -= 1
        else:
            problems["open row not among parse's records (stored twice, or differs)"].append(js)
    for k, n in rest.items():
        for _ in range(n):
            problems["parse's record not stored (lost)"].append(by_norm[k])
    # duplicates by key, whatever the content
    keys = collections.Counter(key_of(js) for _, _, js in rows if '"queue_id"' in js
                               or '"type":"session"' in js)
    dups = [k for k, n in keys.items() if n > 1]
    pkeys = collections.Counter(key_of(js) for js in objs if '"queue_id"' in js
                                or '"type":"session"' in js)
    dups = [k for k in dups if keys[k] > pkeys.get(k, 0)]
    for k in dups:
        problems["key stored more often than parse writes it"].append(k)
    nbad = sum(len(v) for v in problems.values())
    print("%s: %d parse records; %d rows (%d finished, compared exactly; %d open, compared "
          "without complete/aborted); %d mismatches"
          % (label, len(objs), len(rows), n_closed, len(open_rows), nbad))
    for kind, items in problems.items():
        print("  %s: %d" % (kind, len(items)))
        for js in items[:8]:
            print("    %s" % (js if len(js) < 400 else js[:400] + "..."))
    return 0 if nbad == 0 else 1


def counts(dbpath):
    db = sqlite3.connect("file:%s?mode=ro" % dbpath, uri=True)
    q = lambda sql: db.execute(sql).fetchone()[0] or 0  # noqa: E731
    print("messages=%d noqueue=%d open=%d sessions=%d open_sessions=%d verdicts=%d lines=%d" % (
        q("SELECT count(*) FROM messages"),
        q("SELECT count(*) FROM messages WHERE kind = 'noqueue'"),
        q("SELECT count(*) FROM messages WHERE open = 1"),
        q("SELECT count(*) FROM sessions"),
        q("SELECT count(*) FROM sessions WHERE open = 1"),
        q("SELECT count(*) FROM verdicts"),
        q("SELECT sum(lines) FROM sources")))
    db.close()
    return 0


def main():
    a = sys.argv[1:]
    if len(a) in (3, 4) and a[0] == "vs-parse":
        return vs_parse(a[1], a[2], a[3] if len(a) == 4 else "vs-parse")
    if len(a) == 2 and a[0] == "counts":
        return counts(a[1])
    sys.exit(__doc__.split("\n\n")[1])


if __name__ == "__main__":
    sys.exit(main())
