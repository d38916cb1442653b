#!/bin/sh
# meson install step: a self-signed certificate and an empty users file next to the example
# configuration, so that `tsgwd -t` accepts it right away. Existing files are kept.
set -e
dir="${DESTDIR:-}$1"
mkdir -p "$dir"
if [ ! -e "$dir/cert.pem" ] && [ ! -e "$dir/key.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 825 -subj /CN=localhost \
        -keyout "$dir/key.pem" -out "$dir/cert.pem" >/dev/null 2>&1
    chmod 0600 "$dir/key.pem"
fi
[ -e "$dir/users" ] || { : >"$dir/users"; chmod 0600 "$dir/users"; }
