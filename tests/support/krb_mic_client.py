#!/usr/bin/python3
# krb_mic_client.py HOST PORT MODE: a Kerberos-through-SPNEGO initiator built by hand around
# MIT's raw krb5 mechanism (Debian's python3-gssapi, hence /usr/bin/python3), for the
# mechListMIC paths of tsgw's acceptor that MIT's own SPNEGO initiator never takes: the
# NegTokenInit carries [0] mechTypes {MS krb5, krb5}, [2] the AP-REQ and [3] a mechListMIC over
# the DER MechTypeList (MODE ok), or a corrupted one (MODE badmic); no mutual authentication
# (an initiator can sign before the AP-REP only without it). It sends RDG_OUT_DATA with
# "Authorization: Negotiate", then, for a 200, checks tsgw's answer: accept-completed,
# supportedMech = the MS krb5 OID it named first, no AP-REP (none was asked for) and tsgw's own
# mechListMIC, verified with the context's keys. Prints the HTTP status
# and what it checked; exit 0 when everything it received verified. Needs KRB5CCNAME/KRB5_CONFIG.
import base64
import hashlib
import socket
import ssl
import sys

import gssapi

from der import der_read, tlv

host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
KRB5 = "1.2.840.113554.1.2.2"
MS_KRB5_DER = bytes.fromhex("06092a864882f712010202")
KRB5_DER = bytes.fromhex("06092a864886f712010202")
SPNEGO_DER = bytes.fromhex("06062b0601050502")


raw = socket.create_connection((sys.argv[4] if len(sys.argv) > 4 else "127.0.0.20", port), 10)
tctx = ssl.create_default_context()
tctx.check_hostname = False
tctx.verify_mode = ssl.CERT_NONE
s = tctx.wrap_socket(raw, server_hostname=host)
cert = s.getpeercert(binary_form=True)
# RFC 5929: the test certificates are SHA-256-signed
cb = gssapi.raw.ChannelBindings(application_data=b"tls-server-end-point:" + hashlib.sha256(cert).digest())
name = gssapi.Name("HTTP@" + host, gssapi.NameType.hostbased_service)
ctx = gssapi.SecurityContext(
    name=name,
    mech=gssapi.OID.from_int_seq(KRB5),
    usage="initiate",
    # without mutual authentication the initiator's context is complete after the AP-REQ, so it
    # can sign the MechTypeList at once (with mutual, only after the AP-REP: no MIC in the init)
    flags=gssapi.RequirementFlag.integrity,
    channel_bindings=cb,
)
apreq = ctx.step()
mechlist = tlv(0x30, MS_KRB5_DER + KRB5_DER)
mic = ctx.get_signature(mechlist)
if mode == "badmic":
    mic = mic[:-1] + bytes([mic[-1] ^ 0xFF])
init = tlv(0x30, tlv(0xA0, mechlist) + tlv(0xA2, tlv(0x04, apreq)) + tlv(0xA3, tlv(0x04, mic)))
tok = tlv(0x60, SPNEGO_DER + tlv(0xA0, init))
req = (
    "RDG_OUT_DATA /remoteDesktopGateway/ HTTP/1.1\r\nHost: %s\r\nRDG-Connection-Id: "
    "{22222222-3333-4444-5555-666666666666}\r\nContent-Length: 0\r\n"
    "Authorization: Negotiate %s\r\n\r\n" % (host, base64.b64encode(tok).decode())
)
s.sendall(req.encode())
resp = b""
while b"\r\n\r\n" not in resp:
    d = s.recv(65536)
    if not d:
        break
    resp += d
head = resp.split(b"\r\n\r\n")[0].decode()
status = int(head.split()[1])
print("status", status)
ok = True
if status == 200:
    www = [l.split(" ", 2)[2] for l in head.split("\r\n") if l.lower().startswith("www-authenticate: negotiate ")]
    body = base64.b64decode(www[0])
    t, seq, _ = der_read(body, 0)
    t, fields, _ = der_read(seq, 0)
    i, got = 0, {}
    while i < len(fields):
        t, v, i = der_read(fields, i)
        got[t] = v
    _, state, _ = der_read(got[0xA0], 0)
    _, oid, _ = der_read(got[0xA1], 0)
    _, smic, _ = der_read(got[0xA3], 0)
    print("negState", state[0], "supportedMech MS krb5", got[0xA1] == MS_KRB5_DER,
          "responseToken", 0xA2 in got, "initiator complete", ctx.complete)
    ok = state == b"\x00" and got[0xA1] == MS_KRB5_DER and 0xA2 not in got and ctx.complete
    ctx.verify_signature(mechlist, smic)  # raises when tsgw's MIC does not verify
    print("tsgw's mechListMIC verified")
sys.exit(0 if ok else 1)
