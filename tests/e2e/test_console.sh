#!/usr/bin/env bash
# Issue 14: the web console in a real browser (headless Chromium driven by python3-selenium):
# sign-in, live list with real xfreerdp sessions, Disconnect this user, CSRF and cross-origin
# refusals, a non-administrator's 403, HTML in names shown as text. The [web] listener is the
# [cim] one here, so the same port also answers wbemcli. Screenshots: $BUILD/artifacts/.
. "$(dirname "$0")/lib.sh"

TPORT=$(free_port)
GPORT=$(free_port)
WPORT=$(free_port)
make_cert "$WORK"
add_user "$WORK/users" 'CONTOSO\admin' 'AdminPw1' 'Administrators' 'Ada Admin'
add_user "$WORK/users" 'CONTOSO\viewer' 'ViewPw1' 'RDG Users'
add_user "$WORK/users" 'CONTOSO\alice' 'Secret1' 'RDG Users' 'Alice Liddell'
add_user "$WORK/users" 'CONTOSO\bob' 'Secret2' 'RDG Users' 'Bob Builder'
EVIL='CONTOSO\<img src=x onerror=alert(1)>'
add_user "$WORK/users" "$EVIL" 'Secret3' 'RDG Users' '<b>Eve</b> <script>alert(2)</script>'
cat >"$WORK/tsgw.conf" <<CONF
[gateway]
listen = 127.0.0.1:$GPORT
certificate = cert.pem
private-key = key.pem
[auth]
users-file = users
[cim]
listen = 127.0.0.1:$WPORT
admin-group = BUILTIN\\Administrators
[web]
listen = 127.0.0.1:$WPORT
[resource-group:Lab]
resources = 127.0.0.1
[cap:Staff]
user-groups = RDG Users
[rap:Lab]
user-groups = RDG Users
resource-group = Lab
ports = $TPORT
CONF
ART=${ARTIFACTS:-$BUILD/artifacts}

stop_py_clients() { # the xfreerdp clients the browser half started, by their recorded PIDs
    local p
    [ -f "$WORK/py.pids" ] || return 0
    while read -r p; do stop_pid "$p"; done <"$WORK/py.pids"
}
trap 'stop_py_clients; cleanup' EXIT

start_target "$TPORT" target || { echo "Bail out! RDP target did not start"; exit 1; }
animate "$TARGET_DISPLAY"
start_tsgwd "$WORK/tsgw.conf" gw || { echo "Bail out! tsgwd did not start"; exit 1; }
ok "one listener for CIM-XML and the console" has gw "web console on https://127.0.0.1:$WPORT/console/"

# response headers, page weight
B=https://127.0.0.1:$WPORT
curl -sk -D "$WORK/login.h" -o "$WORK/login.html" "$B/console/login"
ok "CSP without inline script" grep -qi "^Content-Security-Policy: default-src 'none'; script-src 'self';" "$WORK/login.h"
ok "X-Frame-Options: DENY" grep -qi "^X-Frame-Options: DENY" "$WORK/login.h"
ok "pages have no inline script or handler" bash -c "! grep -qiE '<script>|<script [^s]| on[a-z]+=' '$(dirname "$0")/../../web/'*.html"
weight=$(wc -c <"$(dirname "$0")/../../web/index.html")
for a in app.css app.js icon.svg; do
    weight=$((weight + $(curl -sk -o /dev/null -w '%{size_download}' "$B/console/assets/$a")))
done
log "MEASURE page weight (index.html + app.css + app.js + icon.svg, uncompressed): $weight bytes"
ok "page weight under 64 KiB" [ "$weight" -lt 65536 ]
wbem_url="https://CONTOSO\\admin:AdminPw1@127.0.0.1:$WPORT/root/cimv2/terminalservices"
timeout 20 wbemcli -noverify ei "$wbem_url:Win32_TSGatewayServerSettings" >"$WORK/wbem.log" 2>&1
ok "wbemcli still served on the shared port" grep -q "MaxConnections=" "$WORK/wbem.log"

# bob and the HTML-named user are connected before the browser looks
xfr_bg bob /v:127.0.0.1:$TPORT /g:127.0.0.1:$GPORT /gu:'CONTOSO\bob' /gp:Secret2 /u:b /p:b
BOB=$XFR_PID
xfr_bg evil /v:127.0.0.1:$TPORT /g:127.0.0.1:$GPORT /gu:"$EVIL" /gp:Secret3 /u:e /p:e
for n in bob evil; do wait_for 40 "$WORK/$n.log" CONNECTION_STATE_ACTIVE; done
ok "bob and the HTML-named user connected" bash -c "grep -q CONNECTION_STATE_ACTIVE '$WORK/bob.log' && grep -q CONNECTION_STATE_ACTIVE '$WORK/evil.log'"

BASE=$B WORK=$WORK GWLOG=$WORK/gw.log ARTIFACTS=$ART TPORT=$TPORT GPORT=$GPORT \
    XFR_DISPLAY=$XFR_DISPLAY BOB_PID=$BOB \
    timeout 300 /usr/bin/python3 "$(dirname "$0")/console_browser.py" >"$WORK/browser.out" 2>"$WORK/browser.log"
rc=$?
while IFS='|' read -r kind name value; do
    case $kind in
    PASS) ok "$name" true ;;
    FAIL) ok "$name" false ;;
    MEASURE) log "MEASURE $name: $value" ;;
    *) echo "# $kind" ;;
    esac
done <"$WORK/browser.out"
ok "browser half exited 0" [ "$rc" -eq 0 ]
ok "screenshot saved" [ -s "$ART/console.png" ]
ok "daemon still running" kill -0 "$GW_PID"
finish
