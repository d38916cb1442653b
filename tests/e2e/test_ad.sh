#!/usr/bin/env bash
# Issue 11: Active Directory users through winbind. A real Samba AD DC for CONTOSO.TEST and the
# gateway's host RDGW joined to it (its own winbindd), from tests/support/adlab.sh; tsgwd runs
# as the member (inside the lab's network and mount namespaces: libwbclient only knows
# /run/samba/winbindd/pipe). Real xfreerdp through tsgwd to freerdp-shadow-cli with AD accounts.
#
# The lab: $TSGW_ADLAB names one that is up (scripts/test.sh starts one for the normal and the
# ASan runs); without it this test starts its own and stops it at the end. A lab that does not
# come up fails the test (never a skip).
HERE=$(cd "$(dirname "$0")" && pwd)
ADLAB=$(cd "$HERE/../support" && pwd)/adlab.sh

. "$HERE/adlab_enter.sh"
adlab_enter "$0"

# ---- inside the lab (network namespace with lo only; /run/samba = the member's) ----
. "$HERE/lib.sh"
LAB=$TSGW_ADLAB

TPORT=$(free_port)
GPORT=$(free_port)
SOCK="$WORK/admin.sock"
# a certificate for the gateway's name (MIT's KDC proxy client checks it)
adlab_cert
add_user "$WORK/users" 'LOCAL\lena' 'Lena-Local1' 'RDG Users'
cat >"$WORK/tsgw.conf" <<CONF
[gateway]
listen = 127.0.0.20:$GPORT
certificate = cert.pem
private-key = key.pem
admin-socket = admin.sock
[auth]
users-file = users
directory = winbind
directory-timeout = 3s
gateway-names = rdgw.contoso.test
[limits]
auth-failures = 50
[kdc-proxy]
realm = CONTOSO.TEST
kdcs = 127.0.0.10:88
max-requests = 8
[cap:Staff]
user-groups = CONTOSO\\RDG Users; LOCAL\\lena
[rap:Admins]
user-groups = CONTOSO\\RDG Admins; LOCAL\\lena
resources = 127.0.0.1
ports = $TPORT
CONF
ctl() { "$TSGWCTL" -s "$SOCK" "$@"; }
# MIT Kerberos through the gateway's KDC proxy only (no KDC address at all)
cat >"$WORK/krb5-proxy.conf" <<KRB
[libdefaults]
	default_realm = CONTOSO.TEST
	dns_lookup_realm = false
	dns_lookup_kdc = false
	rdns = false
[realms]
	CONTOSO.TEST = {
		kdc = https://rdgw.contoso.test:$GPORT/KdcProxy
		http_anchors = FILE:$WORK/cert.pem
	}
KRB

ok "the lab's winbindd answers (wbinfo -t through the member)" bash -c "wbinfo -t >/dev/null"
start_target "$TPORT" target || { echo "Bail out! RDP target did not start"; exit 1; }
start_tsgwd "$WORK/tsgw.conf" gw || { echo "Bail out! tsgwd did not start"; exit 1; }
ok "tsgwd learnt the member's names from winbindd" has gw "directory: member RDGW of domain CONTOSO (contoso.test)"

# KDC proxy (MS-KKDCP): kinit gets a TGT from the lab's KDC through POST /KdcProxy
echo 'Alice-Passw0rd!' | KRB5_CONFIG="$WORK/krb5-proxy.conf" KRB5CCNAME="FILE:$WORK/cc" \
    KRB5_TRACE="$WORK/kinit-trace.log" timeout 30 kinit alice >"$WORK/kinit.log" 2>&1
rc=$?
ok "kinit alice through https://rdgw.contoso.test/KdcProxy: exit 0" [ $rc -eq 0 ]
ok "kinit through the proxy: a TGT for alice@CONTOSO.TEST in the cache" \
    bash -c "KRB5CCNAME=FILE:$WORK/cc klist | grep -q 'krbtgt/CONTOSO.TEST@CONTOSO.TEST'"
ok "kinit through the proxy: the requests went over HTTPS to the gateway" \
    has kinit-trace "Sending HTTPS request to https 127.0.0.20:$GPORT"
kkdcp() { # kkdcp NAME HEX: POSTs the bytes, prints the HTTP status
    python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' "$2" >"$WORK/$1.bin"
    curl -sk -o /dev/null -w '%{http_code}' --resolve rdgw.contoso.test:$GPORT:127.0.0.20 \
        -H 'Content-Type: application/kerberos' --data-binary @"$WORK/$1.bin" \
        https://rdgw.contoso.test:$GPORT/KdcProxy
}
# KDC-PROXY-MESSAGE { [0] "\0\0\0\1\x05", [1] "EVIL.TEST" }
ok "KDC proxy: another realm is refused (400)" \
    [ "$(kkdcp evil 3016a00704050000000105a10b1b094556494c2e54455354)" = 400 ]
ok "KDC proxy: bad DER is refused (400)" [ "$(kkdcp bad 3080a0070405000000010500)" = 400 ]
ok "KDC proxy: a length prefix that lies is refused (400)" \
    [ "$(kkdcp lie 3019a00704050000000905a10e1b0c434f4e544f534f2e54455354)" = 400 ]
codes=""
for i in 1 2 3 4 5; do codes="$codes $(kkdcp rate 3080)"; done
log "KDC proxy: statuses past the per-address limit:$codes"
ok "KDC proxy: rate limited per address (429 after 8 requests a minute)" \
    bash -c "echo '$codes' | grep -q 429"
ok "KDC proxy: the gateway logged the refusals" has gw "KDC proxy: 400 to 127.0.0.1: realm 'EVIL.TEST' is not CONTOSO.TEST"

G="/g:rdgw.contoso.test:$GPORT"
ALICE="$G /gu:CONTOSO\\alice /gp:Alice-Passw0rd!"

xfr ws /v:127.0.0.1:$TPORT $ALICE /gt:http /u:test /p:test +auth-only
rc=$?
ok "CONTOSO\\alice (WebSocket): xfreerdp +auth-only exits 0" [ $rc -eq 0 ]
ok "CONTOSO\\alice (WebSocket): upgraded (101)" has ws "RDG_OUT_DATA authorization result: 101"
ok "CONTOSO\\alice: verified through winbind with MIC and channel binding" \
    has gw 'authenticated as CONTOSO\\alice (NTLM through winbind, MIC, channel binding'
ok "CONTOSO\\alice: event 200 with the canonical name" has gw 'EVENT 200 Username="CONTOSO\\\\alice"'
ok "CONTOSO\\alice: RAP by AD group (RDG Admins): event 302" \
    has gw 'EVENT 302 Username="CONTOSO\\\\alice".*Transport="websocket"'

xfr legacy /v:127.0.0.1:$TPORT $ALICE /gt:http,no-websockets /u:test /p:test +auth-only
rc=$?
ok "CONTOSO\\alice (legacy): xfreerdp +auth-only exits 0" [ $rc -eq 0 ]
ok "CONTOSO\\alice (legacy): IN channel paired (200)" has legacy "RDG_IN_DATA authorization result: 200"
ok "CONTOSO\\alice (legacy): event 302" has gw 'EVENT 302 Username="CONTOSO\\\\alice".*Transport="legacy"'

xfr upn /v:127.0.0.1:$TPORT $G "/gu:alice@contoso.test" "/gp:Alice-Passw0rd!" /gt:http \
    /u:test /p:test +auth-only
rc=$?
ok "alice@contoso.test with an empty domain: accepted" [ $rc -eq 0 ]
ok "alice@contoso.test: the same canonical name" \
    has gw 'authenticated as CONTOSO\\alice (NTLM through winbind.*sent as alice@contoso.test)'

xfr lower /v:127.0.0.1:$TPORT $G "/gu:contoso\\ALICE" "/gp:Alice-Passw0rd!" /gt:http \
    /u:test /p:test +auth-only
rc=$?
ok "contoso\\ALICE: accepted as CONTOSO\\alice" \
    bash -c "[ $rc -eq 0 ] && grep -q 'authenticated as CONTOSO.alice .*sent as contoso.ALICE' '$WORK/gw.log'"

xfr badpw /v:127.0.0.1:$TPORT $G "/gu:CONTOSO\\alice" /gp:wrong /gt:http /u:test /p:test +auth-only
rc=$?
ok "wrong password: refused" [ $rc -ne 0 ]
ok "wrong password: event 201 with NTSTATUS and reason" \
    has gw 'EVENT 201 Username="CONTOSO\\\\alice".*ErrorCode="1326" NtStatus="0xC000006A" Reason="wrong password'

xfr carol /v:127.0.0.1:$TPORT $G "/gu:CONTOSO\\carol" "/gp:Carol-Passw0rd!" /gt:http /u:test \
    /p:test +auth-only
rc=$?
ok "disabled account: refused" [ $rc -ne 0 ]
ok "disabled account: event 201 'account disabled'" \
    has gw 'EVENT 201 Username="CONTOSO\\\\carol".*ErrorCode="1331" NtStatus="0xC0000072" Reason="account disabled'

xfr bob /v:127.0.0.1:$TPORT $G "/gu:CONTOSO\\bob" "/gp:Bob-Passw0rd!" /gt:http /u:test /p:test \
    +auth-only
rc=$?
ok "bob (not in RDG Users): authenticated by the domain" has gw 'authenticated as CONTOSO\\bob'
ok "bob: refused by the CAP (event 201)" bash -c "[ $rc -ne 0 ] && grep -q 'EVENT 201 Username=\"CONTOSO..bob\"' '$WORK/gw.log'"

xfr dave /v:127.0.0.1:$TPORT $G "/gu:CONTOSO\\dave" "/gp:Dave-Passw0rd!" /gt:http /u:test \
    /p:test +auth-only
rc=$?
ok "dave (RDG Users through nested Helpdesk): passes the CAP (event 200)" \
    has gw 'EVENT 200 Username="CONTOSO\\\\dave"'
ok "dave (not in RDG Admins): refused by the RAP (E_PROXY_RAP_ACCESSDENIED)" \
    bash -c "[ $rc -ne 0 ] && grep -q E_PROXY_RAP_ACCESSDENIED '$WORK/dave.log'"

# DisconnectUser with another spelling ends alice's tunnel
xfr_bg live /v:127.0.0.1:$TPORT $ALICE /gt:http /u:test /p:test
LIVE=$XFR_PID
wait_for 40 "$WORK/live.log" CONNECTION_STATE_ACTIVE
ok "alice's session is active" has live CONNECTION_STATE_ACTIVE
xfr_bg lena /v:127.0.0.1:$TPORT $G "/gu:LOCAL\\lena" "/gp:Lena-Local1" /gt:http /u:test /p:test
LENA=$XFR_PID
wait_for 40 "$WORK/lena.log" CONNECTION_STATE_ACTIVE
ok "a local account (LOCAL\\lena) next to the domain: active" has lena CONNECTION_STATE_ACTIVE

# the domain controller stops: local accounts and open tunnels go on, domain logons fail fast
"$ADLAB" dc-stop "$LAB" 2>"$WORK/dcstop.log"
T0=$(date +%s%N)
xfr dcdown /v:127.0.0.1:$TPORT $ALICE /gt:http /u:test /p:test +auth-only
rc=$?
T1=$(date +%s%N)
log "domain logon with the DC stopped took $(((T1 - T0) / 1000000)) ms"
ok "DC stopped: a domain logon is refused" [ $rc -ne 0 ]
ok "DC stopped: refused within the directory timeout (< 15 s for the whole client run)" \
    [ $(((T1 - T0) / 1000000)) -lt 15000 ]
ok "DC stopped: event 201 says the directory is unavailable" \
    bash -c "grep 'EVENT 201 Username=\"CONTOSO..alice\"' '$WORK/gw.log' | grep -q 'directory unavailable\|did not answer'"
xfr localdown /v:127.0.0.1:$TPORT $G "/gu:LOCAL\\lena" "/gp:Lena-Local1" /gt:http /u:test \
    /p:test +auth-only
rc=$?
ok "DC stopped: a local account still logs on" [ $rc -eq 0 ]
ok "DC stopped: the open domain tunnel is still there" kill -0 "$LIVE"
ok "DC stopped: the admin socket still answers (alice's tunnel listed)" \
    bash -c "'$TSGWCTL' -s '$SOCK' --json ls | grep -q 'CONTOSO.*alice'"
"$ADLAB" dc-start "$LAB" 2>"$WORK/dcstart.log"
ok=""
for i in $(seq 1 20); do
    xfr back$i /v:127.0.0.1:$TPORT $ALICE /gt:http /u:test /p:test +auth-only && { ok=1; break; }
    sleep 1
done
ok "DC back: domain logons work again" [ -n "$ok" ]

# winbindd hangs (SIGSTOP): the logon gets 503 at the directory-timeout (3 s), the loop goes on
WBPID=$(cat "$LAB/member/run/winbindd.pid")
kill -STOP "$WBPID"
T0=$(date +%s%N)
xfr_bg hung /v:127.0.0.1:$TPORT $ALICE /gt:http /u:test /p:test +auth-only
HUNG=$XFR_PID
sleep 1
ok "winbindd hung: the admin socket answers while a logon waits" \
    bash -c "'$TSGWCTL' -s '$SOCK' --json ls | grep -q 'CONTOSO.*alice'"
wait "$HUNG"
rc=$?
T1=$(date +%s%N)
kill -CONT "$WBPID"
log "domain logon with winbindd stopped took $(((T1 - T0) / 1000000)) ms"
ok "winbindd hung: the logon is refused after the 3 s deadline (client run < 12 s)" \
    bash -c "[ $rc -ne 0 ] && [ $(((T1 - T0) / 1000000)) -ge 3000 ] && [ $(((T1 - T0) / 1000000)) -lt 12000 ]"
ok "winbindd hung: event 201 'did not answer within 3000 ms'" \
    has gw 'EVENT 201 Username="CONTOSO\\\\alice".*did not answer within 3000 ms'

ctl disconnect-user 'contoso\ALICE' >"$WORK/discuser.log" 2>&1
for i in $(seq 1 50); do kill -0 "$LIVE" 2>/dev/null || break; sleep 0.1; done
ok "DisconnectUser('contoso\\ALICE') ends alice's tunnel" bash -c "! kill -0 $LIVE 2>/dev/null"
ok "DisconnectUser('contoso\\ALICE') leaves lena's" kill -0 "$LENA"
stop_pid "$LENA"
kill -HUP "$GW_PID"
wait_for 5 "$WORK/gw.log" "configuration reloaded"
ok "SIGHUP with the directory configured: reloaded, still running" kill -0 "$GW_PID"
kill -TERM "$GW_PID"
wait "$GW_PID"
rc=$?
ok "SIGTERM: tsgwd stops cleanly with its directory workers (exit 0)" [ $rc -eq 0 ]
ok "no sanitizer report in the daemon's log" hasnt gw "Sanitizer\|runtime error"
finish
