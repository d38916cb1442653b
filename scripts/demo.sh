#!/usr/bin/env bash
# Builds tsgwd and runs it on the embedded default: a self-signed certificate, a demo account
# and a policy allowing 127.0.0.1:3389, all generated under ./run/demo (kept between runs).
#   PORT=8443 scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v meson >/dev/null || ! pkg-config --exists openssl libxml-2.0 2>/dev/null; then
    scripts/install-deps.sh
fi
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
mkdir -p run
exec build/tsgwd --demo "$PWD/run/demo" --port "${PORT:-8443}"
