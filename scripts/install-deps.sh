#!/usr/bin/env bash
# Installs the Debian 12 packages in scripts/deps.txt (as root). Quick when all are present.
set -euo pipefail
cd "$(dirname "$0")"
mapfile -t pkgs < <(grep -v '^#' deps.txt | sed '/^$/d')
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]} (run as root, or: sudo $0)" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
# Some of these packages (samba-ad-dc, winbind, redis-server, haproxy, prometheus) start their
# system services on install; the tests start their own peers on loopback. Forbid service starts
# for the duration of the install only (policy-rc.d exit 101), unless one is already in place.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
