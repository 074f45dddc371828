#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The Debian package: built from a clean copy of the tree with
# dpkg-buildpackage, lintian-clean, installed with dpkg -i, then purged with
# nothing left behind. It needs root and changes the machine, so it lives
# outside tests/ (make test does not run it): make test-package.

bats_require_minimum_version 1.5.0

RESEC_ROOT="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
VERSION=$(sed -n 's/^VERSION *:= *//p' "$RESEC_ROOT/Makefile")
DEB_NAME="resec_${VERSION}_amd64.deb"

setup_file() {
	[ "$(id -u)" -eq 0 ] || skip "needs root: it installs the package"
	command -v dpkg-buildpackage >/dev/null || skip "dpkg-dev is not installed (scripts/deps)"
	if dpkg-query -W -f '${Status}' resec 2>/dev/null | grep -q installed; then
		skip "a resec package is installed already; not touching it"
	fi
}

setup() {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
}

teardown() {
	# A failed test must not leave the package on the machine.
	if [ -n "${INSTALLED:-}" ]; then
		dpkg --purge resec >/dev/null 2>&1 || true
	fi
}

# leftovers: every path on the system that names resec (not the work trees).
leftovers() {
	find /etc /lib /usr /var/lib -xdev -name '*resec*' 2>/dev/null | sort
}

# build_deb DIR: a clean copy of the tree (tracked and new files, no build/)
# in DIR/resec, built there; the .deb lands in DIR.
build_deb() {
	mkdir -p "$1/resec"
	git -C "$RESEC_ROOT" ls-files -co --exclude-standard -z |
		(cd "$RESEC_ROOT" && tar -cf - --null -T -) | tar -xf - -C "$1/resec"
	[ ! -e "$1/resec/build" ]
	(cd "$1/resec" && dpkg-buildpackage -us -uc -b) >"$1/build.log" 2>&1 || {
		tail -n 40 "$1/build.log"
		return 1
	}
}

@test "dpkg-buildpackage builds resec_VERSION_amd64.deb from a clean tree, lintian finds no error, and dpkg -i / --purge leave nothing behind" {
	local dir="$BATS_TEST_TMPDIR" deb before
	build_deb "$dir"
	deb="$dir/$DEB_NAME"
	[ -f "$deb" ]
	# The version of debian/changelog is the Makefile's.
	[ "$(dpkg-deb -f "$deb" Version)" = "$VERSION" ]

	run -0 dpkg-deb -c "$deb"
	for f in usr/bin/resec usr/bin/resec-lock usr/bin/resec-watch usr/bin/resec-role \
		usr/bin/resec-health usr/bin/resec-status usr/bin/resec-switchover \
		usr/share/man/man1/resec-lock.1.gz usr/share/man/man8/resec.8.gz \
		lib/systemd/system/resec.service etc/default/resec \
		usr/share/doc/resec/examples/resec-policy.hcl \
		usr/share/doc/resec/examples/resec-switchover-policy.hcl \
		usr/share/doc/resec/resec-lock.md usr/share/doc/resec/operations.md; do
		[[ "$output" == *" ./$f"* ]] || { echo "missing from the package: $f"; false; }
	done

	if command -v lintian >/dev/null; then
		run lintian "$deb"
		echo "$output"
		run ! grep -E '^E: ' <<<"$output"
	fi

	before=$(leftovers)
	run -0 dpkg -i "$deb"
	INSTALLED=1
	run -0 /usr/bin/resec-lock --version
	[ "$output" = "resec-lock $VERSION" ]
	run -0 /usr/bin/resec --version
	run -0 man -w resec-lock
	[ "$output" = /usr/share/man/man1/resec-lock.1.gz ]
	run -0 man -w 8 resec
	[ "$output" = /usr/share/man/man8/resec.8.gz ]
	run -0 systemd-analyze verify /lib/systemd/system/resec.service
	grep -qx 'ExecStart=/usr/bin/resec' /lib/systemd/system/resec.service
	grep -qx 'KillSignal=SIGQUIT' /lib/systemd/system/resec.service
	# Neither enabled nor started: operators configure first.
	[ -z "$(find /etc/systemd/system -name resec.service)" ]
	run ! pgrep -f /usr/bin/resec
	run -0 sh -c "dpkg-deb --ctrl-tarfile '$deb' | tar -xOf - ./postinst"
	[[ "$output" != *deb-systemd-invoke* && "$output" != *invoke-rc.d* ]]
	# /etc/default/resec sets nothing: every variable is commented out.
	run ! grep -E '^[^#]*=' /etc/default/resec
	grep -q '^#REDIS_ADDR=127.0.0.1:6379$' /etc/default/resec

	run -0 dpkg --purge resec
	INSTALLED=
	local status
	status=$(dpkg-query -W -f '${Status}' resec 2>/dev/null) || true
	[[ -z "$status" || "$status" == *not-installed ]]
	[ "$(leftovers)" = "$before" ]
}
