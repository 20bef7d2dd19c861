#!/usr/bin/env bash
# The README's test command: every test of the workspace, on a fresh Debian machine.
#
#   ./test.sh          as an ordinary user: every suite that needs no root; the privileged
#                      ones print `SKIPPED <name>: ...` and are listed by name at the end
#   sudo ./test.sh     as root: installs the test packages first (tests/ci-setup.sh, idempotent)
#                      and runs every suite; a missing tool then fails, nothing is skipped
#
# Arguments go to `cargo test` (e.g. `./test.sh -p failover-model`). The exit status is cargo's.
# CI (.ci/run, CI=true, root) runs it too; there a skip is a failure.
set -uo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" = 0 ]; then
    # Under sudo, root's PATH usually lacks the invoking user's rustup toolchain: use it (read
    # only) unless root has its own. Root keeps its own CARGO_HOME and, unless one is given, a
    # target directory of its own (target/root) so that the user's target/ stays the user's.
    if ! command -v cargo >/dev/null && [ -n "${SUDO_USER:-}" ]; then
        home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
        export PATH="$home/.cargo/bin:$PATH"
        export RUSTUP_HOME="${RUSTUP_HOME:-$home/.rustup}"
    fi
    if [ -n "${SUDO_UID:-}" ] && [ -z "${CARGO_TARGET_DIR:-}" ]; then
        install -d -o "$SUDO_UID" -g "${SUDO_GID:-$SUDO_UID}" target
        export CARGO_TARGET_DIR="$PWD/target/root"
    fi
    echo "== root: installing the packages of the privileged suites (tests/ci-setup.sh)"
    sh tests/ci-setup.sh || {
        echo "test.sh: tests/ci-setup.sh failed" >&2
        exit 1
    }
else
    echo "== not root: the suites that need root are skipped, and listed at the end"
fi
command -v cargo >/dev/null || {
    echo "test.sh: cargo not found (install Rust with rustup)" >&2
    exit 1
}

log=$(mktemp "${TMPDIR:-/tmp}/failover-test.XXXXXX")
trap 'rm -f "$log"' EXIT
echo "== cargo test --workspace --all-features $*"
cargo test --workspace --all-features "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

passed=$(sed -n 's/^test result: .* \([0-9][0-9]*\) passed.*/\1/p' "$log" | awk '{s += $1} END {print s + 0}')
failed=$(sed -n 's/^test result: .* \([0-9][0-9]*\) failed.*/\1/p' "$log" | awk '{s += $1} END {print s + 0}')
# The test names of the SKIPPED lines. A test writes its line to stderr in one write while the
# harness may be half-way through a `test NAME ... ok` line on stdout, so the line need not
# start at the beginning of a log line: take every `SKIPPED <name>: ` wherever it stands.
skipped=$(grep -oE 'SKIPPED [^ ]+: ' "$log" | sed -E 's/^SKIPPED ([^ ]+): $/\1/' | sort -u)
nskipped=$(grep -c . <<<"$skipped")

echo
note=""
[ "$nskipped" -gt 0 ] && note=" (cargo counts them as passed; they checked nothing)"
echo "== summary: $((passed - nskipped)) tests ran and passed, $nskipped SKIPPED$note, $failed failed"
if [ "$nskipped" -gt 0 ]; then
    echo "== SKIPPED, not run:"
    sed 's/^/   /' <<<"$skipped"
    echo "== they need root and the packages of tests/ci-setup.sh; run every suite with:"
    echo "   sudo ./test.sh"
    if [ -n "${CI:-}" ] && [ "$CI" != false ] && [ "$CI" != 0 ]; then
        echo "test.sh: CI must run every suite, $nskipped were skipped" >&2
        [ "$rc" != 0 ] || rc=1
    fi
else
    [ "$rc" = 0 ] && echo "== every suite ran: nothing was skipped"
fi
exit "$rc"
