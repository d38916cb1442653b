#!/bin/bash
# adlab.sh - a throwaway Active Directory domain for the tsgw tests (Debian 12, Samba 4.17, root).
#
#   adlab.sh up DIR        provision (first time only) and start a Samba AD DC for CONTOSO.TEST
#                          (NetBIOS CONTOSO) in a network namespace held by DIR/netns (only "lo"
#                          inside: DC 127.0.0.10, gateway 127.0.0.20), create the test accounts,
#                          join the gateway's host RDGW (rdgw.contoso.test) as a member server
#                          with its own winbindd, SPN HTTP/rdgw.contoso.test and a keytab.
#                          Prints "export ..." lines (eval them).
#   adlab.sh down DIR      stop the DC and the member's winbindd by their pid files, then every
#                          process left in the lab's network namespace; unmount it.
#   adlab.sh exec DIR -- CMD...
#                          run CMD in the lab: its network namespace and a private mount namespace
#                          where /run/samba is the member's run directory (libwbclient 4.17 only
#                          knows the compiled-in /run/samba/winbindd/pipe), /etc/hosts and
#                          /etc/resolv.conf are the lab's. KRB5_CONFIG is the lab's krb5.conf.
#   adlab.sh dc-stop DIR / dc-start DIR
#                          stop / start the domain controller only (the member keeps running).
#
# Accounts (password never expires):
#   alice  Alice-Passw0rd!  "Alice Liddell", groups RDG Users, RDG Admins
#   bob    Bob-Passw0rd!    no extra group
#   carol  Carol-Passw0rd!  disabled
#   dave   Dave-Passw0rd!   group Helpdesk, which is a member of RDG Users (nested)
# Everything lives under DIR; nothing is written to /etc/samba, /var/lib/samba, /var/log/samba
# (inside the lab those are bind-mounted from DIR/sys). Waits are bounded (60 s per daemon).
set -euo pipefail

REALM=CONTOSO.TEST DOMAIN=CONTOSO DNSDOM=contoso.test
DC_ADDR=127.0.0.10 GW_ADDR=127.0.0.20 GW_NB=RDGW GW_FQDN=rdgw.contoso.test
ADMIN_PW='Adm1n-Passw0rd!'
RUNTIME=${ADLAB_MAX_RUNTIME:-7200} # safety net: the daemons stop themselves after this
SELF=$(readlink -f "$0")

say() { echo "adlab: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }
ts() { date +%s%N; }
ms_since() { echo $((($(ts) - $1) / 1000000)); }

mounted() { findmnt -rn -o TARGET "$1/netns" >/dev/null 2>&1; }

# in_lab DIR RUN NET(yes|no) CMD...: exec CMD in the lab's namespaces (RUN bound on /run/samba)
in_lab() {
    local d=$1 run=$2 net=$3
    shift 3
    local pre=()
    [ "$net" = yes ] && pre=(nsenter "--net=$d/netns")
    KRB5_CONFIG=$d/krb5.conf exec "${pre[@]}" unshare -m --propagation private /bin/sh -c '
        d=$1; run=$2; shift 2
        mount --bind "$run" /run/samba || exit 111
        for f in hosts resolv.conf; do
            [ -e "/etc/$f" ] && mount --bind "$d/$f" "/etc/$f" 2>/dev/null
        done
        for s in /etc/samba /var/lib/samba /var/cache/samba /var/log/samba; do
            [ -d "$s" ] || continue
            mkdir -p "$d/sys$s" && mount --bind "$d/sys$s" "$s" 2>/dev/null
        done
        exec "$@"' sh "$d" "$run" "$@"
}
lab() { (in_lab "$@"); }

# pids_in_netns DIR: every process whose network namespace is the lab's
pids_in_netns() {
    mounted "$1" || return 0
    local ino p
    ino=$(stat -L -c %i "$1/netns")
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/ns/net" 2>/dev/null)" = "net:[$ino]" ] && echo "${p#/proc/}"
    done
    return 0
}

# live DIR PIDFILE: the pid file names a live process in the lab
live() {
    [ -f "$2" ] || return 1
    local p
    p=$(cat "$2")
    kill -0 "$p" 2>/dev/null || return 1
    local all # (not a pipe into grep -q: with pipefail, its early exit would fail the pipe)
    all=$(pids_in_netns "$1")
    grep -qx -- "$p" <<<"$all"
}

tcp_open() { nsenter "--net=$1/netns" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null; }

env_lines() {
    local d=$1
    cat <<EOF
export ADLAB_DIR='$d'
export ADLAB_EXEC='$SELF exec $d --'
export ADLAB_REALM=$REALM ADLAB_DOMAIN=$DOMAIN ADLAB_DNS_DOMAIN=$DNSDOM
export ADLAB_DC_ADDR=$DC_ADDR ADLAB_GW_ADDR=$GW_ADDR ADLAB_GW_NETBIOS=$GW_NB ADLAB_GW_FQDN=$GW_FQDN
export ADLAB_KEYTAB='$d/member/krb5.keytab'
export ADLAB_KRB5_CONFIG='$d/krb5.conf'
EOF
}

dc_start() {
    local d=$1 D=$1/dc t
    live "$d" "$D/run/samba.pid" && return 0
    t=$(ts)
    setsid "$SELF" __in_lab "$d" "$D/run" yes samba -i -M single -s "$D/etc/smb.conf" \
        --maximum-runtime="$RUNTIME" >"$D/log/samba.stdout" 2>&1 </dev/null &
    local w=$! i
    for i in $(seq 1 600); do
        kill -0 $w 2>/dev/null || { tail -20 "$D/log/samba.stdout" >&2; die "samba exited"; }
        if tcp_open "$d" $DC_ADDR 88 && tcp_open "$d" $DC_ADDR 389 &&
            lab "$d" "$D/run" yes wbinfo -P >/dev/null 2>&1; then
            say "DC up in $(ms_since "$t") ms"
            return 0
        fi
        sleep 0.1
    done
    die "DC not ready within 60 s (logs in $D/log)"
}

dc_stop() {
    local d=$1 p i
    live "$d" "$d/dc/run/samba.pid" || return 0
    p=$(cat "$d/dc/run/samba.pid")
    kill -TERM "$p"
    for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    # samba's own children (winbindd, smbd) follow it; wait for the DC's ports to close
    for i in $(seq 1 50); do tcp_open "$d" $DC_ADDR 88 || return 0; sleep 0.1; done
}

provision() {
    local d=$1 D=$1/dc t
    [ -f "$D/private/sam.ldb" ] && return 0
    rm -rf "$D"
    mkdir -p "$D/run" "$D/log"
    : >"$d/empty.conf"
    t=$(ts)
    # -s empty.conf: do not inherit /etc/samba/smb.conf; an empty dns forwarder: do not copy
    # the host's resolver; --host-ip 127.0.0.10: provision ignores 127.0.0.1
    nsenter "--net=$d/netns" samba-tool domain provision -s "$d/empty.conf" --use-rfc2307 \
        --realm=$REALM --domain=$DOMAIN --server-role=dc --dns-backend=SAMBA_INTERNAL \
        --adminpass="$ADMIN_PW" --host-name=dc1 --host-ip=$DC_ADDR --targetdir="$D" \
        --option="interfaces=$DC_ADDR" --option="bind interfaces only=yes" \
        --option="dns forwarder=" --option="pid directory=$D/run" \
        --option="ncalrpc dir=$D/run/ncalrpc" --option="winbindd socket directory=$D/run/winbindd" \
        --option="ntp signd socket directory=$D/run/ntp_signd" \
        --option="log file=$D/log/log.%m" >"$D/log/provision.log" 2>&1 ||
        { tail -20 "$D/log/provision.log" >&2; die "provision failed"; }
    # TLS key generation at first start would delay LDAP by 7-13 s; nothing here needs LDAPS
    sed -i '/^\[global\]/a\\ttls enabled = no' "$D/etc/smb.conf"
    say "provisioned in $(ms_since "$t") ms"
}

populate() {
    local d=$1 D=$1/dc
    [ -f "$D/populated" ] && return 0
    /usr/bin/python3 - "$D/etc/smb.conf" "$D/private/sam.ldb" <<'EOF' || die "populate failed"
import sys, ldb
from samba.samdb import SamDB
from samba.param import LoadParm
from samba.auth import system_session
lp = LoadParm(); lp.load(sys.argv[1])
db = SamDB(url=sys.argv[2], session_info=system_session(), lp=lp)
users = [("alice", "Alice-Passw0rd!", "Alice", "Liddell"), ("bob", "Bob-Passw0rd!", "Bob", None),
         ("carol", "Carol-Passw0rd!", "Carol", None), ("dave", "Dave-Passw0rd!", "Dave", None)]
for u, pw, given, sn in users:
    db.newuser(u, pw, givenname=given, surname=sn)
    db.setexpiry("(sAMAccountName=%s)" % u, 0, no_expiry_req=True)
for g in ("RDG Users", "RDG Admins", "Helpdesk"):
    db.newgroup(g)
db.add_remove_group_members("RDG Users", ["alice", "Helpdesk"], add_members_operation=True)
db.add_remove_group_members("RDG Admins", ["alice"], add_members_operation=True)
db.add_remove_group_members("Helpdesk", ["dave"], add_members_operation=True)
db.disable_account("(sAMAccountName=carol)")
EOF
    touch "$D/populated"
}

member_conf() {
    local d=$1 M=$1/member
    mkdir -p "$M"/{etc,private,lock,state,cache,run,log}
    cat >"$M/etc/smb.conf" <<EOF
[global]
	netbios name = $GW_NB
	workgroup = $DOMAIN
	realm = $REALM
	security = ADS
	server role = member server
	interfaces = $GW_ADDR
	bind interfaces only = yes
	disable netbios = yes
	private dir = $M/private
	lock directory = $M/lock
	state directory = $M/state
	cache directory = $M/cache
	pid directory = $M/run
	ncalrpc dir = $M/run/ncalrpc
	winbindd socket directory = $M/run/winbindd
	log file = $M/log/log.%m
	kerberos method = dedicated keytab
	dedicated keytab file = FILE:$M/krb5.keytab
	winbind request timeout = 10
	idmap config * : backend = tdb
	idmap config * : range = 3000-7999
	idmap config $DOMAIN : backend = rid
	idmap config $DOMAIN : range = 10000-999999
EOF
}

member_join() {
    local d=$1 M=$1/member t
    [ -f "$M/joined" ] && return 0
    t=$(ts)
    local A=(-s "$M/etc/smb.conf" -U "administrator%$ADMIN_PW")
    {
        KRB5_KTNAME=FILE:$M/krb5.keytab lab "$d" "$M/run" yes net ads join "${A[@]}" &&
            KRB5_KTNAME=FILE:$M/krb5.keytab lab "$d" "$M/run" yes net ads setspn add \
                HTTP/$GW_FQDN "${A[@]}" &&
            KRB5_KTNAME=FILE:$M/krb5.keytab lab "$d" "$M/run" yes net ads keytab create "${A[@]}" &&
            KRB5_KTNAME=FILE:$M/krb5.keytab lab "$d" "$M/run" yes net ads keytab add HTTP "${A[@]}"
    } >"$M/log/join.log" 2>&1 || { cat "$M/log/join.log" >&2; die "member join failed"; }
    [ -s "$M/krb5.keytab" ] || die "member keytab not written"
    touch "$M/joined"
    say "member $GW_NB joined in $(ms_since "$t") ms"
}

member_start() {
    local d=$1 M=$1/member t i
    live "$d" "$M/run/winbindd.pid" && return 0
    t=$(ts)
    setsid "$SELF" __in_lab "$d" "$M/run" yes timeout -k 10 "$RUNTIME" winbindd -F \
        --no-process-group --debug-stdout -s "$M/etc/smb.conf" >"$M/log/winbindd.stdout" 2>&1 \
        </dev/null &
    local w=$!
    for i in $(seq 1 600); do
        kill -0 $w 2>/dev/null || { tail -20 "$M/log/winbindd.stdout" >&2; die "winbindd exited"; }
        lab "$d" "$M/run" yes wbinfo -t >/dev/null 2>&1 && break
        sleep 0.1
    done
    [ "$i" -lt 600 ] || die "member winbindd not ready within 60 s"
    # NTLM pass-through and PAC checks use the privileged pipe: group winbindd_priv may use it
    chgrp winbindd_priv "$M/state/winbindd_privileged" 2>/dev/null || true
    say "member winbindd up in $(ms_since "$t") ms"
}

cmd_up() {
    [ "$(id -u)" = 0 ] || die "must run as root"
    local c
    for c in samba samba-tool winbindd wbinfo net nsenter unshare ip kinit; do
        command -v $c >/dev/null || die "missing $c (scripts/deps.txt: samba-ad-dc winbind krb5-user)"
    done
    mkdir -p "$1" /run/samba
    local d t
    d=$(readlink -f "$1")
    t=$(ts)
    if ! mounted "$d"; then
        : >"$d/netns"
        unshare --net="$d/netns" true
        nsenter "--net=$d/netns" ip link set lo up
        nsenter "--net=$d/netns" ip addr add $DC_ADDR/8 dev lo
        nsenter "--net=$d/netns" ip addr add $GW_ADDR/8 dev lo
    fi
    cat >"$d/krb5.conf" <<EOF
[libdefaults]
	default_realm = $REALM
	dns_lookup_realm = false
	dns_lookup_kdc = false
	rdns = false
	dns_canonicalize_hostname = false
[realms]
	$REALM = {
		kdc = $DC_ADDR
	}
[domain_realm]
	.$DNSDOM = $REALM
	$DNSDOM = $REALM
EOF
    printf 'nameserver %s\n' $DC_ADDR >"$d/resolv.conf"
    printf '127.0.0.1 localhost\n%s dc1.%s dc1\n%s %s %s\n' $DC_ADDR $DNSDOM $GW_ADDR $GW_FQDN \
        "${GW_FQDN%%.*}" >"$d/hosts"
    export KRB5_CONFIG=$d/krb5.conf
    provision "$d"
    dc_start "$d"
    populate "$d"
    member_conf "$d"
    member_join "$d"
    member_start "$d"
    say "timing: lab up in $(ms_since "$t") ms"
    env_lines "$d"
}

cmd_down() {
    [ -d "$1" ] || return 0
    local d left i
    d=$(readlink -f "$1")
    if mounted "$d"; then
        for f in "$d/member/run/winbindd.pid" "$d/dc/run/samba.pid"; do
            live "$d" "$f" && kill -TERM "$(cat "$f")" 2>/dev/null
        done
        for i in $(seq 1 30); do
            left=$(pids_in_netns "$d" | tr '\n' ' ')
            [ -z "$left" ] && break
            [ "$i" = 10 ] && kill -TERM $left 2>/dev/null
            sleep 0.1
        done
        left=$(pids_in_netns "$d" | tr '\n' ' ')
        [ -z "$left" ] || kill -KILL $left 2>/dev/null || true
        umount "$d/netns" || true
    fi
    say "down: $d"
}

case "${1:-}" in
up) cmd_up "${2:?DIR}" ;;
down) cmd_down "${2:?DIR}" ;;
dc-stop) dc_stop "$(readlink -f "${2:?DIR}")" ;;
dc-start) dc_start "$(readlink -f "${2:?DIR}")" ;;
env) env_lines "$(readlink -f "${2:?DIR}")" ;;
exec)
    d=$(readlink -f "${2:?DIR}")
    shift 2
    [ "${1:-}" = -- ] && shift
    [ $# -gt 0 ] || die "exec: no command"
    mounted "$d" || die "lab $d is not up"
    in_lab "$d" "$d/member/run" yes "$@"
    ;;
__in_lab) shift; in_lab "$@" ;;
*) sed -n '2,25p' "$SELF" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
