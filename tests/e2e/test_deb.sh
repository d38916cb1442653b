#!/usr/bin/env bash
# Issue 13: the Debian package. Builds tsgw_*.deb with dpkg-buildpackage from a copy of the
# source tree, runs lintian (no errors), installs it with dpkg -i (service user, tsgw-admins
# group, unit installed but not enabled, `tsgwd -t` on the shipped configuration, as root and as
# the service user), then purges it and checks that nothing it created is left. Needs root; it
# installs and removes the package on this machine.
. "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)

if dpkg-query -W -f '${Status}' tsgw 2>/dev/null | grep -q installed; then
    echo "Bail out! a tsgw package is already installed here; this test would replace it"
    exit 1
fi
dpkg_retry() { # dpkg ARGS: retried while another dpkg holds the lock (at most 2 minutes)
    local i
    for i in $(seq 1 60); do
        dpkg "$@" >"$WORK/dpkg.log" 2>&1 && return 0
        grep -q "lock" "$WORK/dpkg.log" || return 1
        sleep 2
    done
    return 1
}

mkdir -p "$WORK/src/tsgw"
tar -C "$SRC" --exclude='./build*' --exclude=./.git --exclude='./debian/tsgw' \
    --exclude='./debian/.debhelper' -cf - . | tar -xf - -C "$WORK/src/tsgw"
(cd "$WORK/src/tsgw" && dpkg-buildpackage -us -uc -b) >"$WORK/build.log" 2>&1
rc=$?
DEB=$(ls "$WORK"/src/tsgw_*_*.deb 2>/dev/null | head -n1)
ok "dpkg-buildpackage -us -uc -b builds tsgw_*.deb" bash -c "[ $rc -eq 0 ] && [ -f '$DEB' ]"
[ -f "$DEB" ] || { finish; exit 1; }

lintian "$DEB" >"$WORK/lintian.log" 2>&1
log "lintian: $(grep -c '^E:' "$WORK/lintian.log") error(s), $(grep -c '^W:' "$WORK/lintian.log") warning(s), $(grep -c '^I:' "$WORK/lintian.log") info"
sed 's/^/#   /' "$WORK/lintian.log" | grep -v 'root privileges'
ok "lintian: no errors" bash -c "! grep -q '^E:' '$WORK/lintian.log'"
dpkg-deb -c "$DEB" >"$WORK/contents.log"
ok "the package ships no private key, certificate or users file" \
    bash -c "! grep -Eq 'etc/tsgw/(key|cert)\\.pem|etc/tsgw/users' '$WORK/contents.log'"
ok "tsgwd in sbin, tsgwctl in bin, unit, sysusers, tmpfiles, three man pages" \
    bash -c "for f in ./usr/sbin/tsgwd ./usr/bin/tsgwctl ./lib/systemd/system/tsgwd.service \
             ./usr/lib/sysusers.d/tsgw.conf ./usr/lib/tmpfiles.d/tsgw.conf ./etc/tsgw/tsgw.conf \
             ./usr/share/man/man8/tsgwd.8.gz ./usr/share/man/man8/tsgwctl.8.gz \
             ./usr/share/man/man5/tsgw.conf.5.gz; do grep -q \" \$f\$\" '$WORK/contents.log' || exit 1; done"

trap 'dpkg --purge tsgw >/dev/null 2>&1; cleanup' EXIT
dpkg_retry -i "$DEB"
rc=$?
ok "dpkg -i succeeds" [ $rc -eq 0 ]
ok "the service user tsgw exists, without a login shell" \
    bash -c "getent passwd tsgw | grep -q ':/usr/sbin/nologin$'"
ok "the tsgw-admins group exists and the service user is in it" \
    bash -c "id -nG tsgw | tr ' ' '\n' | grep -qx tsgw-admins"
if getent group winbindd_priv >/dev/null; then # winbind is installed (scripts/deps.txt)
    ok "winbind installed: postinst put the service user in winbindd_priv (domain NTLM logons)" \
        bash -c "id -nG tsgw | tr ' ' '\n' | grep -qx winbindd_priv"
fi
ok "tsgwd -t passes on the installed configuration" bash -c "/usr/sbin/tsgwd -t -c /etc/tsgw/tsgw.conf >/dev/null"
ok "... also as the service user (it can read the key and the users file)" \
    bash -c "setpriv --reuid=tsgw --regid=tsgw-admins --groups=tsgw /usr/sbin/tsgwd -t -c /etc/tsgw/tsgw.conf >/dev/null"
printf 'Secret1\n' | /usr/bin/tsgwctl -c /etc/tsgw/tsgw.conf user add --groups 'RDG Users' 'TSGW\alice' >/dev/null
ok "after tsgwctl user add (as root) the service user still reads the users file" \
    bash -c "setpriv --reuid=tsgw --regid=tsgw-admins --groups=tsgw /usr/sbin/tsgwd -t -c /etc/tsgw/tsgw.conf >/dev/null &&
             [ \"\$(stat -c '%U:%G %a' /etc/tsgw/users)\" = 'root:tsgw 640' ]"
ok "the private key is not world-readable" [ "$(stat -c '%a' /etc/tsgw/key.pem)" = 640 ]
ok "the unit is installed, not enabled (configure first)" \
    bash -c "[ -f /lib/systemd/system/tsgwd.service ] && [ ! -e /etc/systemd/system/multi-user.target.wants/tsgwd.service ]"
ok "systemd-analyze verify on the installed unit" \
    bash -c "systemd-analyze verify --man=no /lib/systemd/system/tsgwd.service >'$WORK/verify.log' 2>&1 && [ ! -s '$WORK/verify.log' ]"
ok "man tsgwd, man tsgwctl, man 5 tsgw.conf are found" \
    bash -c "[ -f /usr/share/man/man8/tsgwd.8.gz ] && zcat /usr/share/man/man5/tsgw.conf.5.gz | mandoc -Tlint -Wwarning"
dpkg -L tsgw >"$WORK/files.log"

dpkg_retry --purge tsgw
rc=$?
ok "dpkg --purge succeeds" [ $rc -eq 0 ]
ok "purge: no file of the package is left" \
    bash -c "while read -r f; do [ -d \"\$f\" ] || [ ! -e \"\$f\" ] || { echo \"left: \$f\"; exit 1; }; done <'$WORK/files.log'"
ok "purge: /etc/tsgw (configuration, certificate, key, users) is gone" [ ! -e /etc/tsgw ]
ok "purge: the user and the groups are gone" \
    bash -c "! getent passwd tsgw && ! getent group tsgw && ! getent group tsgw-admins"
ok "purge: winbindd_priv no longer lists tsgw" \
    bash -c "! getent group winbindd_priv | cut -d: -f4 | tr ',' '\n' | grep -qx tsgw"
ok "purge: dpkg forgot the package" bash -c "! dpkg-query -W tsgw >/dev/null 2>&1"
finish
