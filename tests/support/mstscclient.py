#!/usr/bin/env python3
"""A scripted client that behaves as mstsc does (Windows 11 22H2, docs/windows-clients.md and
../shared/spec/windows-clients.md section 1), standard library only, on top of rdgclient.py.

HTTP, byte for byte as captured: the request's header order and spelling, upper-case braced
GUIDs, RDG-Correlation-Id ending in 0000, RDG-User-Id = base64(UTF-16LE UPN), the captured NTLM
NEGOTIATE (flags 0xe2088297) under "Negotiate" on the FIRST request, the AUTHENTICATE on the
same connection with the same headers and Sec-WebSocket-Key, the user as a UPN with an empty
domain, workstation IT-HELP-CLIENT, NTLMv2 with MIC, MsvAvSingleHost, channel binding and
TargetName HTTP/<host>.

MS-TSGU, byte for byte as captured (section 1.2), one packet per masked WebSocket frame (or per
chunk of the legacy IN body): HANDSHAKE 1.0 extAuth 0, TUNNEL_CREATE caps 0x3F, TUNNEL_AUTH
"IT-HELP-CLIENT" with its NUL counted, CHANNEL_CREATE with one resource (the captured FQDN
replaced by the test's target, NUL-terminated, port in its own field, protocol 3), the captured
X.224 Connection Request in a DATA packet, KEEPALIVE, CLOSE_CHANNEL 0, and at the end a
WebSocket Close 1000 (or the end of the IN body).

Command line (the e2e test runs this):
    mstscclient.py --gw PORT --users FILE --user 'DOM\\u' --upn u@dns.domain --target HOST
                   --target-port P [--legacy] [--recreate]
prints one "ok: ..." line per check and "FAIL: ..." and exit 1 at the first failure.
"""

import argparse
import base64
import os
import struct
import sys

import rdgclient as R

# the NEGOTIATE of the capture, verbatim (flags 0xe2088297: LM_KEY, OEM and ESS all set;
# Version 10.0.22621)
CAPTURED_NEGOTIATE = base64.b64decode('TlRMTVNTUAABAAAAl4II4gAAAAAAAAAAAAAAAAAAAAAKAF1YAAAADw==')
APP_BUILD = 'Type=OOB; Build=WinBuild Jan 01 2016 10.0.22621.3447;'
WORKSTATION = 'IT-HELP-CLIENT'

HANDSHAKE = bytes.fromhex('010000000e000000' '0100' '0000' '0000')
TUNNEL_CREATE = bytes.fromhex('0400000010000000' '3f000000' '0000' '0000')
# X.224 Connection Request with "Cookie: mstshash=Administr" and RDP_NEG_REQ for
# PROTOCOL_SSL | PROTOCOL_HYBRID | PROTOCOL_HYBRID_EX (0x0b), 47 bytes
X224_CR = (bytes.fromhex('0300002f2ae00000000000') + b'Cookie: mstshash=Administr\r\n' +
           bytes.fromhex('010008000b000000'))
KEEPALIVE = bytes.fromhex('0d00000008000000')
CLOSE_CHANNEL = bytes.fromhex('100000000c000000' '00000000')
CLOSE_CHANNEL_RESPONSE = bytes.fromhex('110000000c000000' '00000000')


def guid(tail=None):
    h = os.urandom(16).hex().upper()
    if tail:
        h = h[:-len(tail)] + tail
    return '{%s-%s-%s-%s-%s}' % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def tunnel_auth(name=WORKSTATION):
    n = (name + '\0').encode('utf-16-le')
    return struct.pack('<HHI', 6, 0, 8 + 4 + len(n)) + struct.pack('<HH', 0, len(n)) + n


def channel_create(host, port):
    r = (host + '\0').encode('utf-16-le')
    body = struct.pack('<BBHHH', 1, 0, port, 3, len(r)) + r
    return struct.pack('<HHI', 8, 0, 8 + len(body)) + body


def data(payload):
    return struct.pack('<HHIH', 10, 0, 10 + len(payload), len(payload)) + payload


class Mstsc:
    def __init__(self, port, creds, upn, host_header):
        self.port = port
        self.creds = creds
        self.upn = upn
        self.host = host_header
        self.conn_id = guid()
        self.corr_id = guid('0000')
        self.user_id = base64.b64encode(upn.encode('utf-16-le')).decode()

    def headers(self, method_ws, ws_key, auth, legacy_in=False):
        """The capture's order: Cache-Control, Connection, Pragma, Upgrade, Accept, User-Agent,
        RDG-*, Sec-WebSocket-*, Host, Authorization."""
        h = [('Cache-Control', 'no-cache')]
        h.append(('Connection', 'Upgrade' if method_ws else 'Keep-Alive'))
        h.append(('Pragma', 'no-cache'))
        if method_ws:
            h.append(('Upgrade', 'websocket'))
        h += [('Accept', '*/*'), ('User-Agent', 'MS-RDGateway/1.0'),
              ('RDG-Connection-Id', self.conn_id), ('RDG-Correlation-Id', self.corr_id),
              ('RDG-User-Id', self.user_id), ('RDG-Client-AppBuild', APP_BUILD),
              ('RDG-Client-Generation', 'Win32#10.0=7')]
        if method_ws:
            h += [('Sec-WebSocket-Key', ws_key), ('Sec-WebSocket-Version', '13')]
        if legacy_in:
            h.append(('Transfer-Encoding', 'chunked'))
        h.append(('Host', self.host))
        if auth:
            h.append(('Authorization', auth))
        return h

    def logon(self, method, ws=True):
        """NEGOTIATE on the first request, AUTHENTICATE on the same connection. Returns (Conn,
        final Response, first Response)."""
        c = R.Conn(self.port)
        key = base64.b64encode(os.urandom(16)).decode() if ws else None
        neg = CAPTURED_NEGOTIATE
        c.send(R.build_request(method, self.headers(ws, key, 'Negotiate ' +
                                                    base64.b64encode(neg).decode())))
        r1 = R.read_response(c)
        wa = r1.header('WWW-Authenticate') or ''
        check(r1.status == 401 and wa.startswith('Negotiate '),
              '%s: the first request (NEGOTIATE) gets 401 "WWW-Authenticate: Negotiate <CHALLENGE>" '
              '(got %d %r)' % (method, r1.status, wa[:20]))
        chal = base64.b64decode(wa.split(' ', 1)[1])
        check(chal[:12] == b'NTLMSSP\0\x02\0\0\0', 'raw NTLM CHALLENGE, the scheme echoed')
        a = R.ntlm_authenticate(self.creds, neg, chal, c.cert, spn='HTTP/' + self.host,
                                domain='', user=self.upn, single_host=True)
        c.send(R.build_request(method, self.headers(ws, key, 'Negotiate ' +
                                                    base64.b64encode(a).decode())))
        r2 = R.read_response(c)
        c.ws_key = key
        return c, r2, r1


def check(cond, what):
    if not cond:
        print('FAIL: %s' % what, flush=True)
        sys.exit(1)
    print('ok: %s' % what, flush=True)


def expect_exact(t, want, what):
    rt, body = t.recv_pkt(10)
    got = struct.pack('<HHI', rt, 0, 8 + len(body)) + body
    check(got == want, '%s: %s (got %s)' % (what, want.hex(), got.hex()))


def check_cc(t, what):
    """A real RDP target's X.224 Connection Confirm with an RDP_NEG_RSP."""
    rt, body = t.recv_pkt(10)
    check(rt == R.DATA, '%s: DATA back (got %s)' % (what, R.PKT_NAMES.get(rt, rt)))
    p = body[2:]
    check(len(p) >= 19 and p[:2] == b'\x03\x00' and p[5] == 0xd0 and p[11] == 0x02,
          '%s: X.224 Connection Confirm with RDP_NEG_RSP from the target (%s)' % (what, p[:19].hex()))
    return struct.unpack_from('<I', p, 15)[0]


def channel(t, host, port, want_id):
    t.send_pkt(channel_create(host, port))
    rt, body = t.recv_pkt(15)
    check(rt == R.CHANNEL_RESPONSE, 'CHANNEL_RESPONSE')
    err, fields = struct.unpack_from('<IH', body, 0)
    check(err == 0 and fields & 1 and not fields & 6,
          'CHANNEL_RESPONSE S_OK with the channelId field and no UDP fields (fields 0x%x)' % fields)
    cid = struct.unpack_from('<I', body, 8)[0]
    check(cid == want_id, 'ChannelId %d (got %d)' % (want_id, cid))
    t.send_pkt(data(X224_CR))
    proto = check_cc(t, 'channel %d' % cid)
    check(proto == 1, 'the target selected TLS (PROTOCOL_SSL) from 0x0b')
    t.send_pkt(KEEPALIVE)
    t.send_pkt(CLOSE_CHANNEL)
    expect_exact(t, CLOSE_CHANNEL_RESPONSE, 'CLOSE_CHANNEL 0 -> 12-byte CLOSE_CHANNEL_RESPONSE')


def run(a):
    creds = R.Creds.from_users_file(a.users, a.user)
    creds.workstation = WORKSTATION
    m = Mstsc(a.gw, creds, a.upn, a.host)
    if a.legacy:
        out, r, _ = m.logon('RDG_OUT_DATA', ws=False)
        check(r.status == 200, 'legacy OUT: 200 after the AUTHENTICATE (got %d)' % r.status)
        out.recv_exact(10)
        inc, r2, _ = m.logon('RDG_IN_DATA', ws=False)
        check(r2.status == 200 and r2.header('Content-Length') == '0',
              'legacy IN: 200, Content-Length 0 (got %d)' % r2.status)
        inc.send(R.build_request('RDG_IN_DATA', m.headers(False, None, None, legacy_in=True)))
        t = R.LegacyTunnel(out, inc)
    else:
        c, r, _ = m.logon('RDG_OUT_DATA')
        check(r.status == 101, 'WebSocket: 101 after the AUTHENTICATE (got %d)' % r.status)
        t = R.WsTunnel(c)
    t.send_pkt(HANDSHAKE)
    expect_exact(t, bytes.fromhex('0200000012000000' '00000000' '0100' '0000' '0000'),
                 'HANDSHAKE_RESPONSE 1.0')
    t.send_pkt(TUNNEL_CREATE)
    rt, body = t.recv_pkt(10)
    check(rt == R.TUNNEL_RESPONSE and len(body) == 18,
          'TUNNEL_RESPONSE of 26 bytes, no extra u16 (got %d)' % (8 + len(body)))
    ver, st, fields = struct.unpack_from('<HIH', body, 0)
    check(st == 0 and fields == 3, 'status 0, fields 0x3 (tunnelId, caps)')
    caps = struct.unpack_from('<I', body, 14)[0]
    check(caps & ~0x3F == 0 and not caps & 0x30, 'caps 0x%x within 0x3F, without REAUTH and UDP' % caps)
    t.send_pkt(tunnel_auth())
    rt, body = t.recv_pkt(10)
    check(rt == R.TUNNEL_AUTH_RESPONSE and struct.unpack_from('<IH', body, 0) == (0, 3),
          'TUNNEL_AUTH_RESPONSE S_OK, fields 0x3 (redirection flags, idle timeout)')
    channel(t, a.target, a.target_port, 1)
    if a.recreate:
        channel(t, a.target, a.target_port, 2)
    if a.legacy:
        eof, _ = t.finish(5)
    else:
        t.conn.send(R.ws_frame(R.WS_CLOSE, struct.pack('>H', 1000)))
        eof, _ = t.wait_eof(5)
        check(t.masked_seen is False, 'server frames unmasked')
    check(eof, 'the gateway closes after the client\'s close')
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--gw', type=int, required=True)
    p.add_argument('--users', required=True)
    p.add_argument('--user', required=True)
    p.add_argument('--upn', required=True)
    p.add_argument('--host', default='localhost', help='the gateway name (Host, SPN)')
    p.add_argument('--target', required=True)
    p.add_argument('--target-port', type=int, required=True)
    p.add_argument('--legacy', action='store_true')
    p.add_argument('--recreate', action='store_true')
    return run(p.parse_args())


if __name__ == '__main__':
    sys.exit(main())
