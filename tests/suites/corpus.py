#!/usr/bin/python3
"""
tests/suites/corpus.py - `relayguard parse` against the public log corpus.

The corpus lives outside the repository, in ../shared/corpus (TOP/../shared/
corpus; PROVENANCE.md there says where every file comes from). Without it
the suite prints one SKIP line and passes.

For every <name>.log of the corpus:
  1. no crash: the file goes through `relayguard parse --year 2024 --tz UTC
     --sessions --stats --json FILE` within 10 s, exits 0, and every line it prints
     is a JSON object of "type" message or session. Sources that publish only
     the message part of a line (their .meta names the program) are also fed
     with a synthesized header ("Jan  1 00:00:00 host PROG[PID]: " + line).
  2. the expectations the source published in <name>.meta, mapped onto our
     output model (queue ID, sender, recipient, status, relay, dsn, client,
     NOQUEUE rejects, sessions, ...): one PASS/FAIL line per (file, kind).
     Fields our model has no counterpart for (geo, pid, TLS, anvil, postgrey,
     policyd-spf, ...) are not asserted. Sources whose lines are independent
     test cases are checked against the whole file and against the line fed
     alone: either may satisfy an expectation (the PASS line says when only
     one did; CORPUS_VERBOSE=1 names the lines). Aggregate expectations
     (kumina exporter counters, pflogsumm totals) are compared with counts
     over our records.
  3. an INFO line per file: the --stats "not recognised" count, and the mail
     lines the parser did not recognise or took for no log line at all
     (each mail line of such a file is fed alone to name them).

Output follows tests/run: "PASS: name", "FAIL: name: why", "SKIP: name: why";
INFO lines are passed through. Environment: TOP (set by tests/run),
RELAYGUARD (default TOP/build/relayguard), CORPUS_DIR (default
TOP/../shared/corpus), CORPUS_VERBOSE=1 lists every unrecognised line.
Standard library only. About 1 s (a few hundred short parse runs, in
parallel).
"""
import concurrent.futures
import json
import os
import re
import subprocess
import sys

SUITE = 'corpus'
ARGS = ['parse', '--year', '2024', '--tz', 'UTC', '--sessions', '--stats', '--json']
TIMEOUT = 10
MAXLINE = 399
EXAMPLES = 3
LIST_UNRECOGNISED = 8

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.environ.get('TOP') or os.path.normpath(os.path.join(HERE, '..', '..'))
if os.environ.get('CORPUS_DIR'):
    _CANDIDATES = [os.environ['CORPUS_DIR']]
else:
    _CANDIDATES = [os.path.join(TOP, '..', 'shared', 'corpus'),
                   os.path.join(HERE, '..', '..', '..', 'shared', 'corpus')]
CORPUS = next((os.path.normpath(c) for c in _CANDIDATES if os.path.isdir(c)),
              None)
RELAYGUARD = os.environ.get('RELAYGUARD') or os.path.join(TOP, 'build',
                                                           'relayguard')
VERBOSE = os.environ.get('CORPUS_VERBOSE') == '1'


def say(line):
    """print one result line, cut to MAXLINE characters"""
    line = line.replace('\n', ' ')
    if len(line) > MAXLINE:
        line = line[:MAXLINE - 3] + '...'
    print(line, flush=True)


def short(s, n=90):
    s = str(s)
    return s if len(s) <= n else s[:n - 3] + '...'


# ---------------------------------------------------------------- running

def parse_stats(err):
    st = {'kinds': {}, 'malformed': 0, 'other': 0, 'unknown': None,
          'known': None}
    for line in err.decode('utf-8', 'replace').splitlines():
        m = re.match(r'\s+not a log line \(skipped\) (\d+)$', line)
        if m:
            st['malformed'] = int(m.group(1))
            continue
        m = re.match(r'\s+other programs \(skipped\) (\d+)$', line)
        if m:
            st['other'] = int(m.group(1))
            continue
        m = re.match(r'mail lines recognised (\d+), not recognised (\d+)',
                     line)
        if m:
            st['known'], st['unknown'] = int(m.group(1)), int(m.group(2))
            continue
        m = re.match(r'\s+(\S+)\s+(\S+)\s+(\d+)(\s+\(not recognised\))?$',
                     line)
        if m:
            st['kinds'][(m.group(1), m.group(2))] = int(m.group(3))
    return st


class Run:
    """one `relayguard parse` run: its records, sessions and counters"""

    def __init__(self, rc, out, err, timed_out=False):
        self.rc, self.err, self.timed_out = rc, err, timed_out
        self.bad = []
        self.records, self.sessions = [], []
        lines = out.split(b'\n')
        if lines and lines[-1] == b'':
            lines.pop()
        for i, raw in enumerate(lines, 1):
            try:
                obj = json.loads(raw.decode('utf-8'))
            except (UnicodeDecodeError, ValueError) as e:
                self.bad.append((i, '%s: %s' % (type(e).__name__,
                                                short(raw, 60))))
                continue
            t = obj.get('type') if isinstance(obj, dict) else None
            if t == 'message':
                self.records.append(obj)
            elif t == 'session':
                self.sessions.append(obj)
            else:
                self.bad.append((i, 'not a message/session object: %s'
                                 % short(raw, 60)))
        self.nlines = len(lines)
        self.stats = parse_stats(err)

    def problem(self):
        """why this run counts as a crash, or None"""
        if self.timed_out:
            return 'did not finish within %d s' % TIMEOUT
        if self.rc != 0:
            why = 'exit status %d' % self.rc
            if self.rc < 0:
                why = 'killed by signal %d' % -self.rc
            tail = self.err.decode('utf-8', 'replace').strip().splitlines()
            tail = [t for t in tail if not t.startswith(' ')
                    and not t.startswith('lines ')]
            return why + (': ' + short(tail[0], 120) if tail else '')
        if self.bad:
            return '%d bad output lines (first: line %d: %s)' % (
                len(self.bad), self.bad[0][0], self.bad[0][1])
        return None

    def classify(self):
        """the one line of an isolated run: (prog, kind) or a pseudo kind"""
        st = self.stats
        if st['malformed']:
            return ('-', 'not-a-log-line')
        if st['other']:
            return ('-', 'other-program')
        for k, n in st['kinds'].items():
            if n:
                return k
        return ('-', 'nothing')


def run_parse(path=None, data=None):
    cmd = [RELAYGUARD] + ARGS + ([path] if path else [])
    try:
        p = subprocess.run(cmd, input=data if data is not None else b'',
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired as e:
        return Run(None, e.stdout or b'', e.stderr or b'', True)
    return Run(p.returncode, p.stdout, p.stderr)


# ------------------------------------------------------ looking at lines

HDR = re.compile(r'^(?:\d{4}-\d\d-\d\d[T ]\S+|[A-Z][a-z]{2} +\d{1,2} '
                 r'\d\d:\d\d:\d\d) +(\S+) +([^\s\[]+?)(?:\[(\d+)\])?:? (.*)$')
DELIVERY_DAEMONS = {'smtp', 'lmtp', 'local', 'virtual', 'pipe', 'error',
                    'discard', 'retry', 'relay'}
QID = r'([0-9A-Za-z]{5,20})'


def split_header(line):
    """(program, message) of a syslog line, (None, line) if none"""
    m = HDR.match(line)
    if not m:
        return None, line
    return m.group(2), m.group(4)


def line_kind(prog, body):
    """what a Postfix message is, by its shape: (kind, qid or None)"""
    if prog is None:
        return 'other', None
    daemon = prog.rsplit('/', 1)[-1]
    m = re.match(QID + r': (.*)$', body)
    qid, rest = (m.group(1), m.group(2)) if m else (None, body)
    if qid == 'NOQUEUE':
        qid = None
    if daemon in ('amavis', 'amavisd', 'amavisd-new'):
        m = re.search(r'Queue-ID: ([0-9A-Za-z]+)', body)
        return ('amavis', m.group(1)) if m else ('other', None)
    if not prog.startswith('postfix'):
        return 'other', None
    if daemon == 'smtpd':
        if re.match(r'NOQUEUE: (reject|milter-reject): \S+ from ', body):
            return 'noqueue', None
        if qid and rest.startswith('client='):
            return 'client', qid
        if qid and re.match(r'(reject|milter-reject): \S+ from ', rest):
            return 'reject', qid
        if body.startswith('connect from '):
            return 'connect', None
        if body.startswith('disconnect from '):
            return 'disconnect', None
        if re.match(r'(lost connection|timeout|too many errors) after \S+ '
                    r'(\(\d+ bytes\) )?from ', body):
            return 'lost', None
        if re.match(r'warning: \S+\[[^\]]*\](:\d+)?: SASL \S+ authentication '
                    r'failed', body):
            return 'sasl', None
        return 'other', qid
    if daemon == 'cleanup' and qid:
        if rest.startswith('message-id='):
            return 'message-id', qid
        if rest.startswith('milter-reject: '):
            return 'reject', qid
        if re.match(r'[\w-]+: (header|body) ', rest):
            return 'header', qid
        return 'other', qid
    if daemon in ('qmgr', 'nqmgr', 'oqmgr') and qid:
        if re.match(r'from=.*, status=(force-)?expired', rest):
            return 'expired', qid
        if rest.startswith('from='):
            return 'qmgr-from', qid
        if rest == 'removed':
            return 'removed', qid
        return 'other', qid
    if daemon == 'pickup' and qid and rest.startswith('uid='):
        return 'pickup', qid
    if daemon == 'bounce' and qid and ' notification: ' in rest:
        return 'notification', qid
    if daemon == 'postsuper' and qid:
        return {'removed': 'ps-removed', 'placed on hold': 'ps-hold',
                'released from hold': 'ps-release'}.get(rest, 'other'), qid
    if qid and rest.startswith('to=') and ', status=' in rest:
        return 'delivery', qid
    return 'other', qid


def looks_like_mail(line):
    """a Postfix or content-filter line (by its program), with or without a
    header we can read"""
    prog, _ = split_header(line)
    if prog is not None:
        return re.match(r'(postfix|amavis|rspamd$|spamd$)', prog) is not None
    return re.search(r'(^|\s)(postfix[\w.-]*/[\w/-]+|amavisd?(-new)?|rspamd|'
                     r'spamd)\[\d+\]:? ', line[:200]) is not None


def kv(text):
    """key=value pairs of a Postfix key-value tail (addresses unbracketed)"""
    out = {}
    for m in re.finditer(r'(?:^|[\s,;])([\w-]+)=(<[^>]*>|[^,;\s]*)', text):
        v = m.group(2)
        if v.startswith('<') and v.endswith('>'):
            v = v[1:-1]
        out.setdefault(m.group(1), v)
    return out


def unbracket(s):
    if isinstance(s, str) and s.startswith('<') and s.endswith('>'):
        return s[1:-1]
    return s


def flat(d, prefix=''):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat(v, prefix + k + '.'))
        else:
            out[prefix + k] = v
    return out


def numbered(metas):
    """(line, meta) of the .meta entries that name a line"""
    return sorted((n, m) for n, m in metas.items() if n is not None)


def first(v):
    return v[0] if isinstance(v, list) and v else v


# ------------------------------------------------------------ expectations

class Exp:
    """
    one published expectation, mapped: the object (a message record with
    queue ID qid, a NOQUEUE record, or a session) that must exist with these
    fields; for a message with rcpt set, also a recipient of that address
    with the rcpt_fields. kind groups the results.
    """

    def __init__(self, line, kind, where, qid=None, fields=None, rcpt=None,
                 rcpt_fields=None, note=None):
        self.line, self.kind, self.where, self.qid = line, kind, where, qid
        self.fields = {k: v for k, v in (fields or {}).items()
                       if v is not None}
        self.rcpt = rcpt
        self.rcpt_fields = {k: v for k, v in (rcpt_fields or {}).items()
                            if v is not None}
        self.note = note

    def describe(self):
        if self.where == 'no-reject':
            return 'no rejected record (%s)' % self.note
        parts = []
        if self.qid:
            parts.append('qid=%s' % self.qid)
        if self.rcpt is not None:
            parts.append('to=%s' % self.rcpt)
        for k, v in list(self.fields.items()) + list(self.rcpt_fields.items()):
            parts.append('%s=%s' % (k, short(v, 40)))
        return ' '.join(parts)


RELAY = re.compile(r'^([^\[]*)(?:\[([^\]]*)\])?(?::(\d+))?$')


def get(obj, field):
    if field == 'message_id':
        return unbracket(obj.get('message_id'))
    if field == 'address':
        a = obj.get('address')
        m = re.match(r'^"(.*)"@([^"]*)$', a or '')
        return '%s@%s' % (m.group(1), m.group(2)) if m else a
    if field.startswith('relay~'):
        m = RELAY.match(obj.get('relay') or '')
        if not m:
            return None
        return {'relay~host': m.group(1), 'relay~addr': m.group(2),
                'relay~port': m.group(3)}[field]
    if field == 'sasl_failed':
        return (obj.get('sasl_failures') or 0) > 0
    if field == 'lost?':
        return bool(obj.get('lost'))
    if field.endswith('$'):
        return get(obj, field[:-1])
    v = obj
    for part in field.split('.'):
        v = v.get(part) if isinstance(v, dict) else None
    return v


def same(got, want):
    if isinstance(want, bool):
        return bool(got) == want
    if want == '' and got is None:
        return False
    if got is None:
        return False
    try:
        return float(got) == float(want)
    except (TypeError, ValueError):
        return str(got) == str(want)


def diffs(obj, want):
    out = []
    for k, v in want.items():
        g = get(obj, k)
        if v == '<absent>':
            if g is not None:
                out.append('%s: want none, got %r' % (k, short(g, 50)))
        elif k.endswith('$'):
            if not (isinstance(g, str) and g.endswith(v)):
                out.append('%s: want ...%r, got %r' % (k[:-1], short(v, 50),
                                                       short(g, 70)))
        elif not same(g, v):
            out.append('%s: want %r, got %r' % (k, short(v, 50),
                                                 short(g, 50)))
    return out


def check(e, run):
    """(ok, why) of one expectation against one run"""
    if e.where == 'no-reject':
        # a line that refuses nothing (reject_warning, filter, discard): the
        # line alone must not make a record that says "rejected"
        bad = [r for r in run.records if r.get('rejected')]
        if bad:
            return False, 'a record says rejected: %s' % short(
                json.dumps(bad[0]['rejected']), 120)
        return True, ''
    if e.where == 'session':
        cands = run.sessions
        what = 'session'
    elif e.where == 'noqueue':
        cands = [r for r in run.records if r.get('queue_id') is None]
        what = 'NOQUEUE record'
    else:
        cands = [r for r in run.records if r.get('queue_id') == e.qid]
        what = 'record with queue_id %s' % e.qid
    if not cands:
        return False, 'no %s' % what
    best = None
    for c in cands:
        d = diffs(c, e.fields)
        if e.rcpt is not None:
            rcs = [rc for rc in c.get('recipients') or []
                   if get(rc, 'address') == e.rcpt]
            if not rcs:
                have = [rc.get('address') for rc in c.get('recipients') or []]
                d.append('no recipient %s (has %s)' % (e.rcpt,
                                                        short(have, 60)))
            else:
                rd = min((diffs(rc, e.rcpt_fields) for rc in rcs), key=len)
                d.extend('to=%s %s' % (e.rcpt, x) for x in rd)
        if not d:
            return True, ''
        if best is None or len(d) < len(best):
            best = d
    return False, '; '.join(best)


# --------------------------------------------------- the sources' schemas

def m_datadog(lines, metas, progs):
    exps = []
    for n, meta in numbered(metas):
        f = flat(meta.get('expected') or {})
        prog, body = split_header(lines[n - 1])
        kind, lqid = line_kind(prog, body)
        qid = f.get('postfix.client_id')
        if kind == 'qmgr-from' and qid:
            exps.append(Exp(n, 'sender', 'message', qid, {
                'sender': f.get('properties.from'),
                'nrcpt': f.get('properties.nrcpt'),
                'size': f.get('network.bytes_written')}))
        elif kind == 'delivery' and qid and f.get('properties.to'):
            exps.append(Exp(n, 'recipient', 'message', qid,
                            rcpt=f['properties.to'], rcpt_fields={
                                'status': f.get('properties.status'),
                                'dsn': f.get('properties.dsn'),
                                'delay': f.get('properties.delay')}))
        elif kind == 'connect' and f.get('network.client.ip'):
            exps.append(Exp(n, 'session', 'session', fields={
                'client_ip': f['network.client.ip'],
                'client_host': f.get('postfix.hostname')}))
        elif kind == 'message-id' and qid and f.get('message-id'):
            exps.append(Exp(n, 'message-id', 'message', qid,
                            {'message_id': f['message-id']}))
        elif kind in ('client', 'removed') and qid:
            exps.append(Exp(n, 'queue-id', 'message', qid))
    return exps


def sekoia_prog(appname, body):
    """program of a SEKOIA line; inferred from the message when the test
    gives none (null, '') or only 'postfix'"""
    if appname and appname != 'postfix':
        return appname
    if re.match(QID + r': to=', body):
        return 'postfix/local' if 'relay=local' in body else 'postfix/smtp'
    if re.match(QID + r': message-id=', body):
        return 'postfix/cleanup'
    if re.match(QID + r': (Used TLS|host )', body):
        return 'postfix/smtp'
    return 'postfix/smtpd'


def session_exp(n, kind, fl):
    """a session expectation: connect, disconnect, lost or a SASL failure"""
    if kind == 'sasl':
        fl['sasl_failed'] = True
    if kind == 'lost':
        fl['lost?'] = True
    return Exp(n, 'session', 'session', fields=fl)


def m_sekoia(lines, metas, progs):
    exps = []
    for n, meta in numbered(metas):
        f = flat(meta.get('expected') or {})
        body = lines[n - 1]
        prog = progs.get(n)
        kind, lqid = line_kind(prog, body)
        qid = f.get('postfix.queue_id.local')
        to = first(f.get('email.to.address'))
        frm = first(f.get('email.from.address'))
        ip = f.get('source.ip')
        if kind == 'delivery' and qid and to:
            exps.append(Exp(n, 'recipient', 'message', qid, rcpt=to,
                            rcpt_fields={'status': f.get('action.name'),
                                         'orig_to': f.get('postfix.orig_to')}))
        elif kind == 'message-id' and qid and f.get('email.message_id'):
            exps.append(Exp(n, 'message-id', 'message', qid,
                            {'message_id': f['email.message_id']}))
        elif kind == 'client' and qid and ip:
            exps.append(Exp(n, 'client', 'message', qid, {
                'client_ip': ip, 'client_host': f.get('source.domain')}))
        elif kind in ('qmgr-from', 'pickup') and qid and frm is not None:
            exps.append(Exp(n, 'sender', 'message', qid, {'sender': frm}))
        elif kind == 'header' and lqid and frm is not None \
                and ' from=<' in body:
            # the envelope sender of the "; from=<s> to=<r>" tail
            exps.append(Exp(n, 'sender', 'message', lqid, {'sender': frm}))
        elif re.match(r'NOQUEUE: filter: ', body) and \
                f.get('action.name') == 'filter':
            exps.append(Exp(n, 'no-reject', 'no-reject',
                            note='NOQUEUE filter'))
        elif kind == 'noqueue' and f.get('action.name') == 'reject':
            exps.append(Exp(n, 'noqueue', 'noqueue', fields={
                'client_ip': ip, 'sender': frm}, rcpt=to))
        elif kind in ('connect', 'disconnect', 'lost', 'sasl') and ip:
            exps.append(session_exp(n, kind, {'client_ip': ip}))
    return exps


def m_balabit(lines, metas, progs):
    exps = []
    for n, meta in numbered(metas):
        f = meta.get('expected') or {}
        prog = progs.get(n)
        kind, lqid = line_kind(prog, lines[n - 1])
        qid = f.get('postfix.qid')
        if kind == 'header' and qid:
            if f.get('postfix.sender') is not None:
                exps.append(Exp(n, 'sender', 'message', qid,
                                {'sender': f['postfix.sender']}))
            if f.get('postfix.header.name'):
                exps.append(Exp(n, 'header', 'message', qid, {
                    'headers.' + f['postfix.header.name']:
                    f.get('postfix.header.value')}))
        elif kind == 'reject' and qid and f.get('postfix.recipient'):
            exps.append(Exp(n, 'reject', 'message', qid,
                            {'sender': f.get('postfix.sender')},
                            rcpt=f['postfix.recipient'], rcpt_fields={
                                'status': 'rejected',
                                'dsn': f.get('postfix.result.dsn')}))
        elif kind == 'lost' and f.get('postfix.client.ip'):
            exps.append(Exp(n, 'session', 'session', fields={
                'client_ip': f['postfix.client.ip'],
                'client_host': f.get('postfix.client.hostname'),
                'lost?': True}))
        elif kind == 'expired' and qid:
            exps.append(Exp(n, 'expired', 'message', qid, {
                'sender': f.get('postfix.sender'), 'expired': True}))
        elif kind == 'pickup' and qid:
            exps.append(Exp(n, 'sender', 'message', qid,
                            {'sender': f.get('postfix.sender')}))
        elif kind == 'delivery' and qid and f.get('postfix.to'):
            exps.append(Exp(n, 'recipient', 'message', qid,
                            rcpt=f['postfix.to'], rcpt_fields={
                                'orig_to': f.get('postfix.orig_to'),
                                'relay': f.get('postfix.relay'),
                                'dsn': f.get('postfix.dsn'),
                                'status': f.get('postfix.status'),
                                'response': f.get('postfix.statusmsg'),
                                'delay': f.get('postfix.delay')}))
    return exps


def crowdsec_fields(assertions):
    """Evt.Parsed / Evt.Unmarshaled values of the s01-parse stage"""
    out = {}
    for a in assertions or []:
        if not a.startswith('s01-parse '):
            continue
        m = re.search(r'Evt\.Parsed\["(\w+)"\] == "(.*)"$', a)
        if m:
            out[m.group(1)] = m.group(2)
        m = re.search(r'Evt\.Unmarshaled\["postfix"\]\["(\w+)"\] == "(.*)"$',
                      a)
        if m:
            out['kv.' + m.group(1)] = m.group(2)
    return out


def m_crowdsec(lines, metas, progs):
    exps = []
    for n, meta in numbered(metas):
        p = crowdsec_fields(meta.get('parser_assertions'))
        if not p:
            continue
        prog, body = split_header(lines[n - 1])
        kind, lqid = line_kind(prog, body)
        if kind == 'sasl' and p.get('remote_addr'):
            exps.append(Exp(n, 'session', 'session', fields={
                'client_ip': p['remote_addr'],
                'client_host': p.get('remote_host'), 'sasl_failed': True}))
        elif kind == 'noqueue' and p.get('action') == 'reject':
            exps.append(Exp(n, 'noqueue', 'noqueue', fields={
                'client_ip': p.get('remote_addr'),
                'client_host': p.get('remote_host'),
                'rejected.stage': p.get('command'),
                'rejected.code': p.get('smtp_basic_status_code'),
                'rejected.dsn': p.get('smtp_enhanced_status_code'),
                'rejected.text$': p.get('reason') or None,
                'sender': unbracket(p.get('kv.from'))},
                rcpt=unbracket(p.get('kv.to'))))
        elif kind == 'amavis' and lqid and p.get('amavis_action'):
            # the record is found by the line's Queue-ID; the verdict values
            # are the published ones
            exps.append(Exp(n, 'verdict', 'message', lqid, {
                'verdict.source': 'amavis',
                'verdict.action': p['amavis_action']}))
    return exps


def m_fail2ban(lines, metas, progs):
    exps = []
    for n, meta in numbered(metas):
        f = meta.get('failJSON') or {}
        host = f.get('host')
        if not f.get('match') or not host:
            continue
        prog, body = split_header(lines[n - 1])
        kind, lqid = line_kind(prog, body)
        if kind == 'noqueue':
            exps.append(Exp(n, 'noqueue', 'noqueue', fields={
                'client_ip': host}))
        elif kind in ('connect', 'disconnect', 'lost', 'sasl'):
            fl = {'client_ip': host}
            if kind == 'sasl':
                fl['sasl_failed'] = True
            exps.append(Exp(n, 'session', 'session', fields=fl))
    return exps


def m_kumina(lines, metas, progs):
    return []     # aggregate counters: see agg_kumina


LM_STATUS = {'SentStatus': 'sent', 'DeferredStatus': 'deferred',
             'BouncedStatus': 'bounced', 'ExpiredStatus': 'expired'}


def lightmeter_fields(assertions):
    out = {}
    for a in assertions or []:
        m = re.match(r'So\(([\w.]+), (ShouldEqual|ShouldEndWith|ShouldBeNil|'
                     r'ShouldBeTrue|ShouldBeFalse|ShouldResemble)(?:, (.*))?\)$',
                     a)
        if not m:
            continue
        name, op, v = m.groups()
        if op == 'ShouldBeNil':
            v = None
        elif op == 'ShouldBeTrue':
            v = True
        elif op == 'ShouldBeFalse':
            v = False
        elif v is not None:
            mm = re.match(r'^net\.ParseIP\(["`](.*)["`]\)$', v)
            if mm:
                v = mm.group(1)
            elif len(v) >= 2 and v[0] in '"`' and v[-1] == v[0]:
                v = v[1:-1]
            elif v in LM_STATUS:
                v = LM_STATUS[v]
            elif re.match(r'^-?[\d.]+$', v):
                v = float(v)
        out[name] = v
    return out


def lm_addr(f, prefix):
    local = f.get('p.%sLocalPart' % prefix)
    dom = f.get('p.%sDomainPart' % prefix)
    if local is None:
        return None
    if local == '' and dom == '':
        return ''
    return local + ('@' + dom if dom else '')


def m_lightmeter_parser(lines, metas, progs):
    exps = []
    for n, meta in numbered(metas):
        f = lightmeter_fields(meta.get('assertions'))
        prog, body = split_header(lines[n - 1])
        kind, lqid = line_kind(prog, body)
        qid = f.get('p.Queue')
        if kind == 'delivery' and qid:
            rcpt = lm_addr(f, 'Recipient')
            orig = lm_addr(f, 'OrigRecipient')
            resp = f.get('p.ExtraMessage')
            if isinstance(resp, str) and resp.startswith('(') \
                    and resp.endswith(')'):
                resp = resp[1:-1]
            rf = {'status': f.get('p.Status'), 'dsn': f.get('p.Dsn'),
                  'delay': f.get('p.Delay'), 'response': resp,
                  'orig_to': '<absent>' if orig == '' else orig}
            if f.get('p.RelayName'):
                rf['relay~host'] = f['p.RelayName']
            if f.get('p.RelayIP'):
                rf['relay~addr'] = f['p.RelayIP']
            if f.get('p.RelayPath'):
                rf['relay~addr'] = f['p.RelayPath']
            if f.get('p.RelayPort'):
                rf['relay~port'] = f['p.RelayPort']
            if rcpt:
                exps.append(Exp(n, 'recipient', 'message', qid, rcpt=rcpt,
                                rcpt_fields=rf))
        elif kind == 'message-id' and 'p.MessageId' in f \
                and f.get('p.Corrupted') is not True:
            exps.append(Exp(n, 'message-id', 'message', lqid,
                            {'message_id': f['p.MessageId']}))
        elif kind == 'pickup' and qid and f.get('p.Sender'):
            exps.append(Exp(n, 'sender', 'message', qid,
                            {'sender': f['p.Sender']}))
        elif kind in ('connect', 'disconnect') and f.get('p.IP'):
            exps.append(Exp(n, 'session', 'session',
                            fields={'client_ip': f['p.IP']}))
        elif kind == 'client' and (f.get('p.IP') or qid):
            exps.append(Exp(n, 'client', 'message', qid or lqid,
                            {'client_ip': f.get('p.IP')}))
        elif kind == 'expired' and lm_addr(f, 'Sender'):
            exps.append(Exp(n, 'sender', 'message', lqid,
                            {'sender': lm_addr(f, 'Sender')}))
        elif kind == 'reject' and qid and f.get('p.ExtraMessage'):
            em = f['p.ExtraMessage']
            m = re.match(r'(\S+) from [^:]*\]: (?:(\d{3}) )?(\d\.\d+\.\d+)? ?',
                         em)
            if not m:
                continue
            stage, code, dsn = m.groups()
            if stage == 'RCPT':
                to = kv(em.rsplit(';', 1)[-1]).get('to')
                exps.append(Exp(n, 'reject', 'message', qid, rcpt=to,
                                rcpt_fields={'status': 'rejected',
                                             'dsn': dsn}))
            else:
                exps.append(Exp(n, 'reject', 'message', qid, {
                    'rejected.stage': stage, 'rejected.dsn': dsn}))
        elif kind == 'qmgr-from' and qid:
            exps.append(Exp(n, 'queue-id', 'message', qid))
    return exps


MS_STATUS = re.compile(r'^(\w[\w-]*) \((.*)\)$', re.S)


def ms_delivery(n, e):
    """msimerson's "to" expectations; its status is "WORD (response)" """
    rf = {'relay': e.get('relay'), 'dsn': e.get('dsn'),
          'delay': e.get('delay'), 'orig_to': e.get('orig_to')}
    st = e.get('status')
    m = MS_STATUS.match(st or '')
    if m:
        rf['status'], rf['response'] = m.group(1), m.group(2)
    # a bare derived word ("forwarded") is the library's own reading: skipped
    return Exp(n, 'recipient', 'message', e['qid'], rcpt=e['to'],
               rcpt_fields=rf)


def m_msimerson(lines, metas, progs):
    exps = []
    for n, meta in numbered(metas):
        e = meta.get('expected')
        if not isinstance(e, dict):
            continue
        prog = progs.get(n)
        body = lines[n - 1]
        if prog is None:
            prog, body = split_header(body)
        kind, lqid = line_kind(prog, body)
        qid = e.get('qid')
        if not qid:
            continue          # lines without queue ID: no record to look at
        if kind == 'delivery' and e.get('to'):
            exps.append(ms_delivery(n, e))
        elif kind == 'message-id' and e.get('message-id') is not None:
            exps.append(Exp(n, 'message-id', 'message', qid,
                            {'message_id': e['message-id']}))
        elif kind in ('qmgr-from', 'pickup') and 'from' in e:
            exps.append(Exp(n, 'sender', 'message', qid, {
                'sender': e['from'], 'size': e.get('size'),
                'nrcpt': e.get('nrcpt')}))
        elif kind == 'expired' and 'from' in e:
            exps.append(Exp(n, 'expired', 'message', qid,
                            {'sender': e['from'], 'expired': True}))
        elif kind == 'notification' and e.get('dsnQid'):
            exps.append(Exp(n, 'notification', 'message', e['dsnQid'],
                            {'bounce_of': qid}))
        elif kind == 'ps-removed':
            exps.append(Exp(n, 'queue-id', 'message', qid, {'deleted': True}))
        elif kind == 'removed':
            exps.append(Exp(n, 'queue-id', 'message', qid, {'complete': True}))
        elif kind == 'client' and e.get('client'):
            m = re.match(r'(.*)\[(.*)\]$', e['client'])
            if m:
                exps.append(Exp(n, 'client', 'message', qid, {
                    'client_host': m.group(1), 'client_ip': m.group(2),
                    'sasl_method': e.get('sasl_method'),
                    'sasl_username': e.get('sasl_username')}))
    return exps


def ws_resp(e):
    for k in ('postfix_smtp_response', 'postfix_pipe_response',
              'postfix_local_response', 'postfix_error_response'):
        if k in e:
            return e[k]
    return None


def m_whyscream(lines, metas, progs):
    exps = []
    for n, meta in numbered(metas):
        e = meta.get('expected') or {}
        prog = progs.get(n)
        kind, lqid = line_kind(prog, lines[n - 1])
        qid = e.get('postfix_queueid')
        if qid == 'NOQUEUE':
            qid = None
        d = kv(e.get('postfix_keyvalue_data', ''))
        ip = e.get('postfix_client_ip')
        if kind == 'delivery' and qid and 'to' in d:
            exps.append(Exp(n, 'recipient', 'message', qid, rcpt=d['to'],
                            rcpt_fields={
                                'orig_to': d.get('orig_to'),
                                'relay': d.get('relay'), 'dsn': d.get('dsn'),
                                'delay': d.get('delay'),
                                'status': e.get('postfix_status'),
                                'response': ws_resp(e)}))
        elif kind == 'message-id' and qid and 'postfix_message-id' in e:
            if e['postfix_message-id'] == '':
                continue      # message-id=<>: our model keeps no empty ID
            exps.append(Exp(n, 'message-id', 'message', qid,
                            {'message_id': e['postfix_message-id']}))
        elif kind == 'header' and qid and 'from' in d:
            exps.append(Exp(n, 'sender', 'message', qid, {'sender': d['from']}))
        elif kind == 'reject' and qid and e.get('postfix_milter_result') \
                == 'reject':
            m = re.match(r'(\S+) from \S+\]: (\d\.\d+\.\d+)?',
                         e.get('postfix_milter_message', ''))
            exps.append(Exp(n, 'reject', 'message', qid, {
                'rejected.stage': m.group(1) if m else None,
                'rejected.dsn': m.group(2) if m else None,
                'sender': d.get('from')}))
        elif kind in ('pickup', 'qmgr-from') and qid and 'from' in d:
            exps.append(Exp(n, 'sender', 'message', qid, {
                'sender': d['from'], 'size': d.get('size'),
                'nrcpt': d.get('nrcpt')}))
        elif kind == 'expired' and qid:
            exps.append(Exp(n, 'expired', 'message', qid, {
                'sender': e.get('postfix_from'),
                'expired': e.get('postfix_status') == 'expired' or None}))
        elif kind == 'removed' and qid:
            exps.append(Exp(n, 'queue-id', 'message', qid, {'complete': True}))
        elif kind == 'ps-removed' and qid:
            exps.append(Exp(n, 'queue-id', 'message', qid, {'deleted': True}))
        elif kind == 'ps-hold' and qid:
            exps.append(Exp(n, 'queue-id', 'message', qid, {'held': True}))
        elif kind == 'notification' and qid and e.get('postfix_bounce_queueid'):
            exps.append(Exp(n, 'notification', 'message',
                            e['postfix_bounce_queueid'], {'bounce_of': qid}))
        elif kind == 'client' and qid and 'client' in d:
            m = re.match(r'(.*)\[(.*)\]$', d['client'])
            if m:
                exps.append(Exp(n, 'client', 'message', qid, {
                    'client_host': m.group(1), 'client_ip': m.group(2)}))
        elif kind == 'noqueue' and e.get('postfix_action') in (
                'reject', 'milter-reject'):
            exps.append(Exp(n, 'noqueue', 'noqueue', fields={
                'client_ip': ip,
                'client_host': e.get('postfix_client_hostname'),
                'rejected.stage': e.get('postfix_smtp_stage'),
                'rejected.code': e.get('postfix_status_code'),
                'rejected.dsn': e.get('postfix_status_code_enhanced'),
                'rejected.text$': e.get('postfix_status_message') or None,
                'sender': d.get('from')}, rcpt=d.get('to')))
        elif prog == 'postfix/smtpd' and qid is None and e.get(
                'postfix_action') in ('reject_warning', 'filter', 'discard'):
            exps.append(Exp(n, 'no-reject', 'no-reject',
                            note='NOQUEUE ' + e['postfix_action']))
        elif kind in ('connect', 'disconnect', 'lost', 'sasl') and ip:
            exps.append(session_exp(n, kind, {
                'client_ip': ip, 'client_host': e.get('postfix_client_hostname')}))
    return exps


def m_youyo(lines, metas, progs):
    exps = []
    for meta in metas.get(None, []):
        e = meta.get('expected_message') or {}
        qid = e.get('queue_id')
        if not qid:
            continue
        exps.append(Exp(None, 'client', 'message', qid, {
            'host': e.get('hostname'), 'client_host': e.get('client_hostname'),
            'client_ip': e.get('client_ip')}))
        if e.get('message_id'):
            exps.append(Exp(None, 'message-id', 'message', qid,
                            {'message_id': e['message_id']}))
        if e.get('from') is not None:
            exps.append(Exp(None, 'sender', 'message', qid,
                            {'sender': e['from']}))
        for m in e.get('messages') or []:
            exps.append(Exp(None, 'recipient', 'message', qid, rcpt=m['to'],
                            rcpt_fields={'status': m.get('status')}))
    return exps


# -------------------------------------------------------- aggregate checks

def agg_kumina(lines, metas):
    """the exporter's counters per test case, fed as a group of lines"""
    groups = []
    for n in sorted(k for k in metas if k is not None):
        tc = metas[n].get('test_case')
        if groups and groups[-1][0] == tc:
            groups[-1][1].append(n)
        else:
            groups.append((tc, [n], metas[n].get(
                'expected_counters_for_test_case') or {}))
    out = []
    for tc, ns, want in groups:
        data = ''.join(lines[n - 1] + '\n' for n in ns).encode(
            'utf-8', 'surrogateescape')
        r = run_parse(data=data)
        if r.problem():
            out.append((tc, False, 'parse: ' + r.problem()))
            continue
        got = {
            'removedCount': ('complete message records',
                             sum(1 for x in r.records if x.get('complete'))),
            'saslFailedCount': ('session sasl_failures',
                                sum(s.get('sasl_failures') or 0
                                    for s in r.sessions)),
            'expiredCount': ('expired records',
                             sum(1 for x in r.records if x.get('expired'))),
            'smtpdMessagesProcessed': (
                'records with client_ip',
                sum(1 for x in r.records
                    if x.get('queue_id') and x.get('client_ip'))),
            'smtpMessagesProcessed': (
                'delivery attempts',
                sum(rc.get('attempts') or 0 for x in r.records
                    for rc in x.get('recipients') or []
                    if rc.get('status') != 'rejected')),
        }
        bad = []
        nchk = 0
        for k, v in want.items():
            if k not in got:
                continue      # outgoingTLS: no counterpart
            nchk += 1
            what, g = got[k]
            if g != v:
                bad.append('%s=%s but %s %s' % (k, v, g, what))
        if nchk:
            out.append(('lines %d-%d "%s"' % (ns[0], ns[-1], tc), not bad,
                        '; '.join(bad)))
    return out


def agg_pflogsumm(run, metas):
    out = []
    for meta in metas.get(None, []):
        want = meta.get('expected_aggregate') or {}
        recs = run.records
        rcpts = [rc for x in recs for rc in x.get('recipients') or []]
        got = {
            'MsgsRcvd': ('received records (queue ID, client or local)',
                         sum(1 for x in recs if x.get('queue_id') and (
                             x.get('client_ip') or x.get('local_submission')))),
            'MsgsDlvrd': ('recipients sent',
                          sum(1 for rc in rcpts if rc.get('status') == 'sent')),
            'MsgsBncd': ('recipients bounced', sum(
                1 for rc in rcpts if rc.get('status') == 'bounced')),
            'MsgsDfrd': ('records with a deferred recipient', sum(
                1 for x in recs if any(rc.get('status') == 'deferred'
                                       for rc in x.get('recipients') or []))),
            'MsgsRjctd': ('NOQUEUE rejects', sum(
                1 for x in recs if not x.get('queue_id')
                and x.get('rejected'))),
            'SendgUserCnt': ('distinct qmgr senders', len({
                x.get('sender') for x in recs
                if x.get('queue_id') and 'size' in x})),
        }
        for k, v in want.items():
            if k not in got:
                continue
            what, g = got[k]
            out.append((k, g == v, '%s=%s but %s %s' % (k, v, g, what)))
    return out


# ------------------------------------------------------------------ sources

# name prefix -> (mapper, mode, how to find the program of a body-only line)
# mode 'lines': each line is a test case of its own: an expectation holds if
# the whole file or the line alone satisfies it; 'flow': the whole file only.
SOURCES = [
    ('DataDog__', m_datadog, 'lines', None),
    ('SEKOIA-IO__intake-formats__Postfix', m_sekoia, 'lines', 'appname'),
    ('balabit__', m_balabit, 'lines', 'program'),
    ('crowdsecurity__', m_crowdsec, 'lines', None),
    ('fail2ban__', m_fail2ban, 'lines', None),
    ('kumina__', m_kumina, 'lines', None),
    ('lightmeterio__ControlCenter__pkg_postfix_logparser_parser_test',
     m_lightmeter_parser, 'lines', None),
    ('msimerson__postfix-parser__test_index.js__postfixLines', m_msimerson,
     'lines', 'program'),
    ('msimerson__postfix-parser__test_index.js__syslogLines', m_msimerson,
     'lines', None),
    ('whyscream__postfix-grok-patterns__test', m_whyscream, 'lines',
     'program_hint'),
    ('youyo__postfix-log-parser__test_test.log', m_youyo, 'flow', None),
]


def source_of(name):
    for prefix, mapper, mode, progkey in SOURCES:
        if name.startswith(prefix):
            return mapper, mode, progkey
    return None, 'flow', None


def body_prog(progkey, meta, body):
    """program for a synthesized header, None to feed the line as it is"""
    if progkey is None or meta is None:
        return None
    p = meta.get(progkey)
    if progkey == 'appname':
        return sekoia_prog(p, body)
    if p in (None, '', 'syslog', 'empty', '(fragment)'):
        return None
    return p


def load_meta(path):
    metas = {}
    if not os.path.exists(path):
        return metas
    with open(path, encoding='utf-8') as f:
        for raw in f:
            raw = raw.strip()
            if not raw:
                continue
            d = json.loads(raw)
            n = d.get('line')
            if n is None:
                metas.setdefault(None, []).append(d)
            else:
                metas[n] = d
    return metas


class Corpusfile:
    def __init__(self, logname):
        self.path = os.path.join(CORPUS, logname)
        self.base = logname[:-4]
        self.name = 'corpus/' + self.base
        with open(self.path, 'rb') as f:
            data = f.read()
        text = data.decode('utf-8', 'surrogateescape')
        self.lines = text.split('\n')
        if self.lines and self.lines[-1] == '':
            self.lines.pop()
        self.metas = load_meta(os.path.join(CORPUS, self.base + '.meta'))
        self.mapper, self.mode, progkey = source_of(self.base)
        # the lines as fed: synthesized headers for body-only sources
        self.progs = {}
        self.fed = list(self.lines)
        if progkey:
            for n, line in enumerate(self.lines, 1):
                p = body_prog(progkey, self.metas.get(n), line)
                if p:
                    self.progs[n] = p
                    self.fed[n - 1] = 'Jan  1 00:00:00 host %s[%d]: %s' % (
                        p, 1000 + n, line)
        self.synth = bool(self.progs)

    def fed_bytes(self):
        return ''.join(x + '\n' for x in self.fed).encode('utf-8',
                                                          'surrogateescape')


# ------------------------------------------------------------------- main

def report_expectations(cf, exps, whole, alone):
    kinds = {}
    for e in exps:
        kinds.setdefault(e.kind, []).append(e)
    for kind, es in kinds.items():
        fails, only_alone, only_whole = [], [], []
        for e in es:
            if e.where == 'no-reject':
                if e.line in alone:
                    ok, why = check(e, alone[e.line])
                    if not ok:
                        fails.append((e, 'alone: ' + why))
                continue
            ok, why = check(e, whole)
            if cf.mode == 'lines' and e.line in alone:
                # a test case of its own: the line alone, or the whole file
                ok2, why2 = check(e, alone[e.line])
                if ok2 and not ok:
                    only_alone.append(e.line)
                elif ok and not ok2:
                    only_whole.append((e.line, why2))
                elif not ok:
                    cls = alone[e.line].classify()
                    why = 'alone (%s/%s): %s' % (cls[0], cls[1], why2)
                ok = ok or ok2
            if not ok:
                fails.append((e, why))
        if VERBOSE:
            for n in only_alone:
                say('INFO:   %s %s line %d: only when fed alone'
                    % (cf.base, kind, n))
            for n, why in only_whole:
                say('INFO:   %s %s line %d: only within the whole file '
                    '(alone: %s)' % (cf.base, kind, n, why))
        label = '%d %s expectation%s' % (len(es), kind,
                                        '' if len(es) == 1 else 's')
        if not fails:
            extra = []
            if only_alone:
                extra.append('%d only when the line is fed alone'
                             % len(only_alone))
            if only_whole:
                extra.append('%d only within the whole file (lines %s)' % (
                    len(only_whole), ','.join(str(n) for n, _ in only_whole)))
            extra = ' (%s)' % '; '.join(extra) if extra else ''
            say('PASS: %s: %s%s' % (cf.name, label, extra))
        else:
            ex = []
            for e, why in fails[:EXAMPLES]:
                where = 'line %d' % e.line if e.line else 'file'
                ex.append('%s: want %s: %s' % (where, short(e.describe(), 110),
                                               why))
            more = ' ...' if len(fails) > EXAMPLES else ''
            say('FAIL: %s: %d of %s failed: %s%s' % (
                cf.name, len(fails), label, ' | '.join(ex), more))


def report_stats(cf, whole, alone):
    st = whole.stats
    unknown = {}
    for (prog, kind), n in st['kinds'].items():
        if kind == 'unknown':
            unknown[prog] = unknown.get(prog, 0) + n
    pf_unknown = sum(n for p, n in unknown.items()
                     if p not in ('rspamd', 'amavis', 'spamd'))
    cf_unknown = sum(n for p, n in unknown.items()
                     if p in ('rspamd', 'amavis', 'spamd'))
    # the mail lines the parser did not take: from the isolated runs
    unrec, nohdr = [], []
    for n in sorted(alone):
        line = cf.fed[n - 1]
        if not looks_like_mail(line):
            continue
        prog, kind = alone[n].classify()
        if kind == 'unknown':
            unrec.append((n, prog, cf.lines[n - 1]))
        elif kind == 'not-a-log-line':
            nohdr.append((n, cf.lines[n - 1]))
    if not (st['known'] or unknown or nohdr or st['malformed']):
        say('INFO: %s: --stats: no mail lines (%d lines, %d not a log line, '
            '%d other programs)' % (cf.name, len(cf.lines), st['malformed'],
                                    st['other']))
        return
    if not (unknown or nohdr):
        say('INFO: %s: --stats: all %d mail lines recognised%s%s' % (
            cf.name, st['known'] or 0,
            ' (%d lines not a log line, none of them a mail line)'
            % st['malformed'] if st['malformed'] else '',
            ' [synthesized headers]' if cf.synth else ''))
        return
    say('INFO: %s: --stats: Postfix lines not recognised %d%s, content-filter '
        'lines not recognised %d; not a log line %d (%d look like mail lines)'
        '%s' % (cf.name, pf_unknown,
                ' (%s)' % ', '.join('%s %d' % kv_ for kv_ in sorted(
                    unknown.items())) if unknown else '',
                cf_unknown, st['malformed'], len(nohdr),
                ' [synthesized headers]' if cf.synth else ''))
    limit = None if VERBOSE else LIST_UNRECOGNISED
    for n, prog, line in unrec[:limit]:
        say('INFO:   not recognised, line %d [%s]: %s' % (n, prog,
                                                          short(line, 300)))
    if limit is not None and len(unrec) > limit:
        say('INFO:   ... %d more (CORPUS_VERBOSE=1 lists them)'
            % (len(unrec) - limit))
    for n, line in nohdr[:limit]:
        say('INFO:   not a log line, line %d: %s' % (n, short(line, 300)))
    if limit is not None and len(nohdr) > limit:
        say('INFO:   ... %d more (CORPUS_VERBOSE=1 lists them)'
            % (len(nohdr) - limit))


def report_file(cf, raw, syn, exps, alone):
    # 1. no crash
    probs = []
    if raw.problem():
        probs.append('file: ' + raw.problem())
    if syn is not None and syn.problem():
        probs.append('with synthesized headers: ' + syn.problem())
    crashed = [(n, r.problem()) for n, r in sorted(alone.items())
               if r.problem()]
    if crashed:
        probs.append('%d lines fed alone, first line %d: %s' % (
            len(crashed), crashed[0][0], crashed[0][1]))
    main_run = syn or raw
    if probs:
        say('FAIL: %s: %s' % (cf.name, '; '.join(probs)))
    else:
        say('PASS: %s: parse exits 0, %d JSON lines (%d messages, %d '
            'sessions)%s' % (cf.name, main_run.nlines, len(main_run.records),
                             len(main_run.sessions),
                             ', also with synthesized headers' if syn else ''))
    # 3. what was not recognised
    report_stats(cf, main_run, alone)
    # 2. the published expectations
    if exps:
        report_expectations(cf, exps, main_run, alone)
    if cf.base.startswith('kumina__'):
        for name, ok, why in agg_kumina(cf.lines, cf.metas):
            say('%s: %s: aggregate counters, %s%s' % (
                'PASS' if ok else 'FAIL', cf.name, name,
                '' if ok else ': ' + why))
    elif cf.base.startswith('vignemail1__pflogsumm-go__testdata_sample'):
        res = agg_pflogsumm(main_run, cf.metas)
        bad = [why for _, ok, why in res if not ok]
        if res:
            say('%s: %s: %d pflogsumm aggregate counters%s' % (
                'FAIL' if bad else 'PASS', cf.name, len(res),
                ': %d differ: %s' % (len(bad), '; '.join(bad))
                if bad else ''))
    elif cf.metas:
        nmeta = len([k for k in cf.metas if k is not None]) + len(
            cf.metas.get(None, []))
        mapped = len({e.line for e in exps})
        say('INFO: %s: %d of %d .meta entries mapped onto our output (the '
            'rest publish nothing our model carries)'
            % (cf.name, mapped, nmeta))


def main():
    if CORPUS is None:
        say('SKIP: %s: ../shared/corpus not present' % SUITE)
        return 0
    if not os.access(RELAYGUARD, os.X_OK):
        say('FAIL: %s: no relayguard binary at %s (run make)'
            % (SUITE, RELAYGUARD))
        return 1
    logs = sorted(f for f in os.listdir(CORPUS) if f.endswith('.log'))
    files = [Corpusfile(f) for f in logs]
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=max(2, 2 * (os.cpu_count() or 1)))

    # 1. every file whole (and with synthesized headers)
    whole_raw = {cf.base: pool.submit(run_parse, path=cf.path)
                 for cf in files}
    whole_syn = {cf.base: pool.submit(run_parse, data=cf.fed_bytes())
                 for cf in files if cf.synth}
    # 2./3. lines alone: those with expectations, and the mail lines of the
    # files where something was not recognised (to name them)
    exps_of, alone_f = {}, {}
    for cf in files:
        main_run = (whole_syn.get(cf.base) or whole_raw[cf.base]).result()
        try:
            exps = cf.mapper(cf.lines, cf.metas, cf.progs) if cf.mapper \
                else []
        except Exception as e:      # a .meta schema we did not expect
            say('FAIL: %s: mapping its .meta failed: %s: %s'
                % (cf.name, type(e).__name__, e))
            exps = []
        exps_of[cf.base] = exps
        want = {e.line for e in exps if e.line} if cf.mode == 'lines' \
            else set()
        st = main_run.stats
        if any(k == 'unknown' and n for (_, k), n in st['kinds'].items()) \
                or st['malformed']:
            want |= {n for n, line in enumerate(cf.fed, 1)
                     if looks_like_mail(line)}
        alone_f[cf.base] = {n: pool.submit(
            run_parse, data=(cf.fed[n - 1] + '\n').encode(
                'utf-8', 'surrogateescape')) for n in sorted(want)}

    for cf in files:
        raw = whole_raw[cf.base].result()
        syn = whole_syn[cf.base].result() if cf.base in whole_syn else None
        alone = {n: f.result() for n, f in alone_f[cf.base].items()}
        try:
            report_file(cf, raw, syn, exps_of[cf.base], alone)
        except Exception as e:      # a .meta schema we did not expect
            say('FAIL: %s: the suite failed on this file: %s: %s'
                % (cf.name, type(e).__name__, e))
    pool.shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
