# SPDX-License-Identifier: MIT
# Reject a bare negated command ("! cmd") inside a bats test. Under bash's
# set -e a negated command never fails the test, so "! grep x" checks
# nothing unless it happens to be the test's last line; write "run ! cmd",
# or "run cmd" and a check of $status. Every bare negation is refused, last
# line or not, so that moving a line can never make an assertion silent.
# usage: awk -f tests/lint/bats-negations.awk tests/*.bats
/^@test / { intest = 1; next }
intest && /^}/ { intest = 0; next }
intest && /^[[:space:]]*![[:space:]]/ {
	printf "%s:%d: bare negation can never fail the test; use run ! …: %s\n", FILENAME, FNR, $0
	bad++
}
END { exit bad > 0 }
