#!/usr/bin/env bash
# Issue 11, the directory's other ways in: the KDC proxy's KDCs found in DNS (_kerberos._tcp SRV
# records served by the lab DC's own DNS), typed passwords (HTTP Basic, the web console's
# sign-in, CIM-XML's Basic) checked by the domain, and tsgwd as an unprivileged user in group
# winbindd_priv. Real Samba AD DC and joined member from tests/support/adlab.sh (TSGW_ADLAB when
# scripts/test.sh started one, else its own), real MIT kinit, real xfreerdp.
HERE=$(cd "$(dirname "$0")" && pwd)
ADLAB=$(cd "$HERE/../support" && pwd)/adlab.sh

if [ -z "${TSGW_IN_ADLAB:-}" ]; then
    own=""
    dir=${TSGW_ADLAB:-}
    if [ -z "$dir" ]; then
        dir=$(mktemp -d /tmp/tsgw-adlab.XXXXXX)
        own=1
        if ! "$ADLAB" up "$dir" >"$dir/env" 2>"$dir/up.log"; then
            echo "not ok 1 - the AD lab comes up"
            sed 's/^/# /' "$dir/up.log"
            echo "1..1"
            "$ADLAB" down "$dir" >/dev/null 2>&1
            rm -rf "$dir"
            exit 1
        fi
        sed 's/^/# /' "$dir/up.log"
    fi
    TSGW_IN_ADLAB=1 TSGW_ADLAB=$dir "$ADLAB" exec "$dir" -- bash "$0"
    rc=$?
    if [ -n "$own" ]; then
        "$ADLAB" down "$dir" >/dev/null 2>&1
        rm -rf "$dir"
    fi
    exit $rc
fi

# ---- inside the lab (network namespace with lo only; /run/samba = the member's; resolv.conf
# names the DC's DNS server) ----
. "$HERE/lib.sh"
LAB=$TSGW_ADLAB

GPORT=$(free_port)
openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 2 -subj /CN=rdgw.contoso.test \
    -addext "subjectAltName=DNS:rdgw.contoso.test" -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
    >/dev/null 2>&1
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

finish
