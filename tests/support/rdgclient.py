#!/usr/bin/env python3
"""A small scripted MS-TSGU (RD Gateway, HTTP transport) client for tests, standard library only.

It speaks what FreeRDP 2.11.7 speaks -- TLS, HTTP with NTLMv2 (MIC keyed by the exported session
key with KEY_EXCH, channel binding over tls-server-end-point, SPN, timestamp copied from the
CHALLENGE), the WebSocket upgrade on RDG_OUT_DATA (masked client frames) and the legacy OUT/IN
pair (10 seed bytes, chunked IN body) -- and exposes every layer separately so a test can
misbehave at any of them: raw bytes, raw HTTP requests, NTLM messages with chosen defects,
WebSocket frames with chosen bits, and MS-TSGU packets with chosen fields.

Library use (tests/e2e/test_hardening.sh puts tests/support on sys.path):

    import rdgclient as R
    cred = R.Creds.from_users_file(users, r'CONTOSO\\alice')
    t = R.open_ws(port, cred)                 # 101, ready for packets
    R.setup(t, '127.0.0.1', target_port)      # HANDSHAKE .. CHANNEL_RESPONSE, raises on error
    t.send_pkt(R.data(b'hello')); t.recv_pkt()

Command line (for shell tests):
    rdgclient.py echo --port P [--close-after N] [--half-close-after N] [--flood BYTES]
    rdgclient.py tunnel --gw PORT --users FILE --user 'DOM\\u' --target-port P [--legacy]
                        [--hold SECONDS] [--echo-check]
"""

import argparse
import base64
import hashlib
import hmac
import os
import select
import socket
import ssl
import struct
import sys
import threading
import time

# ---------------------------------------------------------------------------------------------
# constants

HANDSHAKE_REQUEST = 0x01
HANDSHAKE_RESPONSE = 0x02
EXTENDED_AUTH_MSG = 0x03
TUNNEL_CREATE = 0x04
TUNNEL_RESPONSE = 0x05
TUNNEL_AUTH = 0x06
TUNNEL_AUTH_RESPONSE = 0x07
CHANNEL_CREATE = 0x08
CHANNEL_RESPONSE = 0x09
DATA = 0x0A
SERVICE_MESSAGE = 0x0B
REAUTH_MESSAGE = 0x0C
KEEPALIVE = 0x0D
CLOSE_CHANNEL = 0x10
CLOSE_CHANNEL_RESPONSE = 0x11

PKT_NAMES = {
    1: 'HANDSHAKE_REQUEST', 2: 'HANDSHAKE_RESPONSE', 3: 'EXTENDED_AUTH_MSG', 4: 'TUNNEL_CREATE',
    5: 'TUNNEL_RESPONSE', 6: 'TUNNEL_AUTH', 7: 'TUNNEL_AUTH_RESPONSE', 8: 'CHANNEL_CREATE',
    9: 'CHANNEL_RESPONSE', 10: 'DATA', 11: 'SERVICE_MESSAGE', 12: 'REAUTH_MESSAGE',
    13: 'KEEPALIVE', 16: 'CLOSE_CHANNEL', 17: 'CLOSE_CHANNEL_RESPONSE',
}

S_OK = 0
E_PROXY_INTERNALERROR = 0x800759D8
E_PROXY_RAP_ACCESSDENIED = 0x800759DA
E_PROXY_NAP_ACCESSDENIED = 0x800759DB
E_PROXY_TS_CONNECTFAILED = 0x800759DD
E_PROXY_NOTSUPPORTED = 0x800759E8
E_PROXY_UNSUPPORTED_AUTHENTICATION_METHOD = 0x800759F9
CLOSE_CONNECTIONABORTED = 0x4D4
CLOSE_BAD_ARGUMENTS = 0xA0

WS_CONT, WS_TEXT, WS_BINARY, WS_CLOSE, WS_PING, WS_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
WS_GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

RDG_PATH = '/remoteDesktopGateway/'


class Closed(Exception):
    """The peer closed the connection (EOF, reset, or TLS ended without close_notify)."""


class ProtocolError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# crypto helpers: MD4 (hashlib has none under OpenSSL 3) and RC4, both tiny and pure Python

def md4(data):
    def f(x, y, z):
        return (x & y) | (~x & z)

    def g(x, y, z):
        return (x & y) | (x & z) | (y & z)

    def h(x, y, z):
        return x ^ y ^ z

    def rol(v, s):
        v &= 0xFFFFFFFF
        return ((v << s) | (v >> (32 - s))) & 0xFFFFFFFF

    msg = bytearray(data)
    ml = len(data) * 8
    msg.append(0x80)
    while len(msg) % 64 != 56:
        msg.append(0)
    msg += struct.pack('<Q', ml)
    a, b, c, d = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476
    for off in range(0, len(msg), 64):
        x = struct.unpack('<16I', msg[off:off + 64])
        aa, bb, cc, dd = a, b, c, d
        for i in (0, 4, 8, 12):
            a = rol(a + f(b, c, d) + x[i], 3)
            d = rol(d + f(a, b, c) + x[i + 1], 7)
            c = rol(c + f(d, a, b) + x[i + 2], 11)
            b = rol(b + f(c, d, a) + x[i + 3], 19)
        for i in (0, 1, 2, 3):
            a = rol(a + g(b, c, d) + x[i] + 0x5A827999, 3)
            d = rol(d + g(a, b, c) + x[i + 4] + 0x5A827999, 5)
            c = rol(c + g(d, a, b) + x[i + 8] + 0x5A827999, 9)
            b = rol(b + g(c, d, a) + x[i + 12] + 0x5A827999, 13)
        for i in (0, 2, 1, 3):
            a = rol(a + h(b, c, d) + x[i] + 0x6ED9EBA1, 3)
            d = rol(d + h(a, b, c) + x[i + 8] + 0x6ED9EBA1, 9)
            c = rol(c + h(d, a, b) + x[i + 4] + 0x6ED9EBA1, 11)
            b = rol(b + h(c, d, a) + x[i + 12] + 0x6ED9EBA1, 15)
        a = (a + aa) & 0xFFFFFFFF
        b = (b + bb) & 0xFFFFFFFF
        c = (c + cc) & 0xFFFFFFFF
        d = (d + dd) & 0xFFFFFFFF
    return struct.pack('<4I', a, b, c, d)


def rc4(key, data):
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) & 0xFF
        s[i], s[j] = s[j], s[i]
    out = bytearray()
    i = j = 0
    for ch in data:
        i = (i + 1) & 0xFF
        j = (j + s[i]) & 0xFF
        s[i], s[j] = s[j], s[i]
        out.append(ch ^ s[(s[i] + s[j]) & 0xFF])
    return bytes(out)


def hmac_md5(key, data):
    return hmac.new(key, data, hashlib.md5).digest()


def nt_hash(password):
    return md4(password.encode('utf-16-le'))


# ---------------------------------------------------------------------------------------------
# credentials

class Creds:
    def __init__(self, domain, user, nthash, workstation='TESTCLIENT'):
        self.domain = domain
        self.user = user
        self.nthash = nthash
        self.workstation = workstation

    @classmethod
    def from_password(cls, qualified, password):
        dom, _, user = qualified.rpartition('\\')
        return cls(dom, user, nt_hash(password))

    @classmethod
    def from_users_file(cls, path, qualified):
        """Reads 'DOMAIN\\user:NTHASH_HEX:groups:fullname' lines written by tsgwctl user add."""
        with open(path, encoding='utf-8') as f:
            for line in f:
                line = line.rstrip('\n')
                if not line or line.startswith('#'):
                    continue
                name, nth = line.split(':')[0:2]
                if name.lower() == qualified.lower():
                    dom, _, user = name.rpartition('\\')
                    return cls(dom, user, bytes.fromhex(nth))
        raise KeyError(qualified)


# ---------------------------------------------------------------------------------------------
# NTLM (client side)

NEG_FLAGS = 0xE20882B7  # what FreeRDP 2.11.7 sends in its type 1
AUTH_FLAGS = 0xE288B235  # and in its type 3 (KEY_EXCH only if the CHALLENGE offered it)
KEY_EXCH = 0x40000000
VERSION = bytes.fromhex('0601b11d0000000f')


def ntlm_negotiate(flags=NEG_FLAGS):
    return b'NTLMSSP\0' + struct.pack('<II', 1, flags) + b'\0' * 16 + VERSION


def av_pairs_parse(b):
    out = []
    off = 0
    while off + 4 <= len(b):
        aid, alen = struct.unpack_from('<HH', b, off)
        off += 4
        if aid == 0:
            break
        out.append((aid, b[off:off + alen]))
        off += alen
    return out


def av_pairs_build(pairs):
    return b''.join(struct.pack('<HH', a, len(v)) + v for a, v in pairs) + b'\0\0\0\0'


def ntlm_parse_challenge(msg):
    if msg[:8] != b'NTLMSSP\0' or struct.unpack_from('<I', msg, 8)[0] != 2:
        raise ProtocolError('not an NTLM CHALLENGE')
    flags = struct.unpack_from('<I', msg, 20)[0]
    chal = msg[24:32]
    til, _, tio = struct.unpack_from('<HHI', msg, 40)
    return {'flags': flags, 'challenge': chal, 'target_info': msg[tio:tio + til]}


def channel_binding(cert_der, override=None):
    """MD5 of the gss_channel_bindings_struct over tls-server-end-point (SHA-256 of the DER)."""
    if override is not None:
        return override
    app = b'tls-server-end-point:' + hashlib.sha256(cert_der).digest()
    return hashlib.md5(b'\0' * 16 + struct.pack('<I', len(app)) + app).digest()


def ntlm_authenticate(creds, negotiate, challenge_msg, cert_der, spn='HTTP/127.0.0.1',
                      mic=True, mic_flag=None, cbt=None, no_cbt=False, no_spn=False,
                      timestamp=None, wrong_mic=False, key_exch=None, domain=None, user=None,
                      hash_domain=None, single_host=False):
    """Builds an NTLMv2 AUTHENTICATE like FreeRDP 2.11.7. Knobs for defects:
    mic=False: no MIC (MsvAvFlags not sent, MIC field absent); mic_flag: MsvAvFlags value to
    advertise regardless; cbt: 16 bytes to send as MsvAvChannelBindings; no_cbt / no_spn: leave
    that AV pair out; wrong_mic: flip a MIC bit; timestamp: 8 bytes instead of the challenge's;
    domain/user: the names to send; hash_domain: the domain to hash with, if not the one sent;
    single_host: add MsvAvSingleHost (48 bytes), as Windows does."""
    ch = ntlm_parse_challenge(challenge_msg)
    dom = creds.domain if domain is None else domain
    usr = creds.user if user is None else user
    hdom = dom if hash_domain is None else hash_domain
    ntowf = hmac_md5(creds.nthash, (usr.upper() + hdom).encode('utf-16-le'))
    pairs = [p for p in av_pairs_parse(ch['target_info']) if p[0] in (1, 2, 3, 4, 5, 7)]
    order = {2: 0, 1: 1, 4: 2, 3: 3, 5: 4, 7: 5}
    pairs.sort(key=lambda p: order[p[0]])
    ts = dict(pairs).get(7)
    if timestamp is not None:
        ts = timestamp
        pairs = [p for p in pairs if p[0] != 7] + [(7, ts)]
    if ts is None:
        ts = struct.pack('<Q', (int(time.time()) + 11644473600) * 10000000)
    flags_val = (2 if mic else 0) if mic_flag is None else mic_flag
    if mic or mic_flag is not None:
        pairs.append((6, struct.pack('<I', flags_val)))
    if not no_cbt:
        pairs.append((10, channel_binding(cert_der, cbt)))
    if single_host:
        pairs.append((8, struct.pack('<II', 48, 0) + b'\0' * 8 + os.urandom(32)))
    if not no_spn:
        pairs.append((9, spn.encode('utf-16-le')))
    cchal = os.urandom(8)
    blob = (b'\x01\x01\0\0\0\0\0\0' + ts + cchal + b'\0\0\0\0' + av_pairs_build(pairs) +
            b'\0' * 8)
    proof = hmac_md5(ntowf, ch['challenge'] + blob)
    ntresp = proof + blob
    base_key = hmac_md5(ntowf, proof)
    kx = (ch['flags'] & KEY_EXCH) != 0 if key_exch is None else key_exch
    flags = AUTH_FLAGS if kx else AUTH_FLAGS & ~KEY_EXCH
    if kx:
        exported = os.urandom(16)
        enc_key = rc4(base_key, exported)
    else:
        exported = base_key
        enc_key = b''
    lm = b'\0' * 24
    dom_b, usr_b = dom.encode('utf-16-le'), usr.encode('utf-16-le')
    ws_b = creds.workstation.encode('utf-16-le')
    hdr_len = 88 if mic else 72
    payload = b''
    fields = []
    for item in (lm, ntresp, dom_b, usr_b, ws_b, enc_key):
        fields.append((len(item), hdr_len + len(payload)))
        payload += item
    # FreeRDP's payload order differs but offsets are free; header field order is fixed
    (lm_f, nt_f, dom_f, usr_f, ws_f, key_f) = fields

    def sb(f):
        return struct.pack('<HHI', f[0], f[0], f[1])

    msg = (b'NTLMSSP\0' + struct.pack('<I', 3) + sb(lm_f) + sb(nt_f) + sb(dom_f) + sb(usr_f) +
           sb(ws_f) + sb(key_f) + struct.pack('<I', flags) + VERSION)
    if mic:
        msg += b'\0' * 16
    msg += payload
    if mic:
        m = hmac_md5(exported, negotiate + challenge_msg + msg)
        if wrong_mic:
            m = bytes([m[0] ^ 1]) + m[1:]
        msg = msg[:72] + m + msg[88:]
    return msg


# ---------------------------------------------------------------------------------------------
# connections

def tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


_CTX = None


class Conn:
    """A TLS (or plain TCP) connection with a receive buffer."""

    def __init__(self, port, host='127.0.0.1', source=None, timeout=10.0, tls=True,
                 handshake=True, rcvbuf=None):
        global _CTX
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if source:
            s.bind((source, 0))
        s.connect((host, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.raw = s
        self.buf = bytearray()
        self.cert = b''
        if tls:
            if _CTX is None:
                _CTX = tls_context()
            self.sock = _CTX.wrap_socket(s, do_handshake_on_connect=handshake)
            if handshake:
                self.cert = self.sock.getpeercert(binary_form=True)
        else:
            self.sock = s

    def settimeout(self, t):
        self.sock.settimeout(t)

    def send(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError) as e:
            raise Closed(str(e))

    def _fill(self, n=65536):
        try:
            d = self.sock.recv(n)
        except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError, BrokenPipeError) as e:
            raise Closed(str(e))
        except ssl.SSLError as e:
            if 'EOF' in str(e) or 'SHUTDOWN' in str(e).upper():
                raise Closed(str(e))
            raise
        if not d:
            raise Closed('EOF')
        self.buf += d

    def recv_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def recv_until(self, marker, limit=1 << 20):
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                out = bytes(self.buf[:i + len(marker)])
                del self.buf[:i + len(marker)]
                return out
            if len(self.buf) > limit:
                raise ProtocolError('no %r within %d bytes' % (marker, limit))
            self._fill()

    def recv_some(self):
        if not self.buf:
            self._fill()
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def wait_eof(self, timeout=5.0):
        """Reads and discards until EOF. Returns (True, bytes_seen) on EOF within timeout,
        (False, bytes_seen) otherwise."""
        end = time.monotonic() + timeout
        seen = len(self.buf)
        self.buf.clear()
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return False, seen
            self.sock.settimeout(left)
            try:
                self._fill()
            except Closed:
                return True, seen
            except (socket.timeout, TimeoutError):
                return False, seen
            except OSError:
                return True, seen
            seen += len(self.buf)
            self.buf.clear()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fd_sock(self):
        # the TLS wrapper owns the descriptor; a dup reaches the same TCP socket
        return socket.fromfd(self.sock.fileno(), socket.AF_INET, socket.SOCK_STREAM)

    def half_close(self):
        """Shuts the TCP write side down (FIN), without a TLS close_notify; reading goes on."""
        d = self._fd_sock()
        d.shutdown(socket.SHUT_WR)
        d.close()

    def abort(self):
        """Closes the TCP connection with an RST, no TLS close_notify (the client 'vanishes')."""
        try:
            d = self._fd_sock()
            d.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            d.close()
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# HTTP

class Response:
    def __init__(self, status, reason, headers, body, raw):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value)
        self.body = body
        self.raw = raw

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return '<Response %d %s>' % (self.status, self.reason)


def read_response(conn):
    raw = conn.recv_until(b'\r\n\r\n', limit=65536)
    lines = raw.decode('latin-1').split('\r\n')
    parts = lines[0].split(' ', 2)
    if len(parts) < 2 or not parts[0].startswith('HTTP/'):
        raise ProtocolError('bad status line %r' % lines[0])
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else ''
    headers = []
    for ln in lines[1:]:
        if ln:
            k, _, v = ln.partition(':')
            headers.append((k.strip(), v.strip()))
    body = b''
    cl = [v for k, v in headers if k.lower() == 'content-length']
    if cl and int(cl[0]) > 0:
        body = conn.recv_exact(int(cl[0]))
    return Response(status, reason, headers, body, raw)


def build_request(method, headers, path=RDG_PATH, version='HTTP/1.1'):
    """headers: list of (name, value); FreeRDP's order and capitalisation by default."""
    out = '%s %s %s\r\n' % (method, path, version)
    for k, v in headers:
        out += '%s: %s\r\n' % (k, v)
    return (out + '\r\n').encode('latin-1')


def std_headers(conn_id, ws_key=None, legacy_in_final=False, auth=None):
    h = [('Cache-Control', 'no-cache'), ('Pragma', 'no-cache'), ('Accept', '*/*'),
         ('User-Agent', 'MS-RDGateway/1.0'), ('Host', '127.0.0.1')]
    if ws_key:
        h += [('Connection', 'Upgrade'), ('Upgrade', 'websocket'),
              ('Sec-Websocket-Version', '13'), ('Sec-Websocket-Key', ws_key)]
    else:
        h += [('Connection', 'Keep-Alive')]
    h.append(('RDG-Connection-Id', conn_id))
    if legacy_in_final:
        h.append(('Transfer-Encoding', 'chunked'))
    else:
        h.append(('Content-Length', '0'))
    if auth:
        h.append(('Authorization', auth))
    return h


def new_conn_id():
    b = os.urandom(16)
    h = b.hex()
    return '{%s-%s-%s-%s-%s}' % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def http_ntlm(conn, method, creds, conn_id, ws_key=None, scheme='NTLM', **auth_kw):
    """Runs the two NTLM legs of one channel request on conn. Returns (final Response,
    negotiate, challenge, authenticate). Raises ProtocolError if the first leg is not a 401
    with an NTLM challenge."""
    neg = ntlm_negotiate()
    conn.send(build_request(method, std_headers(conn_id, ws_key, auth='%s %s' % (
        scheme, base64.b64encode(neg).decode()))))
    r = read_response(conn)
    wa = r.header('WWW-Authenticate') or ''
    if r.status != 401 or ' ' not in wa:
        raise ProtocolError('first leg: %d %r' % (r.status, wa))
    chal = base64.b64decode(wa.split(' ', 1)[1])
    auth = ntlm_authenticate(creds, neg, chal, conn.cert, **auth_kw)
    conn.send(build_request(method, std_headers(conn_id, ws_key, auth='%s %s' % (
        scheme, base64.b64encode(auth).decode()))))
    return read_response(conn), neg, chal, auth


# ---------------------------------------------------------------------------------------------
# WebSocket framing

def ws_frame(opcode, payload, mask=True, fin=True, rsv=0, mask_key=None, length_override=None):
    b0 = (0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 0xF)
    n = len(payload) if length_override is None else length_override
    m = 0x80 if mask else 0
    if n < 126:
        hdr = bytes([b0, m | n])
    elif n < 65536:
        hdr = bytes([b0, m | 126]) + struct.pack('>H', n)
    else:
        hdr = bytes([b0, m | 127]) + struct.pack('>Q', n)
    if not mask:
        return hdr + payload
    key = os.urandom(4) if mask_key is None else mask_key
    return hdr + key + xor_mask(payload, key)


def xor_mask(payload, key):
    if not payload:
        return b''
    n = len(payload)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, 'little') ^ int.from_bytes(k, 'little')).to_bytes(n, 'little')


def ws_read_frame(conn):
    """Returns (fin, opcode, payload, masked) of one server frame."""
    h = conn.recv_exact(2)
    fin = bool(h[0] & 0x80)
    op = h[0] & 0xF
    masked = bool(h[1] & 0x80)
    n = h[1] & 0x7F
    if n == 126:
        n = struct.unpack('>H', conn.recv_exact(2))[0]
    elif n == 127:
        n = struct.unpack('>Q', conn.recv_exact(8))[0]
    key = conn.recv_exact(4) if masked else None
    p = conn.recv_exact(n)
    if masked:
        p = xor_mask(p, key)
    return fin, op, p, masked


# ---------------------------------------------------------------------------------------------
# packets

def hdr(ptype, length, reserved=0):
    return struct.pack('<HHI', ptype, reserved, length)


def pkt(ptype, body=b'', length=None):
    return hdr(ptype, 8 + len(body) if length is None else length) + body


def ustr(s, nul=True, cb=None):
    b = s.encode('utf-16-le') + (b'\0\0' if nul else b'')
    return struct.pack('<H', len(b) if cb is None else cb) + b


def handshake_request(ver_major=1, ver_minor=0, client_version=0, ext_auth=0):
    return pkt(HANDSHAKE_REQUEST, struct.pack('<BBHH', ver_major, ver_minor, client_version,
                                              ext_auth))


def tunnel_create(caps=0x0D, fields=0, reauth=None, paa_cookie=None):
    body = struct.pack('<IHH', caps, fields, 0)
    if reauth is not None:
        body += struct.pack('<Q', reauth)
    if paa_cookie is not None:
        body += struct.pack('<H', len(paa_cookie)) + paa_cookie
    return pkt(TUNNEL_CREATE, body)


def tunnel_auth(client_name='vm', fields=0, soh=None, raw_name=None):
    body = struct.pack('<H', fields) + (ustr(client_name) if raw_name is None else raw_name)
    if soh is not None:
        body += struct.pack('<H', len(soh)) + soh
    return pkt(TUNNEL_AUTH, body)


def channel_create(resources, port, alt=(), protocol=3, num_resources=None, num_alt=None,
                   raw_names=None):
    nres = len(resources) if num_resources is None else num_resources
    nalt = len(alt) if num_alt is None else num_alt
    body = struct.pack('<BBHH', nres, nalt, port, protocol)
    if raw_names is not None:
        body += raw_names
    else:
        for r in list(resources) + list(alt):
            body += ustr(r)
    return pkt(CHANNEL_CREATE, body)


def data(payload, cb=None, length=None):
    return pkt(DATA, struct.pack('<H', len(payload) if cb is None else cb) + payload, length)


def keepalive():
    return pkt(KEEPALIVE)


def close_channel(status=0):
    return pkt(CLOSE_CHANNEL, struct.pack('<I', status))


def close_channel_response(status=0):
    return pkt(CLOSE_CHANNEL_RESPONSE, struct.pack('<I', status))


def status_of(ptype, body):
    """The HRESULT of a server response packet (body = bytes after the 8-byte header)."""
    if ptype == TUNNEL_RESPONSE:
        return struct.unpack_from('<I', body, 2)[0]
    if ptype in (HANDSHAKE_RESPONSE, TUNNEL_AUTH_RESPONSE, CHANNEL_RESPONSE, CLOSE_CHANNEL,
                 CLOSE_CHANNEL_RESPONSE):
        return struct.unpack_from('<I', body, 0)[0]
    return None


# ---------------------------------------------------------------------------------------------
# tunnels

class Tunnel:
    """Common packet reader: the server->client byte stream is split on packetLength."""

    def __init__(self):
        self.stream = bytearray()
        self.mode = '?'

    def _more(self):
        raise NotImplementedError

    def recv_pkt(self, timeout=None):
        """Returns (type, body) of the next server packet; raises Closed on EOF."""
        if timeout is not None:
            self.settimeout(timeout)
        while True:
            if len(self.stream) >= 8:
                t, _, n = struct.unpack_from('<HHI', self.stream, 0)
                if n < 8:
                    raise ProtocolError('server packetLength %d' % n)
                if t == DATA and len(self.stream) >= 10:
                    n = 10 + struct.unpack_from('<H', self.stream, 8)[0]
                if len(self.stream) >= n:
                    body = bytes(self.stream[8:n])
                    del self.stream[:n]
                    return t, body
            self._more()

    def expect(self, ptype, timeout=10.0):
        t, body = self.recv_pkt(timeout)
        if t != ptype:
            raise ProtocolError('expected %s, got %s' % (PKT_NAMES.get(ptype), PKT_NAMES.get(t, t)))
        return body

    def send_pkt(self, p):
        raise NotImplementedError

    def recv_data(self, n, timeout=10.0):
        """Collects n bytes of DATA payload; control packets other than KEEPALIVE raise."""
        out = bytearray()
        while len(out) < n:
            t, body = self.recv_pkt(timeout)
            if t == DATA:
                out += body[2:]
            elif t == KEEPALIVE:
                continue
            else:
                raise ProtocolError('got %s (status 0x%x) after %d data bytes' % (
                    PKT_NAMES.get(t, t), status_of(t, body) or 0, len(out)))
        return bytes(out)

    def wait_eof(self, timeout=5.0):
        raise NotImplementedError


class WsTunnel(Tunnel):
    def __init__(self, conn):
        super().__init__()
        self.conn = conn
        self.mode = 'websocket'
        self.ctrl = []  # (opcode, payload) of control frames seen
        self.masked_seen = False

    def settimeout(self, t):
        self.conn.settimeout(t)

    def _more(self):
        fin, op, p, masked = ws_read_frame(self.conn)
        self.masked_seen |= masked
        if op in (WS_BINARY, WS_CONT):
            self.stream += p
        else:
            self.ctrl.append((op, p))
            if op == WS_CLOSE:
                raise Closed('WebSocket Close %s' % (
                    struct.unpack('>H', p[:2])[0] if len(p) >= 2 else None))

    def send_pkt(self, p):
        self.conn.send(ws_frame(WS_BINARY, p))

    def send_raw(self, b):
        self.conn.send(b)

    def close_code(self):
        for op, p in self.ctrl:
            if op == WS_CLOSE and len(p) >= 2:
                return struct.unpack('>H', p[:2])[0]
        return None

    def wait_eof(self, timeout=5.0):
        return self.conn.wait_eof(timeout)

    def finish(self, timeout=5.0):
        """Ends the tunnel as mstsc does after CLOSE_CHANNEL_RESPONSE: WebSocket Close 1000.
        Returns wait_eof's (eof, ...) tuple."""
        self.conn.send(ws_frame(WS_CLOSE, struct.pack('>H', 1000)))
        return self.conn.wait_eof(timeout)

    def close(self):
        self.conn.close()

    def abort(self):
        self.conn.abort()


class LegacyTunnel(Tunnel):
    def __init__(self, out_conn, in_conn):
        super().__init__()
        self.out = out_conn
        self.inc = in_conn
        self.mode = 'legacy'

    def settimeout(self, t):
        self.out.settimeout(t)

    def _more(self):
        self.stream += self.out.recv_some()

    def send_pkt(self, p):
        self.inc.send(b'%X\r\n' % len(p) + p + b'\r\n')

    def send_raw(self, b):
        self.inc.send(b)

    def end_in_body(self):
        self.inc.send(b'0\r\n\r\n')

    def wait_eof(self, timeout=5.0):
        return self.out.wait_eof(timeout)

    def finish(self, timeout=5.0):
        """Ends the tunnel: the last chunk of the IN body. Returns wait_eof's tuple."""
        self.end_in_body()
        return self.out.wait_eof(timeout)

    def close(self):
        self.inc.close()
        self.out.close()

    def abort(self):
        self.inc.abort()
        self.out.abort()


def open_ws(port, creds, source=None, timeout=10.0, key=None, rcvbuf=None, **auth_kw):
    """TLS + NTLM + WebSocket upgrade. Returns a WsTunnel; raises ProtocolError on a non-101."""
    c = Conn(port, source=source, timeout=timeout, rcvbuf=rcvbuf)
    key = key or base64.b64encode(os.urandom(16)).decode()
    r, _, _, _ = http_ntlm(c, 'RDG_OUT_DATA', creds, new_conn_id(), ws_key=key, **auth_kw)
    if r.status != 101:
        c.close()
        raise ProtocolError('upgrade: %d %s' % (r.status, r.reason))
    want = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()
    if (r.header('Sec-WebSocket-Accept') or '') != want:
        raise ProtocolError('bad Sec-WebSocket-Accept')
    t = WsTunnel(c)
    t.response = r
    return t


def open_legacy_out(port, creds, conn_id, source=None, timeout=10.0):
    """The authenticated OUT channel, seed skipped. Returns (Conn, Response)."""
    out = Conn(port, source=source, timeout=timeout)
    r, _, _, _ = http_ntlm(out, 'RDG_OUT_DATA', creds, conn_id)
    if r.status == 200:
        seed = out.recv_exact(10)
        out.seed = seed
    return out, r


def open_legacy_in(port, creds, conn_id, source=None, timeout=10.0, final=True):
    """The authenticated IN channel (and, if final, the third chunked request header).
    Returns (Conn, Response)."""
    inc = Conn(port, source=source, timeout=timeout)
    r, _, _, _ = http_ntlm(inc, 'RDG_IN_DATA', creds, conn_id)
    if r.status == 200 and final:
        inc.send(build_request('RDG_IN_DATA', std_headers(conn_id, legacy_in_final=True)))
    return inc, r


def open_legacy(port, creds, source=None, timeout=10.0, in_creds=None):
    cid = new_conn_id()
    out, r = open_legacy_out(port, creds, cid, source, timeout)
    if r.status != 200:
        out.close()
        raise ProtocolError('OUT: %d %s' % (r.status, r.reason))
    inc, r2 = open_legacy_in(port, in_creds or creds, cid, source, timeout)
    if r2.status != 200:
        out.close()
        inc.close()
        raise ProtocolError('IN: %d %s' % (r2.status, r2.reason))
    return LegacyTunnel(out, inc)


def setup(t, host, port, caps=0x0D, client_name='vm', check=True):
    """HANDSHAKE, TUNNEL_CREATE, TUNNEL_AUTH, CHANNEL_CREATE. Returns the list of
    (type, status) answers; raises ProtocolError on a failing status when check is set."""
    steps = [(handshake_request(), HANDSHAKE_RESPONSE), (tunnel_create(caps), TUNNEL_RESPONSE),
             (tunnel_auth(client_name), TUNNEL_AUTH_RESPONSE),
             (channel_create([host], port), CHANNEL_RESPONSE)]
    got = []
    for p, want in steps:
        t.send_pkt(p)
        rt, body = t.recv_pkt(15.0)
        st = status_of(rt, body)
        got.append((rt, st))
        if rt != want:
            raise ProtocolError('expected %s, got %s' % (PKT_NAMES[want], PKT_NAMES.get(rt, rt)))
        if check and st != 0:
            raise ProtocolError('%s status 0x%08x' % (PKT_NAMES[rt], st))
        if rt == TUNNEL_RESPONSE and st == 0:
            t.tunnel_id = struct.unpack_from('<I', body, 10)[0]
        if rt == CHANNEL_RESPONSE and st == 0 and len(body) >= 12:
            t.channel_id = struct.unpack_from('<I', body, 8)[0]
    return got


def tunnel_to(gw_port, creds, target_port, legacy=False, host='127.0.0.1', source=None,
              timeout=10.0):
    t = open_legacy(gw_port, creds, source, timeout) if legacy else \
        open_ws(gw_port, creds, source, timeout)
    setup(t, host, target_port)
    return t


# ---------------------------------------------------------------------------------------------
# target servers

class TargetServer:
    """A TCP server on 127.0.0.1 in a thread. mode: 'echo' (optionally close after echoing N
    bytes -- with an RST if rst is set --, or shut its write side down after echoing N bytes and
    then only read), 'flood' (writes `flood` bytes as fast as the peer takes them, then closes),
    'stall' (accepts and never reads). Counts bytes."""

    def __init__(self, port=0, mode='echo', close_after=None, half_close_after=None,
                 flood=0, greeting=b'', rst=False):
        self.mode = mode
        self.rst = rst
        self.close_after = close_after
        self.half_close_after = half_close_after
        self.flood = flood
        self.greeting = greeting
        self.sent = 0
        self.received = 0
        self.conns = 0
        self.eof_seen = 0
        self.lock = threading.Lock()
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(('127.0.0.1', port))
        self.ls.listen(512)
        self.port = self.ls.getsockname()[1]
        self.stopping = False
        self.th = threading.Thread(target=self._accept, daemon=True)
        self.th.start()

    def _accept(self):
        while not self.stopping:
            try:
                s, _ = self.ls.accept()
            except OSError:
                return
            with self.lock:
                self.conns += 1
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _add(self, sent=0, received=0):
        with self.lock:
            self.sent += sent
            self.received += received

    def _serve(self, s):
        try:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.greeting:
                s.sendall(self.greeting)
            if self.mode == 'stall':
                while not self.stopping:
                    time.sleep(0.1)
                s.close()
                return
            if self.mode == 'flood':
                chunk = b'\x5a' * 65536
                left = self.flood
                while left > 0 and not self.stopping:
                    n = s.send(chunk[:min(left, len(chunk))])
                    left -= n
                    self._add(sent=n)
                s.close()
                return
            total = 0
            writing = True
            while not self.stopping:
                d = s.recv(65536)
                if not d:
                    with self.lock:
                        self.eof_seen += 1
                    break
                total += len(d)
                self._add(received=len(d))
                if self.mode == 'echo' and writing:
                    if self.close_after is not None and total >= self.close_after:
                        keep = len(d) - (total - self.close_after)
                        s.sendall(d[:keep])
                        self._add(sent=keep)
                        if self.rst:
                            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                         struct.pack('ii', 1, 0))
                        s.close()
                        return
                    if self.half_close_after is not None and total >= self.half_close_after:
                        keep = len(d) - (total - self.half_close_after)
                        s.sendall(d[:keep])
                        self._add(sent=keep)
                        s.shutdown(socket.SHUT_WR)
                        writing = False
                        continue
                    s.sendall(d)
                    self._add(sent=len(d))
            s.close()
        except OSError:
            try:
                s.close()
            except OSError:
                pass

    def stop(self):
        self.stopping = True
        try:
            self.ls.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# assertion helpers for test scenarios (a failed check prints FAIL and exits 1)

class Env:
    """The test's environment: TSGW_GW (gateway port), TSGW_PID, TSGW_USERS, TSGW_ECHO (echo
    target port), TSGW_CTL and TSGW_SOCK (tsgwctl and the admin socket), TSGW_LOG; any other
    TSGW_X is available as attribute x (ports as int)."""

    def __init__(self):
        for k, v in os.environ.items():
            if k.startswith('TSGW_'):
                setattr(self, k[5:].lower(), int(v) if v.isdigit() else v)

    def creds(self, qualified=r'CONTOSO\alice'):
        return Creds.from_users_file(self.users, qualified)


def check(cond, what):
    if not cond:
        print('FAIL: %s' % what, flush=True)
        sys.exit(1)
    print('ok: %s' % what, flush=True)


def note(msg):
    print('# %s' % msg, flush=True)


def refused(t, ptype, status=E_PROXY_INTERNALERROR, timeout=5.0):
    """The next packet must be ptype with that status, and the connection must then close."""
    try:
        rt, body = t.recv_pkt(timeout)
    except Closed as e:
        check(False, 'expected %s, but the connection closed (%s)' % (PKT_NAMES[ptype], e))
    check(rt == ptype, 'response is %s (got %s)' % (PKT_NAMES[ptype], PKT_NAMES.get(rt, rt)))
    st = status_of(rt, body)
    check(st == status, '%s carries 0x%08x (got 0x%08x)' % (PKT_NAMES[ptype], status, st or 0))
    eof, extra = t.wait_eof(timeout)
    check(eof, 'connection closed after the %s' % PKT_NAMES[ptype])


def send_quiet(t, p):
    """Sends, ignoring a connection the server already closed (it may refuse mid-packet)."""
    try:
        t.send_pkt(p)
    except (Closed, OSError):
        pass


def closed_silently(t, timeout=5.0):
    """The connection must close without sending another MS-TSGU packet."""
    try:
        rt, body = t.recv_pkt(timeout)
        check(False, 'connection closed, but got %s' % PKT_NAMES.get(rt, rt))
    except Closed:
        check(True, 'connection closed without a response packet')
    except (socket.timeout, TimeoutError):
        check(False, 'connection closed within %.0f s' % timeout)


def ws_close_code(t, timeout=5.0):
    """Reads until the server's Close frame; returns its status code (then expects EOF)."""
    try:
        while True:
            t.recv_pkt(timeout)
    except Closed:
        pass
    except (socket.timeout, TimeoutError):
        check(False, 'WebSocket closed within %.0f s' % timeout)
    code = t.close_code()
    eof, _ = t.wait_eof(timeout)
    check(eof, 'TCP connection closed after the Close frame')
    return code


def echo_roundtrip(t, n=1000):
    msg = os.urandom(n)
    for i in range(0, n, 65535):
        t.send_pkt(data(msg[i:i + 65535]))
    got = t.recv_data(n)
    if got != msg:
        i = next(k for k in range(n) if got[k] != msg[k])
        shift = next((s for s in range(1, 32) if got[i:i + 64] == msg[i + s:i + s + 64]), None)
        note('echo mismatch from byte %d of %d%s' % (
            i, n, '' if shift is None else ' (the stream is shifted by %d bytes there)' % shift))
    return got == msg


def healthy(env, legacy=False):
    """The daemon is alive and a well-behaved client gets a working tunnel."""
    try:
        os.kill(int(env.pid), 0)
        alive = True
    except OSError:
        alive = False
    check(alive, 'tsgwd is still running')
    try:
        t = tunnel_to(env.gw, env.creds(), env.echo, legacy=legacy)
        good = echo_roundtrip(t, 3000)
        t.send_pkt(close_channel(0))
        t.recv_pkt(5)
        t.close()
    except (Closed, ProtocolError, OSError) as e:
        note('good client failed: %r' % e)
        good = False
    check(good, 'a good client still gets a working %s tunnel' % (
        'legacy' if legacy else 'WebSocket'))


def connections(env):
    import json
    import subprocess
    out = subprocess.run([env.ctl, '-s', env.sock, '--json', 'connections'],
                         capture_output=True, text=True, timeout=10)
    return json.loads(out.stdout)


def wait_connections(env, n, timeout=5.0):
    """Polls the registry until it lists n connections; returns (ok, seconds)."""
    t0 = time.monotonic()
    while True:
        cur = len(connections(env))
        if cur == n:
            return True, time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            return False, time.monotonic() - t0
        time.sleep(0.1)


def vm_rss_kb(pid):
    with open('/proc/%d/status' % int(pid)) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir('/proc/%d/fd' % int(pid)))


def log_count(env, pattern):
    with open(env.log, errors='replace') as f:
        return sum(1 for line in f if pattern in line)


# ---------------------------------------------------------------------------------------------
# command line

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    e = sub.add_parser('echo', help='run a target server until killed')
    e.add_argument('--port', type=int, required=True)
    e.add_argument('--close-after', type=int)
    e.add_argument('--half-close-after', type=int)
    e.add_argument('--flood', type=int, default=0)
    t = sub.add_parser('tunnel', help='open one tunnel, check an echo, hold it, close')
    t.add_argument('--gw', type=int, required=True)
    t.add_argument('--users', required=True)
    t.add_argument('--user', required=True)
    t.add_argument('--target-port', type=int, required=True)
    t.add_argument('--target', default='127.0.0.1')
    t.add_argument('--legacy', action='store_true')
    t.add_argument('--hold', type=float, default=0)
    t.add_argument('--echo-check', action='store_true')
    t.add_argument('--source', help='local address to connect from (e.g. 127.0.0.5)')
    a = ap.parse_args(argv)
    if a.cmd == 'echo':
        srv = TargetServer(a.port, 'flood' if a.flood else 'echo', a.close_after,
                           a.half_close_after, a.flood)
        print('listening on %d' % srv.port, flush=True)
        while True:
            time.sleep(3600)
    cred = Creds.from_users_file(a.users, a.user)
    tun = tunnel_to(a.gw, cred, a.target_port, a.legacy, a.target, source=a.source)
    print('channel open: tunnel %s channel %s (%s)' % (
        getattr(tun, 'tunnel_id', '?'), getattr(tun, 'channel_id', '?'), tun.mode), flush=True)
    if a.echo_check:
        msg = os.urandom(1000)
        tun.send_pkt(data(msg))
        if tun.recv_data(len(msg)) != msg:
            print('echo mismatch', flush=True)
            return 1
        print('echo ok', flush=True)
    if a.hold:
        time.sleep(a.hold)
    tun.send_pkt(close_channel(0))
    try:
        t_, body = tun.recv_pkt(5)
        print('got %s' % PKT_NAMES.get(t_, t_), flush=True)
    except Closed:
        pass
    tun.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
