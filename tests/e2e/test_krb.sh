#!/usr/bin/env bash
# Issue 11, item 4: Kerberos through Negotiate against the real Samba AD lab
# (tests/support/adlab.sh: CONTOSO.TEST, the gateway's host RDGW joined with SPN
# HTTP/rdgw.contoso.test in its keytab). Real peers: MIT kinit against the lab's KDC, the
# project's GSSAPI client (tools/tsgw-load --negotiate: MIT's SPNEGO initiator with channel
# bindings) through the whole tunnel to freerdp-shadow-cli, and curl --negotiate for the HTTP
# step. The lab: $TSGW_ADLAB names one that is up (scripts/test.sh), else this test starts its
# own (a lab that does not come up fails the test, never a skip).
HERE=$(cd "$(dirname "$0")" && pwd)
ADLAB=$(cd "$HERE/../support" && pwd)/adlab.sh

. "$HERE/adlab_enter.sh"
adlab_enter "$0"

# ---- inside the lab (network namespace with lo only; /run/samba = the member's) ----
. "$HERE/lib.sh"
LAB=$TSGW_ADLAB
export KRB5_CONFIG=$LAB/krb5.conf # always the lab's (never /etc/krb5.conf)
LOAD=$BUILD/tools/tsgw-load

TPORT=$(free_port)
GPORT=$(free_port)
SOCK="$WORK/admin.sock"
adlab_cert
add_user "$WORK/users" 'LOCAL\lena' 'Lena-Local1' 'RDG Users'
conf() { # conf CHANNEL-BINDING [extra [limits] lines] [directory]
    cat <<CONF
[gateway]
listen = 127.0.0.20:$GPORT
certificate = cert.pem
private-key = key.pem
admin-socket = admin.sock
[auth]
users-file = users
directory = ${3:-winbind}
directory-timeout = 3s
gateway-names = rdgw.contoso.test
keytab = $LAB/member/krb5.keytab
service-principal = HTTP/rdgw.contoso.test
channel-binding = $1
[limits]
auth-failures = ${AUTHF:-100}
$2
[cap:Staff]
user-groups = CONTOSO\\RDG Users; LOCAL\\lena
[rap:Admins]
user-groups = CONTOSO\\RDG Users
resources = 127.0.0.1
ports = $TPORT
CONF
}
conf if-present "" >"$WORK/tsgw.conf"
ctl() { "$TSGWCTL" -s "$SOCK" "$@"; }
# load NAME CCACHE ARGS...: tsgw-load --negotiate with that ticket cache, JSON in NAME.log
load() {
    local name=$1 cc=$2
    shift 2
    KRB5CCNAME=FILE:$WORK/$cc.cc timeout 60 "$LOAD" --gateway 127.0.0.20:$GPORT \
        --spn-host rdgw.contoso.test --target 127.0.0.1:$TPORT --negotiate "$@" \
        >"$WORK/$name.log" 2>&1
}
# jok FILE EXPR: true when EXPR holds for d = tsgw-load's JSON result line in FILE
jok() {
    python3 -c 'import json,sys
d=[json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")][-1]
sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2" 2>/dev/null
}
gwlines() { wc -l <"$WORK/gw.log"; }
after() { tail -n +"$(($1 + 1))" "$WORK/gw.log" | grep -q -- "$2"; } # after N PATTERN

# tickets from the lab's KDC
for u in alice:Alice-Passw0rd! bob:Bob-Passw0rd!; do
    echo "${u#*:}" | KRB5CCNAME=FILE:$WORK/${u%%:*}.cc timeout 30 kinit "${u%%:*}" \
        >"$WORK/kinit-${u%%:*}.log" 2>&1
done
ok "kinit alice and bob against the lab KDC" \
    bash -c "KRB5CCNAME=FILE:$WORK/alice.cc klist -s && KRB5CCNAME=FILE:$WORK/bob.cc klist -s"
# a service principal whose key tsgw does not have: HTTP/other.contoso.test on bob's account
samba-tool spn list bob -s "$LAB/dc/etc/smb.conf" 2>/dev/null | grep -q HTTP/other.contoso.test ||
    samba-tool spn add HTTP/other.contoso.test bob -s "$LAB/dc/etc/smb.conf" >"$WORK/spn.log" 2>&1
ok "the lab has HTTP/other.contoso.test (another account's SPN)" \
    bash -c "samba-tool spn list bob -s '$LAB/dc/etc/smb.conf' | grep -q HTTP/other.contoso.test"

start_target "$TPORT" target || { echo "Bail out! RDP target did not start"; exit 1; }
start_tsgwd "$WORK/tsgw.conf" gw || { echo "Bail out! tsgwd did not start"; exit 1; }

# 1. a whole tunnel with Kerberos (WebSocket, then legacy): HTTP step, MS-TSGU, channel to the
# RDP target
load ws alice --setups 2 --concurrency 1
ok "alice (WebSocket): 2 Kerberos tunnel setups complete" \
    jok "$WORK/ws.log" "d['ok'] == 2 and d['failed'] == 0"
ok "alice: verified by the keytab with mutual auth and channel binding, PAC through winbind" \
    has gw 'authenticated as CONTOSO\\alice (Kerberos, principal alice@CONTOSO.TEST, mutual, channel binding, PAC through winbind)'
ok "alice: event 200 with the canonical name and AuthType Kerberos" \
    has gw 'EVENT 200 Username="CONTOSO\\\\alice".*AuthType="Kerberos"'
ok "alice: the RAP by AD group let her reach the target (event 302)" \
    has gw 'EVENT 302 Username="CONTOSO\\\\alice"'
load legacy alice --setups 1 --mode legacy
ok "alice (legacy OUT/IN pair): the Kerberos tunnel setup completes" \
    jok "$WORK/legacy.log" "d['ok'] == 1 and d['failed'] == 0"

# 2. curl --negotiate for the HTTP step (legacy OUT: 200 and the mutual-auth token, which
# curl's GSSAPI checks)
N=$(gwlines)
KRB5CCNAME=FILE:$WORK/alice.cc curl -sk -v --negotiate -u : --max-time 4 -o /dev/null \
    -w '%{http_code}\n' -X RDG_OUT_DATA -H 'RDG-Connection-Id: {11111111-2222-3333-4444-555555555555}' \
    --resolve rdgw.contoso.test:$GPORT:127.0.0.20 \
    https://rdgw.contoso.test:$GPORT/remoteDesktopGateway/ >"$WORK/curl.log" 2>&1
ok "curl --negotiate: 200 for RDG_OUT_DATA after the Negotiate round" \
    bash -c "head -c 3 '$WORK/curl.log' | grep -q 200 || grep -q '^200$' '$WORK/curl.log'"
ok "curl --negotiate: the gateway verified alice by Kerberos (curl sends no channel bindings)" \
    after $N 'authenticated as CONTOSO.alice (Kerberos, principal alice@CONTOSO.TEST, mutual, PAC'
ok "curl --negotiate: curl accepted the mutual-auth token (no GSS error)" \
    bash -c "! grep -v -i '^[<>] \(WWW-Authenticate\|Authorization\):' '$WORK/curl.log' | grep -qi 'gss\|negotiate.*fail\|mutual'"

# 2b. a hand-built NegTokenInit (MS krb5 OID first, an AP-REQ without mutual authentication, a
# mechListMIC): the MIC is verified, the answer names MS krb5 and carries tsgw's own MIC, which
# MIT verifies; a corrupted MIC is refused
N=$(gwlines)
KRB5CCNAME=FILE:$WORK/alice.cc timeout 20 /usr/bin/python3 "$HERE/../support/krb_mic_client.py" \
    rdgw.contoso.test "$GPORT" ok >"$WORK/micok.log" 2>&1
ok "mechListMIC from the initiator: 200, MS krb5 named, tsgw's MIC verified by MIT" \
    bash -c "[ $? -eq 0 ] && grep -q \"tsgw's mechListMIC verified\" '$WORK/micok.log'"
ok "... logged as Kerberos with mechListMIC" after $N 'authenticated as CONTOSO.alice (Kerberos, .*mechListMIC'
N=$(gwlines)
KRB5CCNAME=FILE:$WORK/alice.cc timeout 20 /usr/bin/python3 "$HERE/../support/krb_mic_client.py" \
    rdgw.contoso.test "$GPORT" badmic >"$WORK/micbad.log" 2>&1
ok "a corrupted mechListMIC: 401" grep -q "^status 401" "$WORK/micbad.log"
ok "... event 201 'mechListMIC does not verify'" after $N 'EVENT 201 .*mechListMIC does not verify'

# 3. refusals: a ticket for another service, wrong channel bindings
N=$(gwlines)
load other alice --setups 1 --spn-host other.contoso.test
ok "a ticket for HTTP/other.contoso.test: refused" \
    jok "$WORK/other.log" "d['ok'] == 0 and d['failed'] == 1"
ok "... with 401 and event 201 'ticket for another service'" \
    after $N 'EVENT 201 .*AuthType="Negotiate".*Reason="Kerberos: ticket for another service'
N=$(gwlines)
load badcb alice --setups 1 --bad-cb
ok "wrong channel bindings: refused" jok "$WORK/badcb.log" "d['ok'] == 0 and d['failed'] == 1"
ok "... event 201 'channel bindings do not match'" \
    after $N 'EVENT 201 .*Reason="Kerberos: channel bindings do not match'
grep -q 'access denied (401)' "$WORK/badcb.log"
ok "... the client saw a 401" [ $? -eq 0 ]

# 4. bob has a valid ticket but is not in the CAP's AD group
N=$(gwlines)
load bob bob --setups 1
ok "bob: authenticated by Kerberos (PAC through winbind)" \
    after $N 'authenticated as CONTOSO.bob (Kerberos, principal bob@CONTOSO.TEST'
ok "bob: refused by the CAP (event 201 for CONTOSO\\bob, no tunnel)" \
    bash -c "grep -q 'EVENT 201 Username=\"CONTOSO..bob\".*AuthType=\"Kerberos\"' '$WORK/gw.log' && grep -q '\"ok\":0' '$WORK/bob.log'"

# 5. DisconnectUser('contoso\ALICE') ends her Kerberos tunnel
KRB5CCNAME=FILE:$WORK/alice.cc timeout 120 "$LOAD" --gateway 127.0.0.20:$GPORT \
    --spn-host rdgw.contoso.test --target 127.0.0.1:$TPORT --negotiate --idle --tunnels 1 \
    >"$WORK/idle.log" 2>&1 &
IDLE=$!
PIDS+=($IDLE)
wait_for 30 "$WORK/idle.log" "READY 1 failed=0"
ok "alice's idle Kerberos tunnel is open" has idle "READY 1 failed=0"
ok "the registry lists CONTOSO\\alice's tunnel" bash -c "'$TSGWCTL' -s '$SOCK' --json ls | grep -q 'CONTOSO.*alice'"
ctl disconnect-user 'contoso\ALICE' >"$WORK/discuser.log" 2>&1
for i in $(seq 1 50); do
    "$TSGWCTL" -s "$SOCK" --json ls | grep -q 'CONTOSO.*alice' || break
    sleep 0.1
done
ok "DisconnectUser('contoso\\ALICE') ends her Kerberos tunnel" \
    bash -c "! '$TSGWCTL' -s '$SOCK' --json ls | grep -q 'CONTOSO.*alice'"
stop_pid "$IDLE"

# 5b. winbindd hangs (SIGSTOP): the PAC lookup runs into directory-timeout (3 s): 503 and event
# 201 for that logon, while the admin socket answers
WBPID=$(cat "$LAB/member/run/winbindd.pid")
kill -STOP "$WBPID"
N=$(gwlines)
T0=$(date +%s%N)
# (GSS_MECH_CONFIG=/dev/null: the client's SPNEGO offers Kerberos only; with gss-ntlmssp loaded,
# MIT's initiator itself would ask the frozen winbindd for NTLM credentials and hang)
GSS_MECH_CONFIG=/dev/null load hung alice --setups 1 --timeout 20 &
HUNG=$!
sleep 1
ok "winbindd hung: the admin socket answers while a Kerberos logon waits" \
    bash -c "'$TSGWCTL' -s '$SOCK' --json ls >/dev/null"
wait "$HUNG"
T1=$(date +%s%N)
kill -CONT "$WBPID"
log "Kerberos logon with winbindd stopped took $(((T1 - T0) / 1000000)) ms"
ok "winbindd hung: refused with 503 after the 3 s deadline" \
    bash -c "grep -q 'got 503\|HTTP 503\|503' '$WORK/hung.log' && [ $(((T1 - T0) / 1000000)) -ge 3000 ] && [ $(((T1 - T0) / 1000000)) -lt 12000 ]"
ok "... event 201 ErrorCode 1311 'no answer within 3000 ms'" \
    after $N 'EVENT 201 .*ErrorCode="1311".*no answer within 3000 ms'

# 6. channel-binding = required: a client without bindings (curl, --no-cb) is refused
ecb() { ctl --json policy | python3 -c 'import json,sys; print(json.load(sys.stdin)["Win32_TSGatewayServerSettings"][0]["EnforceChannelBinding"])'; }
ok "EnforceChannelBinding is False with channel-binding = if-present" [ "$(ecb)" = False ]
conf required "" >"$WORK/tsgw.conf"
kill -HUP "$GW_PID"
wait_for 5 "$WORK/gw.log" "configuration reloaded"
ok "EnforceChannelBinding is True with channel-binding = required" [ "$(ecb)" = True ]
N=$(gwlines)
KRB5CCNAME=FILE:$WORK/alice.cc curl -sk --negotiate -u : --max-time 4 -o /dev/null \
    -w '%{http_code}\n' -X RDG_OUT_DATA -H 'RDG-Connection-Id: {11111111-2222-3333-4444-555555555556}' \
    --resolve rdgw.contoso.test:$GPORT:127.0.0.20 \
    https://rdgw.contoso.test:$GPORT/remoteDesktopGateway/ >"$WORK/curlreq.log" 2>&1
ok "channel-binding = required: curl (no bindings) gets 401" grep -q '^401' "$WORK/curlreq.log"
ok "... event 201 'channel binding required'" \
    after $N 'EVENT 201 .*channel binding required'
load nocb alice --setups 1 --no-cb
ok "channel-binding = required: tsgw-load --no-cb refused" \
    jok "$WORK/nocb.log" "d['ok'] == 0 and d['failed'] == 1"
load reqcb alice --setups 1
ok "channel-binding = required: with the right bindings the tunnel completes" \
    jok "$WORK/reqcb.log" "d['ok'] == 1 and d['failed'] == 0"

# 7. token size: the header cap is pre-authentication; with the defaults a 12 KiB Authorization
# line gets 431 and only its connection closes; with the documented limits for large PACs a
# 40 KiB SPNEGO token reaches the Kerberos acceptor (and is refused there as garbage)
big() { # big BYTES: a NegTokenInit naming Kerberos with a BYTES-long junk AP-REQ, base64
    /usr/bin/python3 - "$1" <<'EOF'
import base64, os, sys
def der(tag, b):
    n = len(b)
    if n < 0x80: l = bytes([n])
    elif n < 0x100: l = bytes([0x81, n])
    else: l = bytes([0x82, n >> 8, n & 0xff])
    return bytes([tag]) + l + b
krb5 = der(0x06, bytes.fromhex("2a864886f712010202"))
init = der(0x30, der(0xa0, der(0x30, krb5)) + der(0xa2, der(0x04, os.urandom(int(sys.argv[1])))))
tok = der(0x60, der(0x06, bytes.fromhex("2b0601050502")) + der(0xa0, init))
print(base64.b64encode(tok).decode())
EOF
}
big 9000 >"$WORK/tok12k"
code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 5 -X RDG_OUT_DATA \
    -H "Authorization: Negotiate $(cat "$WORK/tok12k")" --resolve rdgw.contoso.test:$GPORT:127.0.0.20 \
    https://rdgw.contoso.test:$GPORT/remoteDesktopGateway/)
ok "a 12 KiB Authorization line with the default limits: 431 ($code)" [ "$code" = 431 ]
load after431 alice --setups 1
ok "... and the next Kerberos logon works (only that connection closed)" \
    jok "$WORK/after431.log" "d['ok'] == 1"
# a keytab without the service's key (tsgwd's side, e.g. a keytab its user cannot read after
# dropping root): 503, event 201 1311, not counted against the user
sed "s|^keytab = .*|keytab = $WORK/cert.pem|" "$WORK/tsgw.conf" >"$WORK/tsgw-badkt.conf"
cp "$WORK/tsgw-badkt.conf" "$WORK/tsgw.conf"
kill -HUP "$GW_PID"
sleep 1
N=$(gwlines)
load badkt alice --setups 1
ok "a keytab without the service key: 503 for the client" grep -q "got 503" "$WORK/badkt.log"
ok "... event 201 ErrorCode 1311 'Kerberos unavailable: no key for HTTP/rdgw.contoso.test'" \
    after $N 'EVENT 201 .*ErrorCode="1311".*Kerberos unavailable: no key for HTTP/rdgw.contoso.test'
ok "tsgwd is still running" kill -0 "$GW_PID"
kill -TERM "$GW_PID"
wait "$GW_PID"
rc=$?
ok "SIGTERM: tsgwd stops cleanly (exit 0)" [ $rc -eq 0 ]
mv "$WORK/gw.log" "$WORK/gw1.log"
# header limits apply at start: a gateway with the documented limits for large PACs, and
# without a directory: principals map to the local store by realm (alice@CONTOSO.TEST is the
# users file's CONTOSO\alice); the Kerberos workers start for the keytab alone
add_user "$WORK/users" 'CONTOSO\alice' 'not-her-AD-password' 'CONTOSO\RDG Users' 'Alice (local)'
AUTHF=3 conf if-present "max-header-line = 65536
max-header-bytes = 73728" none >"$WORK/tsgw.conf"
start_tsgwd "$WORK/tsgw.conf" gw || { echo "Bail out! tsgwd did not start"; exit 1; }
big 40000 >"$WORK/tok40k"
N=$(gwlines)
code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 5 -X RDG_OUT_DATA \
    -H "Authorization: Negotiate $(cat "$WORK/tok40k")" --resolve rdgw.contoso.test:$GPORT:127.0.0.20 \
    https://rdgw.contoso.test:$GPORT/remoteDesktopGateway/)
ok "a 40 KiB Kerberos token with max-header-line = 65536: 401 from the acceptor ($code)" \
    bash -c "[ '$code' = 401 ]"
ok "... event 201: the junk AP-REQ refused by Kerberos" after $N 'EVENT 201 .*Reason="Kerberos: '
big 48500 >"$WORK/tok50k"
N=$(gwlines)
code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 5 -X RDG_OUT_DATA \
    -H "Authorization: Negotiate $(cat "$WORK/tok50k")" --resolve rdgw.contoso.test:$GPORT:127.0.0.20 \
    https://rdgw.contoso.test:$GPORT/remoteDesktopGateway/)
ok "a token over 48000 bytes: 401 before parsing ($code)" bash -c "[ '$code' = 401 ]"
ok "... event 201 'token malformed or too long'" after $N 'EVENT 201 .*too long'
load bigok alice --setups 1
ok "no directory: alice's Kerberos tunnel completes" jok "$WORK/bigok.log" "d['ok'] == 1"
ok "no directory: mapped by realm to the local store's CONTOSO\\alice" \
    has gw 'authenticated as CONTOSO\\alice (Kerberos, principal alice@CONTOSO.TEST, mutual, channel binding, local store)'
N=$(gwlines)
load boblocal bob --setups 1
ok "no directory: bob (no local account) refused" jok "$WORK/boblocal.log" "d['ok'] == 0"
ok "... event 201 'no account for bob@CONTOSO.TEST'" \
    after $N 'EVENT 201 Username="bob@CONTOSO.TEST".*Reason="Kerberos: no account for bob@CONTOSO.TEST'
# failed Kerberos logons count like any other (auth-failures = 3 here): bob's third failure
# blocks bob@CONTOSO.TEST from this address; alice goes on
load boblocal2 bob --setups 2 --concurrency 1
N=$(gwlines)
load boblocal3 bob --setups 1
ok "bob's fourth Kerberos logon in a row: refused as blocked (event 201, 1909)" \
    after $N 'EVENT 201 Username="bob@CONTOSO.TEST".*ErrorCode="1909"'
load alicenotblocked alice --setups 1
ok "... while alice's Kerberos logons from the same address go on" \
    jok "$WORK/alicenotblocked.log" "d['ok'] == 1"

kill -TERM "$GW_PID"
wait "$GW_PID"
rc=$?
ok "SIGTERM: tsgwd stops cleanly (exit 0)" [ $rc -eq 0 ]
# 8. tsgwd as nobody (setpriv, as test_ad_dir.sh does for NTLM), keytab readable by it, directory
# = winbind: the PAC goes through winbindd's privileged pipe, open only to group winbindd_priv
PRIV_GID=$(getent group winbindd_priv | cut -d: -f3)
chmod o+x "$LAB" "$LAB/member" "$LAB/member/state" # traversable, as /var/lib/samba on a real host
NR="$WORK/nonroot"
nobody_dir "$NR" "$WORK/cert.pem" "$WORK/key.pem" "$WORK/users" "$LAB/member/krb5.keytab"
conf if-present "" | sed "s|^keytab = .*|keytab = $NR/krb5.keytab|; /^admin-socket/d" >"$NR/tsgw.conf"
start_tsgwd_nobody "$NR" krbnopriv --clear-groups || { echo "Bail out! tsgwd (nobody) did not start"; exit 1; }
ok "Kerberos, tsgwd as nobody without winbindd_priv: runs as nobody" \
    [ "$(stat -c %U /proc/$GW_PID)" = nobody ]
load krbnopriv_c alice --setups 1
ok "without winbindd_priv: alice's Kerberos logon gets 503" grep -q "got 503" "$WORK/krbnopriv_c.log"
ok "... event 201 ErrorCode 1311 'tsgwd's user is not in group winbindd_priv'" \
    grep -q 'EVENT 201 .*ErrorCode="1311".*Reason="[^"]*tsgwd.s user is not in group winbindd_priv' \
    "$WORK/krbnopriv.log"
ok "... and the warning line names the fix" \
    grep -q "add it with 'usermod -aG winbindd_priv nobody'" "$WORK/krbnopriv.log"
stop_pid "$GW_PID"
start_tsgwd_nobody "$NR" krbpriv --groups="$PRIV_GID" || { echo "Bail out! tsgwd (nobody) did not start"; exit 1; }
load krbpriv_c alice --setups 1
ok "with winbindd_priv: the same Kerberos logon completes a tunnel" jok "$WORK/krbpriv_c.log" "d['ok'] == 1"
ok "... PAC through winbind, no winbindd_priv warning" \
    bash -c "grep -q 'authenticated as CONTOSO.alice (Kerberos' '$WORK/krbpriv.log' && ! grep -q 'not in group winbindd_priv' '$WORK/krbpriv.log'"
stop_pid "$GW_PID"
ok "no sanitizer report in the daemon's logs" bash -c "! grep -q 'Sanitizer\|runtime error' '$WORK/gw.log' '$WORK/gw1.log' '$WORK/krbnopriv.log' '$WORK/krbpriv.log'"
finish
