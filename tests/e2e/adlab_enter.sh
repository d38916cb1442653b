# Sourced first by the AD lab's e2e tests (test_ad, test_ad_dir, test_krb): outside the lab it
# re-runs the calling test inside it and exits with the test's status; inside (TSGW_IN_ADLAB
# set) it returns and the test goes on.
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
