# Sourced first by the AD lab's e2e tests (test_ad, test_ad_dir, test_krb): outside the lab it
# re-runs the calling test inside it and exits with the test's status; inside (TSGW_IN_ADLAB
# set) it returns and the test goes on. It also holds the helpers those tests share
# (adlab_cert, nobody_dir, start_tsgwd_nobody; they use lib.sh's WORK, TSGWD, PIDS and
# wait_for, so call them after sourcing lib.sh).
#
# The lab is the one $TSGW_ADLAB names (scripts/test.sh starts one for the normal and the ASan
# runs); without it, one of the test's own is brought up and taken down at the end. A lab that
# does not come up fails the test (never a skip). Needs ADLAB (tests/support/adlab.sh) and the
# test's own path as $1.
adlab_enter() {
    local test=$1 own="" dir=${TSGW_ADLAB:-} rc
    [ -n "${TSGW_IN_ADLAB:-}" ] && return 0
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
    TSGW_IN_ADLAB=1 TSGW_ADLAB=$dir "$ADLAB" exec "$dir" -- bash "$test"
    rc=$?
    if [ -n "$own" ]; then
        "$ADLAB" down "$dir" >/dev/null 2>&1
        rm -rf "$dir"
    fi
    exit $rc
}

adlab_cert() { # adlab_cert: $WORK/cert.pem and $WORK/key.pem for the gateway's name rdgw.contoso.test
    openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 2 -subj /CN=rdgw.contoso.test \
        -addext "subjectAltName=DNS:rdgw.contoso.test" -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
        >/dev/null 2>&1
}

nobody_dir() { # nobody_dir DIR FILE...: DIR holds copies of the FILEs, all readable by nobody
    local dir=$1
    shift
    mkdir -p "$dir"
    cp "$@" "$dir/"
    chmod 755 "$WORK" "$dir"
    chmod 644 "$dir"/*
}

start_tsgwd_nobody() { # start_tsgwd_nobody DIR NAME SETPRIV-GROUP-ARGS...
    # tsgwd -c tsgw.conf run from DIR as nobody/nogroup (setpriv with the group args), its log
    # $WORK/NAME.log; sets GW_PID (also added to PIDS); fails unless it says "tsgwd ready"
    local dir=$1 name=$2
    shift 2
    (cd "$dir" && exec setpriv --reuid=nobody --regid=nogroup "$@" "$TSGWD" -v -c tsgw.conf) \
        >"$WORK/$name.log" 2>&1 &
    GW_PID=$!
    PIDS+=($GW_PID)
    wait_for 10 "$WORK/$name.log" "tsgwd ready"
}
