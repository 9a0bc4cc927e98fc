#!/usr/bin/env bash
# Run the IRC conformance suite progval/irctest against Little Cats (see README.md here).
#
#   tests/irctest/run.sh [PYTEST_ARGS...]
#
# irctest must be checked out at $IRCTEST_DIR (default /tmp/irctest):
#   git clone https://github.com/progval/irctest /tmp/irctest
# Nothing is fetched at run time except irctest's requirements (pip, into the project venv,
# only if missing).  Two selections ("groups") run, each in its own pytest session:
#   core   RFC1459/RFC2812/modern tests of the basic commands and the channel modes
#          +o +v +b +i +t +m +k +s
#   ircv3  CAP, SASL and message buffering (every test not implementation-specific)
# and a pass/fail/skip count per group is printed at the end.
#
# Environment:
#   IRCTEST_DIR       the irctest checkout (default /tmp/irctest)
#   LITTLECATS_VENV   the venv with Little Cats installed (default: the repo's .venv)
#   IRCTEST_GROUPS    which groups to run (default "core ircv3")
#   IRCTEST_TIMEOUT   seconds allowed per group (default 1800)
#   IRCTEST_TB        pytest's --tb style (default short)
#   LITTLECATS_TWISTD, LITTLECATS_IRCTEST_ARGS, IRCTEST_DEBUG_LOGS: see littlecats_controller.py
# Extra arguments go to every pytest run (e.g. -k testJoin, -x, -n 4 with pytest-xdist).
# Exit status: 0 if no test failed or errored, 1 otherwise, 2 if it could not run.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
IRCTEST_DIR=${IRCTEST_DIR:-/tmp/irctest}
venv=${LITTLECATS_VENV:-$root/.venv}
groups=${IRCTEST_GROUPS:-core ircv3}
python=$venv/bin/python

if [ ! -f "$IRCTEST_DIR/conftest.py" ] || [ ! -d "$IRCTEST_DIR/irctest/server_tests" ]; then
    cat >&2 <<EOF
No irctest checkout at $IRCTEST_DIR. Get it with
    git clone https://github.com/progval/irctest $IRCTEST_DIR
(or point IRCTEST_DIR at an existing checkout).
EOF
    exit 2
fi
if [ ! -x "$python" ]; then
    cat >&2 <<EOF
No venv at $venv. Create it from the repository root with
    python3 -m venv .venv && .venv/bin/pip install -e '.[test]'
(or point LITTLECATS_VENV at one where Little Cats is installed).
EOF
    exit 2
fi
if ! "$python" -c 'import littlecats' 2>/dev/null; then
    echo "Little Cats is not installed in $venv: $venv/bin/pip install -e '$root'" >&2
    exit 2
fi
# irctest's requirements (pytest, and its optional ecdsa, filelock, websockets).
if ! "$python" -c 'import pytest, ecdsa, filelock, websockets' 2>/dev/null; then
    echo "+ $venv/bin/pip install -r $IRCTEST_DIR/requirements.txt"
    "$venv/bin/pip" install -q -r "$IRCTEST_DIR/requirements.txt" || exit 2
fi

tests=irctest/server_tests
markers_core='(RFC1459 or RFC2812 or modern) and not implementation-specific and not deprecated and not strict'
# The basic commands; +i is exercised by invite.py and +t by topic.py (chmodes/ has no file for
# them); chmodes/: operator.py +o, moderated.py +m and +v, ban.py +b, key.py +k, secret.py +s.
files_core=(
    connection_registration messages pingpong quit join part names topic kick who whois
    isupport lusers away invite
    chmodes/operator chmodes/moderated chmodes/ban chmodes/key chmodes/secret
)
markers_ircv3='not implementation-specific and not deprecated and not strict'
files_ircv3=(cap sasl buffering)

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
status=0
ran=()
for group in $groups; do
    case $group in
        core) markers=$markers_core; names=("${files_core[@]}") ;;
        ircv3) markers=$markers_ircv3; names=("${files_ircv3[@]}") ;;
        *) echo "unknown group $group (core, ircv3)" >&2; exit 2 ;;
    esac
    paths=()
    for name in "${names[@]}"; do
        if [ ! -f "$IRCTEST_DIR/$tests/$name.py" ]; then
            echo "$IRCTEST_DIR/$tests/$name.py is missing: is $IRCTEST_DIR an irctest checkout?" >&2
            exit 2
        fi
        paths+=("$tests/$name.py")
    done
    echo
    echo "=== irctest group $group: -m '$markers'"
    echo "=== ${paths[*]}"
    # -p no:twisted: the project's pytest-twisted plugin has nothing to do with irctest.
    (
        cd "$IRCTEST_DIR" &&
        PYTHONPATH="$here:$IRCTEST_DIR${PYTHONPATH:+:$PYTHONPATH}" \
        timeout -k 30 "${IRCTEST_TIMEOUT:-1800}" \
            "$python" -m pytest -p no:twisted -p no:cacheprovider \
            --controller littlecats_controller \
            -m "$markers" -rfEs --tb="${IRCTEST_TB:-short}" \
            --junitxml="$results/$group.xml" \
            "${paths[@]}" "$@"
    )
    code=$?
    # pytest: 0 all passed, 1 some failed, 5 nothing selected; anything else is trouble.
    if [ "$code" -ne 0 ] && [ "$code" -ne 5 ]; then
        status=1
    fi
    if [ "$code" -gt 1 ] && [ "$code" -ne 5 ]; then
        echo "=== group $group: pytest exited with status $code" >&2
    fi
    ran+=("$group")
done

echo
echo "=== irctest against Little Cats: results per group"
"$python" - "$results" "${ran[@]}" <<'EOF'
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

directory, groups = Path(sys.argv[1]), sys.argv[2:]
print(f"{'group':8} {'passed':>7} {'failed':>7} {'errors':>7} {'skipped':>8} {'total':>6}")
for group in groups:
    path = directory / f"{group}.xml"
    if not path.exists():
        print(f"{group:8} (no report: pytest did not finish)")
        continue
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    for case in ET.parse(path).iter("testcase"):
        kinds = {child.tag for child in case}
        if "error" in kinds:
            counts["errors"] += 1
        elif "failure" in kinds:
            counts["failed"] += 1
        elif "skipped" in kinds:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    total = sum(counts.values())
    print(
        f"{group:8} {counts['passed']:7} {counts['failed']:7} {counts['errors']:7}"
        f" {counts['skipped']:8} {total:6}"
    )
EOF
exit $status
