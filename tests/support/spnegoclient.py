#!/usr/bin/python3
"""HTTP "Negotiate" (RFC 4559) logons to tsgwd with a real SPNEGO/NTLM implementation: MIT krb5's
GSSAPI with gss-ntlmssp (Debian packages python3-gssapi and gss-ntlmssp, so Debian's
/usr/bin/python3). Used by tests/e2e/test_mstsc.sh next to rdgclient.py.

  spnego_logon(port, user, password, ...)   the whole SPNEGO exchange as MIT's initiator does
                                            it (NTLM as its only mechanism, mechListMIC), on
                                            one TLS connection, with channel binding
  kerberos_first_logon(port, ...)           what a domain-joined mstsc sends when it holds a
                                            Kerberos ticket for the gateway: a NegTokenInit
                                            listing MS-KRB5, KRB5, NegoEx, NTLM with a Kerberos
                                            optimistic token; then NTLM (gss-ntlmssp) inside
                                            NegTokenResp with the mechListMIC it signs
Both return (Response of the last leg, Conn, details) and never hide a failure.
"""

import base64
import hashlib

import gssapi
import gssapi.raw as gr

import rdgclient as R
from der import der_read, tlv

NTLM = gssapi.OID.from_int_seq('1.3.6.1.4.1.311.2.2.10')
SPNEGO = gssapi.OID.from_int_seq('1.3.6.1.5.5.2')

# GSS_SPNEGO_REQUIRE_MIC_OID (1.3.6.1.4.1.7165.655.1.2, Samba's OID space)
REQUIRE_MIC = gssapi.OID(elements=bytes.fromhex('2b06010401b77d850f0102'))
OID_SPNEGO = bytes.fromhex('2b0601050502')
OID_NTLM = bytes.fromhex('2b06010401823702020a')
OID_KRB5 = bytes.fromhex('2a864886f712010202')
OID_MS_KRB5 = bytes.fromhex('2a864882f712010202')
OID_NEGOEX = bytes.fromhex('2b06010401823702021e')


def parse_resp(tok):
    """NegTokenResp fields: {'state', 'mech', 'token', 'mic'} (absent ones missing)."""
    tag, body, _ = der_read(tok)
    assert tag == 0xa1, 'not a NegTokenResp: %r' % tok[:4]
    tag, seq, _ = der_read(body)
    out, i = {}, 0
    while i < len(seq):
        tag, v, i = der_read(seq, i)
        _, inner, _ = der_read(v)
        if tag == 0xa0:
            out['state'] = inner[0]
        elif tag == 0xa1:
            out['mech'] = inner
        elif tag == 0xa2:
            out['token'] = inner
        elif tag == 0xa3:
            out['mic'] = inner
    return out


def neg_token_resp(token=None, mic=None, state=None):
    body = b''
    if state is not None:
        body += tlv(0xa0, tlv(0x0a, bytes([state])))
    if token is not None:
        body += tlv(0xa2, tlv(0x04, token))
    if mic is not None:
        body += tlv(0xa3, tlv(0x04, mic))
    return tlv(0xa1, tlv(0x30, body))


def mech_type_list(*oids):
    return tlv(0x30, b''.join(tlv(0x06, o) for o in oids))


def neg_token_init(mech_list, token=None):
    body = tlv(0xa0, mech_list)
    if token is not None:
        body += tlv(0xa2, tlv(0x04, token))
    return tlv(0x60, tlv(0x06, OID_SPNEGO) + tlv(0xa0, tlv(0x30, body)))


def bindings(cert_der):
    app = b'tls-server-end-point:' + hashlib.sha256(cert_der).digest()
    return gr.ChannelBindings(application_data=app)


def _creds(user, password, mech):
    name = gssapi.Name(user, gssapi.NameType.user)
    return gr.acquire_cred_with_password(name, password.encode(), usage='initiate',
                                         mechs=[mech]).creds


def _leg(conn, method, conn_id, ws_key, tok):
    conn.send(R.build_request(method, R.std_headers(
        conn_id, ws_key, auth='Negotiate ' + base64.b64encode(tok).decode())))
    return R.read_response(conn)


def _token_of(r):
    for k, v in r.headers:
        if k.lower() == 'www-authenticate' and v.startswith('Negotiate '):
            return base64.b64decode(v.split(' ', 1)[1])
    return None


def spnego_logon(port, user, password, method='RDG_OUT_DATA', ws_key=None, conn_id=None,
                 tamper_mic=False, target='HTTP@localhost', source=None):
    """MIT SPNEGO + gss-ntlmssp against tsgwd. tamper_mic flips a bit of the initiator's
    mechListMIC. Returns (last Response, Conn, details dict)."""
    conn = R.Conn(port, source=source)
    conn_id = conn_id or R.new_conn_id()
    ctx = gssapi.SecurityContext(
        name=gssapi.Name(target, gssapi.NameType.hostbased_service),
        creds=_creds(user, password, SPNEGO), mech=SPNEGO, usage='initiate',
        channel_bindings=bindings(conn.cert))
    d = {}
    t1 = ctx.step()
    d['t1'] = t1
    r = _leg(conn, method, conn_id, ws_key, t1)
    t2 = _token_of(r)
    d['r1'] = r
    if r.status != 401 or t2 is None:
        return r, conn, d
    d['t2'] = parse_resp(t2)
    t3 = ctx.step(t2)
    if tamper_mic:
        f = parse_resp(t3)
        mic = bytearray(f['mic'])
        mic[-5] ^= 0x01  # inside the checksum
        t3 = neg_token_resp(f['token'], bytes(mic), f.get('state'))
    d['t3'] = parse_resp(t3)
    r = _leg(conn, method, conn_id, ws_key, t3)
    d['r2'] = r
    t4 = _token_of(r)
    if t4 is not None:
        d['t4'] = parse_resp(t4)
        if r.status in (101, 200):
            ctx.step(t4)  # MIT checks the acceptor's mechListMIC here (raises if wrong)
    d['complete'] = ctx.complete
    return r, conn, d


def kerberos_first_logon(port, user, password, method='RDG_OUT_DATA', ws_key=None,
                         conn_id=None, send_mic=True, target='HTTP@localhost', source=None):
    """A NegTokenInit as a Kerberos-capable mstsc sends it (MS-KRB5, KRB5, NegoEx, NTLM and a
    stand-in AP-REQ: the KDC is not part of this test), then NTLM by gss-ntlmssp inside
    NegTokenResp, with the mechListMIC gss-ntlmssp signs over that MechTypeList."""
    conn = R.Conn(port, source=source)
    conn_id = conn_id or R.new_conn_id()
    mechs = mech_type_list(OID_MS_KRB5, OID_KRB5, OID_NEGOEX, OID_NTLM)
    ap_req = tlv(0x60, tlv(0x06, OID_KRB5) + b'\x01\x00' + b'\x6e\x03\x30\x01\x00')
    d = {}
    r = _leg(conn, method, conn_id, ws_key, neg_token_init(mechs, ap_req))
    d['r0'] = r
    t = _token_of(r)
    if r.status != 401 or t is None:
        return r, conn, d
    d['t0'] = parse_resp(t)
    ctx = gssapi.SecurityContext(
        name=gssapi.Name(target, gssapi.NameType.hostbased_service),
        creds=_creds(user, password, NTLM), mech=NTLM, usage='initiate',
        flags=gssapi.RequirementFlag.integrity | gssapi.RequirementFlag.mutual_authentication,
        channel_bindings=bindings(conn.cert))
    neg = ctx.step()
    # what MIT's SPNEGO tells the NTLM mechanism when SPNEGO carries a mechListMIC: then
    # gss-ntlmssp puts the NTLM MIC into the AUTHENTICATE (tsgw requires it)
    gr.inquire_sec_context_by_oid(ctx, REQUIRE_MIC)
    r = _leg(conn, method, conn_id, ws_key, neg_token_resp(neg))
    d['r1'] = r
    t = _token_of(r)
    if r.status != 401 or t is None:
        return r, conn, d
    d['t1'] = parse_resp(t)
    auth = ctx.step(d['t1']['token'])
    mic = ctx.get_signature(mechs) if send_mic else None
    r = _leg(conn, method, conn_id, ws_key, neg_token_resp(auth, mic))
    d['r2'] = r
    t = _token_of(r)
    if t is not None:
        d['t2'] = parse_resp(t)
        if 'mic' in d['t2']:
            ctx.verify_signature(mechs, d['t2']['mic'])  # raises when tsgw's MIC is wrong
            d['server_mic_ok'] = True
    return r, conn, d
