#!/usr/bin/env bash
# Issue 11, the directory's other ways in: the KDC proxy's KDCs found in DNS (_kerberos._tcp SRV
# records served by the lab DC's own DNS), typed passwords (HTTP Basic, the web console's
# sign-in, CIM-XML's Basic) checked by the domain, and tsgwd as an unprivileged user with and
# without group winbindd_priv. Real Samba AD DC and joined member from tests/support/adlab.sh
# (TSGW_ADLAB when scripts/test.sh started one, else its own), real MIT kinit, wbemcli, curl,
# tools/tsgw-load and the suite's MS-TSGU client (tests/support/rdgclient.py).
HERE=$(cd "$(dirname "$0")" && pwd)
ADLAB=$(cd "$HERE/../support" && pwd)/adlab.sh

. "$HERE/adlab_enter.sh"
adlab_enter "$0"

# ---- inside the lab (network namespace with lo only; /run/samba = the member's; resolv.conf
# names the DC's DNS server) ----
. "$HERE/lib.sh"
LAB=$TSGW_ADLAB

GPORT=$(free_port)
adlab_cert
chmod 644 "$WORK/key.pem"
add_user "$WORK/users" 'LOCAL\lena' 'Lena-Local1' 'RDG Users'

# ---------- 1. KDCs found in DNS ----------
cat >"$WORK/dns.conf" <<CONF
[gateway]
listen = 127.0.0.20:$GPORT
certificate = cert.pem
private-key = key.pem
[auth]
users-file = users
gateway-names = rdgw.contoso.test
[kdc-proxy]
realm = CONTOSO.TEST
timeout = 8s
CONF
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
ok "the lab's resolv.conf names the DC's DNS server" grep -q "nameserver 127.0.0.10" /etc/resolv.conf
start_tsgwd "$WORK/dns.conf" dns || { echo "Bail out! tsgwd did not start"; exit 1; }
ok "[kdc-proxy] realm without kdcs is accepted" has dns "tsgwd ready"
echo 'Alice-Passw0rd!' | KRB5_CONFIG="$WORK/krb5-proxy.conf" KRB5CCNAME="FILE:$WORK/cc" \
    KRB5_TRACE="$WORK/kinit-trace.log" timeout 30 kinit alice >"$WORK/kinit.log" 2>&1
rc=$?
ok "kinit alice through /KdcProxy with KDCs from DNS: exit 0" [ $rc -eq 0 ]
ok "kinit (KDCs from DNS): a TGT for alice@CONTOSO.TEST in the cache" \
    bash -c "KRB5CCNAME=FILE:$WORK/cc klist | grep -q 'krbtgt/CONTOSO.TEST@CONTOSO.TEST'"
ok "kinit (KDCs from DNS): its requests went over HTTPS to the gateway" \
    has kinit-trace "Sending HTTPS request to https 127.0.0.20:$GPORT"
ok "tsgwd found the KDC in DNS: _kerberos._tcp.CONTOSO.TEST -> dc1.contoso.test:88 (127.0.0.10)" \
    has dns "KDC proxy: 1 KDC address(es) of CONTOSO.TEST from DNS (_kerberos._tcp.CONTOSO.TEST, 1 SRV record(s), TTL 900 s): dc1.contoso.test:88 (127.0.0.10)"
ok "the lookup was done once for all of kinit's requests (cached with its TTL)" \
    [ "$(count dns 'KDC address(es) of CONTOSO.TEST from DNS')" = 1 ]
stop_pid "$GW_PID"

# a realm DNS knows nothing about: a clear log line and 503, the gateway unaffected
sed -i 's/^realm = CONTOSO.TEST/realm = NOWHERE.TEST/' "$WORK/dns.conf"
start_tsgwd "$WORK/dns.conf" nodns || { echo "Bail out! tsgwd did not start"; exit 1; }
# KDC-PROXY-MESSAGE { [0] "\0\0\0\1\x05", [1] "NOWHERE.TEST" }
python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' \
    3019a00704050000000105a10e1b0c4e4f57484552452e54455354 >"$WORK/nowhere.bin"
kkdcp_status() {
    curl -sk -o /dev/null -w '%{http_code}' --max-time 20 \
        --resolve rdgw.contoso.test:$GPORT:127.0.0.20 -H 'Content-Type: application/kerberos' \
        --data-binary @"$WORK/nowhere.bin" https://rdgw.contoso.test:$GPORT/KdcProxy
}
s1=$(kkdcp_status)
s2=$(kkdcp_status)
log "KDC proxy for NOWHERE.TEST: $s1 $s2"
ok "a realm without SRV records: the KDC request gets 503" [ "$s1" = 503 ]
ok "and the next one too, without waiting (the failure is remembered)" [ "$s2" = 503 ]
ok "tsgwd says clearly that DNS gives no KDC" \
    has nodns "KDC proxy: DNS gives no KDC for realm NOWHERE.TEST (_kerberos._tcp.NOWHERE.TEST: no such name (NXDOMAIN)); KDC requests get 503"
ok "the gateway still answers other requests" \
    [ "$(curl -sk -o /dev/null -w '%{http_code}' --resolve rdgw.contoso.test:$GPORT:127.0.0.20 https://rdgw.contoso.test:$GPORT/remoteDesktopGateway/)" = 401 ]
stop_pid "$GW_PID"

# a DNS server that never answers (a UDP socket this test holds open, read and never answered;
# tsgwd alone sees it, through a resolv.conf bind-mounted in its own mount namespace): the KDC
# request gets 503 within [kdc-proxy] timeout (tsgw asks 2 times, 2 s each), the loop answers
# other requests meanwhile
sed -i 's/^realm = NOWHERE.TEST/realm = CONTOSO.TEST/' "$WORK/dns.conf"
python3 -c 'import socket,sys,time
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.53",53))
print("MUTE",flush=True)
end=time.time()+120
while time.time()<end:
    s.settimeout(1)
    try: s.recv(4096)
    except OSError: pass' >"$WORK/mute.log" 2>&1 &
MUTE_PID=$!
PIDS+=($MUTE_PID)
wait_for 5 "$WORK/mute.log" MUTE || { echo "Bail out! the mute DNS socket did not start"; exit 1; }
printf 'nameserver 127.0.0.53\n' >"$WORK/mute-resolv.conf"
printf '#!/bin/bash\nmount --bind %s /etc/resolv.conf || exit 1\nexec "$@"\n' \
    "$WORK/mute-resolv.conf" >"$WORK/mutedns.sh"
TSGWD_WRAPPER="unshare -m bash $WORK/mutedns.sh" start_tsgwd "$WORK/dns.conf" mutedns ||
    { echo "Bail out! tsgwd did not start"; exit 1; }
# KDC-PROXY-MESSAGE { [0] "\0\0\0\1\x05", [1] "CONTOSO.TEST" }
python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' \
    3019a00704050000000105a10e1b0c434f4e544f534f2e54455354 >"$WORK/nowhere.bin"
t0=$(date +%s%N)
kkdcp_status >"$WORK/mute-status" &
KPID=$!
sleep 0.5
t1=$(date +%s%N)
other=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 5 --resolve rdgw.contoso.test:$GPORT:127.0.0.20 https://rdgw.contoso.test:$GPORT/remoteDesktopGateway/)
t2=$(date +%s%N)
wait $KPID
t3=$(date +%s%N)
s1=$(cat "$WORK/mute-status")
log "mute DNS: KDC request $s1 after $(((t3 - t0) / 1000000)) ms; other request $other in $(((t2 - t1) / 1000000)) ms"
ok "a DNS server that never answers: the KDC request gets 503" [ "$s1" = 503 ]
ok "... within [kdc-proxy] timeout (8 s)" [ $(((t3 - t0) / 1000000)) -lt 8000 ]
ok "... while it waits, another request is answered at once (401 in under 1 s)" \
    bash -c "[ '$other' = 401 ] && [ $(((t2 - t1) / 1000000)) -lt 1000 ] && [ $t2 -lt $t3 ]"
ok "tsgwd says clearly that the DNS server did not answer" \
    has mutedns "KDC proxy: DNS gives no KDC for realm CONTOSO.TEST (_kerberos._tcp.CONTOSO.TEST: no answer from the DNS server (timeout or SERVFAIL)); KDC requests get 503"
stop_pid "$GW_PID"
stop_pid "$MUTE_PID"

# ---------- 2. typed passwords checked by the domain ----------
SUPPORT=$(cd "$HERE/../support" && pwd)
PYTHON=$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3)
PPORT=$(free_port)
CPORT=$(free_port)
ECHO=$(free_port)
cat >"$WORK/pw.conf" <<CONF
[gateway]
listen = 127.0.0.1:$PPORT
certificate = cert.pem
private-key = key.pem
admin-socket = admin.sock
[auth]
users-file = users
directory = winbind
directory-timeout = 5s
basic = yes
[limits]
auth-failures = 50
[cim]
listen = 127.0.0.1:$CPORT
admin-group = BUILTIN\\Administrators; CONTOSO\\RDG Admins
[web]
listen = 127.0.0.1:$CPORT
[cap:Staff]
user-groups = CONTOSO\\RDG Users; LOCAL\\lena
[rap:Lab]
user-groups = CONTOSO\\RDG Users; LOCAL\\lena
resources = 127.0.0.1
ports = $ECHO
CONF
export TSGW_GW=$PPORT TSGW_ECHO=$ECHO TSGW_LOG="$WORK/pw.log" PYTHONPATH="$SUPPORT" \
    PYTHONDONTWRITEBYTECODE=1
py() {
    local name=$1
    { printf 'from rdgclient import *\nimport base64, os\nE = Env()\n'; cat; } |
        timeout 60 "$PYTHON" - >"$WORK/$name.out" 2>&1
    local rc=$?
    grep '^# ' "$WORK/$name.out"
    [ $rc -eq 0 ] || grep -v '^ok: ' "$WORK/$name.out" | tail -n 5 | sed 's/^/#   /'
    return $rc
}
cat >"$WORK/basic.py" <<'PYEOF'
import base64, os
from rdgclient import *
def basic_upgrade(port, user, password, host='127.0.0.1'):
    c = Conn(port, host=host)
    key = base64.b64encode(os.urandom(16)).decode()
    h = std_headers(new_conn_id(), ws_key=key,
                    auth='Basic ' + base64.b64encode(('%s:%s' % (user, password)).encode()).decode())
    h.append(('Sec-WebSocket-Protocol', 'binary'))
    c.send(build_request('RDG_OUT_DATA', h))
    return read_response(c), c
PYEOF
export PYTHONPATH="$SUPPORT:$WORK"
$PYTHON "$SUPPORT/rdgclient.py" echo --port "$ECHO" >"$WORK/echo.log" 2>&1 &
PIDS+=($!)
wait_for 10 "$WORK/echo.log" "listening" || { echo "Bail out! echo target did not start"; exit 1; }
start_tsgwd "$WORK/pw.conf" pw || { echo "Bail out! tsgwd did not start"; exit 1; }

ok "Basic with alice's AD password (CONTOSO\\alice, alice@contoso.test): 101, a whole tunnel works" \
    py basic_ad <<'PYEOF'
from basic import basic_upgrade
for user in (r'CONTOSO\alice', 'alice@contoso.test'):
    r, c = basic_upgrade(E.gw, user, 'Alice-Passw0rd!')
    check(r.status == 101, '%s: 101 (got %d)' % (user, r.status))
t = WsTunnel(c)
setup(t, '127.0.0.1', E.echo)
check(echo_roundtrip(t, 3000), 'echo through the tunnel of a Basic logon checked by the domain')
t.send_pkt(close_channel(0)); t.expect(CLOSE_CHANNEL_RESPONSE); t.finish(3)
PYEOF
ok "Basic AD logon: logged with the canonical name, through winbind" \
    has pw 'authenticated as CONTOSO\\alice (Basic through winbind, over TLS, sent as alice@contoso.test)'
ok "Basic AD logon: event 200 names CONTOSO\\alice and AuthType Basic" \
    grep -q 'EVENT 200 Username="CONTOSO\\\\alice".* AuthType="Basic"' "$WORK/pw.log"
ok "Basic: a wrong AD password and a disabled account get 401" py basic_ad_bad <<'PYEOF'
from basic import basic_upgrade
r, c = basic_upgrade(E.gw, r'CONTOSO\alice', 'wrong')
check(r.status == 401, 'wrong password: 401 (got %d)' % r.status)
r, c = basic_upgrade(E.gw, r'CONTOSO\carol', 'Carol-Passw0rd!')
check(r.status == 401, 'disabled: 401 (got %d)' % r.status)
PYEOF
ok "Basic, wrong AD password: event 201 with NTSTATUS 0xC000006A (1326)" \
    grep -q 'EVENT 201 Username="CONTOSO\\\\alice".*AuthType="Basic".*ErrorCode="1326" NtStatus="0xC000006A"' "$WORK/pw.log"
ok "Basic, disabled AD account: event 201 with NTSTATUS 0xC0000072 (1331)" \
    grep -q 'EVENT 201 Username="CONTOSO\\\\carol".*AuthType="Basic".*ErrorCode="1331" NtStatus="0xC0000072"' "$WORK/pw.log"

NS=root/cimv2/terminalservices
wbem() { timeout 20 wbemcli -noverify "$@"; }
wbem ei "https://CONTOSO\\alice:Alice-Passw0rd!@127.0.0.1:$CPORT/$NS:Win32_TSGatewayConnection" >"$WORK/cim-alice.log" 2>&1
rc=$?
ok "CIM-XML Basic with an AD administrator (alice, in CONTOSO\\RDG Admins): wbemcli ei exits 0" [ $rc -eq 0 ]
ok "CIM-XML: alice authenticated by the domain" has pw 'CIM-XML: CONTOSO\\alice from 127.0.0.1 authenticated by the domain as CONTOSO\\alice'
wbem ei "https://CONTOSO\\bob:Bob-Passw0rd!@127.0.0.1:$CPORT/$NS:Win32_TSGatewayConnection" >"$WORK/cim-bob.log" 2>&1
rc=$?
ok "CIM-XML: an AD account outside the admin groups (bob) gets CIM_ERR_ACCESS_DENIED" \
    bash -c "[ $rc -ne 0 ] && grep -q CIM_ERR_ACCESS_DENIED '$WORK/cim-bob.log'"
wbem ei "https://CONTOSO\\alice:wrong@127.0.0.1:$CPORT/$NS:Win32_TSGatewayConnection" >"$WORK/cim-bad.log" 2>&1
rc=$?
ok "CIM-XML: a wrong AD password is refused (401) with event 201 0xC000006A" \
    bash -c "[ $rc -ne 0 ] && grep -q 'ConnectionProtocol=\"CIM-XML\" ErrorCode=\"1326\" NtStatus=\"0xC000006A\"' '$WORK/pw.log'"

B="https://127.0.0.1:$CPORT"
signin() { # signin USER PASSWORD: prints the HTTP status, cookies in $WORK/jar
    rm -f "$WORK/jar"
    curl -sk -c "$WORK/jar" -o "$WORK/signin.html" -w '%{http_code}' --max-time 20 \
        --data-urlencode "username=$1" --data-urlencode "password=$2" "$B/console/login"
}
s=$(signin 'CONTOSO\alice' 'Alice-Passw0rd!')
ok "console: an AD administrator signs in with the AD password (303 and a session cookie)" \
    bash -c "[ '$s' = 303 ] && grep -q __Host-tsgw-console '$WORK/jar'"
ok "console: the session works afterwards (GET /console/ -> 200)" \
    [ "$(curl -sk -b "$WORK/jar" -o /dev/null -w '%{http_code}' "$B/console/")" = 200 ]
ok "console: the sign-in logged as checked by the domain" \
    has pw 'web console: CONTOSO\\alice signed in from 127.0.0.1 (password checked by the domain)'
s=$(signin 'bob@contoso.test' 'Bob-Passw0rd!')
ok "console: an AD account that is not an administrator (bob) is refused (403)" [ "$s" = 403 ]
s=$(signin 'CONTOSO\alice' 'wrong')
ok "console: a wrong AD password gets 401 and event 201 with 0xC000006A" \
    bash -c "[ '$s' = 401 ] && grep -q 'ConnectionProtocol=\"Console\" ErrorCode=\"1326\" NtStatus=\"0xC000006A\"' '$WORK/pw.log'"
s=$(signin 'LOCAL\lena' 'Lena-Local1')
ok "console: a local account still signs in against the users file (not an admin: 403)" [ "$s" = 403 ]
stop_pid "$GW_PID"

# ---------- 3. tsgwd as an unprivileged user: group winbindd_priv ----------
PRIV_GID=$(getent group winbindd_priv | cut -d: -f3)
PRIVDIR="$LAB/member/state/winbindd_privileged"
# nobody must reach the privileged pipe's directory: the lab's directories above it (mktemp's
# 0700) are made traversable, as /var/lib/samba is on a real host; the directory itself decides
chmod o+x "$LAB" "$LAB/member" "$LAB/member/state"
ok "the member's privileged pipe directory is 0750 root:winbindd_priv (as Debian's)" \
    [ "$(stat -c '%a %G' "$PRIVDIR")" = "750 winbindd_priv" ]
"$BUILD/tools/tsgw-sink" --listen 127.0.0.1:0 >"$WORK/sink.log" 2>&1 &
PIDS+=($!)
wait_for 5 "$WORK/sink.log" LISTENING || { echo "Bail out! tsgw-sink did not start"; exit 1; }
SPORT=$(grep -o 'LISTENING [^ ]*' "$WORK/sink.log" | grep -o '[0-9]*$')
NR="$WORK/nonroot"
nobody_dir "$NR" "$WORK/cert.pem" "$WORK/key.pem" "$WORK/users"
NPORT=$(free_port)
cat >"$NR/tsgw.conf" <<CONF
[gateway]
listen = 127.0.0.20:$NPORT
certificate = cert.pem
private-key = key.pem
[auth]
users-file = users
directory = winbind
directory-timeout = 5s
basic = yes
[limits]
auth-failures = 50
[cap:Staff]
user-groups = CONTOSO\\RDG Users
[rap:Sink]
user-groups = *
resources = 127.0.0.1
ports = $SPORT
CONF
printf '%s\n' 'Alice-Passw0rd!' | "$TSGWCTL" user add --users-file "$WORK/scratch" 'CONTOSO\alice' >/dev/null
ALICE_HASH=$(awk -F: '/^CONTOSO\\alice:/{print $2}' "$WORK/scratch")
load() { # load NAME: one tunnel setup as CONTOSO\alice (NTLM through winbind); prints its JSON
    timeout 60 "$BUILD/tools/tsgw-load" --gateway "127.0.0.20:$NPORT" --target "127.0.0.1:$SPORT" \
        --domain CONTOSO --user alice --nthash "$ALICE_HASH" --mode ws --setups 1 --concurrency 1 \
        --timeout 30 >"$WORK/$1.load" 2>&1
    tail -n 1 "$WORK/$1.load"
}
start_tsgwd_nobody "$NR" priv --groups="$PRIV_GID" || { echo "Bail out! tsgwd (nobody) did not start"; exit 1; }
ok "tsgwd as nobody in winbindd_priv: runs as nobody" \
    [ "$(stat -c %U /proc/$GW_PID)" = nobody ]
r=$(load priv)
log "nobody + winbindd_priv: $r"
ok "tsgwd as nobody in winbindd_priv: an AD NTLM logon through winbind completes a tunnel" \
    bash -c "echo '$r' | grep -q '\"ok\": *1\b\|\"ok\":1[,}]'"
ok "... verified by the DC through the privileged pipe" \
    has priv 'authenticated as CONTOSO\\alice (NTLM through winbind'
ok "... and no warning about winbindd_priv" hasnt priv "not in group winbindd_priv"
stop_pid "$GW_PID"

start_tsgwd_nobody "$NR" nopriv --clear-groups || { echo "Bail out! tsgwd (nobody) did not start"; exit 1; }
ok "tsgwd as nobody without winbindd_priv: a clear warning at start" \
    has nopriv "directory: tsgwd user nobody is not in group winbindd_priv: domain NTLM logons will fail (winbindd's privileged pipe is closed to it); add it with 'usermod -aG winbindd_priv nobody'"
r=$(load nopriv)
log "nobody without winbindd_priv: $r"
ok "without winbindd_priv: the AD logon fails" bash -c "! echo '$r' | grep -q '\"ok\": *1\b\|\"ok\":1[,}]'"
ok "without winbindd_priv: the client gets 503" has nopriv "HTTP 503 to 127.0.0.1: directory unavailable: tsgwd's user is not in group winbindd_priv"
ok "without winbindd_priv: event 201 says why (not WBC_ERR_WINBIND_NOT_AVAILABLE)" \
    grep -q 'EVENT 201 Username="CONTOSO\\\\alice".*ErrorCode="1311".*Reason="directory unavailable: tsgwd.s user is not in group winbindd_priv"' "$WORK/nopriv.log"
ok "without winbindd_priv: the failure logs the fix" \
    [ "$(count nopriv "add it with 'usermod -aG winbindd_priv nobody'")" -ge 2 ]
TSGW_GW=$NPORT ok "without winbindd_priv: Basic with the AD password still works (winbindd's ordinary pipe)" \
    py basic_nopriv <<'PYEOF'
from basic import basic_upgrade
r, c = basic_upgrade(E.gw, r'CONTOSO\alice', 'Alice-Passw0rd!', host='127.0.0.20')
check(r.status == 101, '101 (got %d)' % r.status)
PYEOF
stop_pid "$GW_PID"

finish
