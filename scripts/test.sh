#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test: unit tests, fuzz-corpus replays and the
# end-to-end tests with real peers (xfreerdp, freerdp-shadow-cli, wbemcli), first on a normal
# -Werror build, then on an ASan+UBSan build (with LeakSanitizer at clean shutdown); then each
# libFuzzer target for a bounded time. Ends with one line: "N passed, N failed".
#   FUZZ_SECONDS=20 (per target; 0 skips fuzzing)   SKIP_ASAN=1   SKIP_INSTALL=1
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
pass=0
fail=0
skip=0

if [ -z "${SKIP_INSTALL:-}" ]; then
    scripts/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }
fi

count_log() { # count_log BUILD_DIR: adds the results of its last meson test run
    local r
    r=$(python3 - "$1/meson-logs/testlog.json" <<'PY'
import json, sys
p = f = s = 0
try:
    for line in open(sys.argv[1]):
        t = json.loads(line)
        res = t.get("result")
        if res in ("OK", "EXPECTEDFAIL"):
            p += 1
        elif res == "SKIP":
            s += 1
        else:
            f += 1
except FileNotFoundError:
    f += 1
print(p, f, s)
PY
)
    set -- $r
    pass=$((pass + $1)); fail=$((fail + $2)); skip=$((skip + $3))
}

run_suite() { # run_suite BUILD_DIR SETUP-ARGS...
    local dir=$1; shift
    echo "=== build $dir ($*)"
    if [ ! -f "$dir/build.ninja" ]; then
        if ! meson setup "$dir" "$@" >"$dir.setup.log" 2>&1; then
            cat "$dir.setup.log"
            echo "meson setup failed: $dir"
            fail=$((fail + 1))
            return
        fi
    fi
    if ! ninja -C "$dir"; then
        echo "build failed: $dir"
        fail=$((fail + 1))
        return
    fi
    echo "=== test $dir"
    meson test -C "$dir" --print-errorlogs --num-processes 2
    count_log "$dir"
}

echo "=== style (clang-format, .clang-format)"
bad=$(git ls-files '*.c' '*.h' 2>/dev/null | while read -r f; do
    clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || echo "$f"; done)
if [ -z "$bad" ]; then
    echo "style: ok"
    pass=$((pass + 1))
else
    echo "style: clang-format disagrees with: $bad"
    fail=$((fail + 1))
fi

# One Active Directory lab (Samba AD DC + the gateway's joined member, tests/support/adlab.sh)
# serves the AD end-to-end tests of both builds; tests/e2e/test_ad.sh finds it in TSGW_ADLAB.
ADLAB_DIR=$(mktemp -d /tmp/tsgw-adlab.XXXXXX)
trap 'tests/support/adlab.sh down "$ADLAB_DIR" >/dev/null 2>&1; rm -rf "$ADLAB_DIR"' EXIT
echo "=== AD lab"
if tests/support/adlab.sh up "$ADLAB_DIR" >"$ADLAB_DIR/env" 2>"$ADLAB_DIR/up.log"; then
    grep timing "$ADLAB_DIR/up.log" || tail -n 1 "$ADLAB_DIR/up.log"
    export TSGW_ADLAB=$ADLAB_DIR
else
    cat "$ADLAB_DIR/up.log"
    echo "AD lab did not come up"
    fail=$((fail + 1))
fi

CC=${CC:-gcc} run_suite build -Dwerror=true
if [ -z "${SKIP_ASAN:-}" ]; then
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_suite build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
        -Dbuildtype=debug
fi

if [ "$FUZZ_SECONDS" != 0 ]; then
    echo "=== fuzz ($FUZZ_SECONDS s per target)"
    if [ ! -f build-fuzz/build.ninja ]; then
        CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
            -Db_lundef=false -Dtests=false >build-fuzz.setup.log 2>&1 || cat build-fuzz.setup.log
    fi
    if ninja -C build-fuzz; then
        for f in build-fuzz/tests/fuzz_*; do
            [ -f "$f" ] && [ -x "$f" ] || continue
            name=${f##*/fuzz_}
            scratch=$(mktemp -d)
            if "$f" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 -close_fd_mask=3 \
                "$scratch" "tests/fuzz/corpus/$name" >"$scratch.log" 2>&1; then
                execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$scratch.log" | grep -o '[0-9]*$')
                echo "fuzz $name: ok, ${execs:-?} executions"
                pass=$((pass + 1))
            else
                echo "fuzz $name: FAILED"
                tail -n 40 "$scratch.log"
                fail=$((fail + 1))
            fi
            rm -rf "$scratch" "$scratch.log"
        done
    else
        echo "fuzz build failed"
        fail=$((fail + 1))
    fi
fi

echo
if [ "$skip" -gt 0 ]; then
    echo "$pass passed, $fail failed, $skip skipped"
    echo "(a skipped test is not a pass: every test must run here)"
    exit 1
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
