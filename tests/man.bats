#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Man pages: every option and variable a program's --help prints is in its
# page (--help is the source of truth: docs/operations.md, "Man pages"), the
# pages are clean for mandoc -Tlint, and make install puts them in place.

load test_helper

PROGS="resec-lock resec-watch resec-role resec-health resec-status resec-switchover resec-failsafe"

setup() {
	command -v mandoc >/dev/null || skip "mandoc is not installed (scripts/deps)"
	make -s -C "$RESEC_ROOT" man O="$RESEC_BUILD" >/dev/null
}

# page_text FILE: the page as plain text, on one long line per paragraph.
page_text() {
	mandoc -Tascii -Owidth=1000 "$1" | sed 's/.\x08//g'
}

# help_words PROG [args]: the options (--x, -x) and variables (A_B) that
# PROG's --help prints, one per line.
help_words() {
	"$@" --help | grep -oE '(^|[] [(|,])(--?[a-z][a-z0-9-]*|[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9])' |
		sed -E 's/^[^A-Za-z-]*//' | sort -u
}

# missing FILE PROG [args]: the --help words that the page FILE does not show.
missing() {
	local page="$1" text w
	shift
	text=$(page_text "$page")
	help_words "$@" | while read -r w; do
		grep -qE -- "(^|[^A-Za-z0-9_-])$w([^A-Za-z0-9_-]|\$)" <<<"$text" || echo "$w"
	done
}

@test "every option and variable a program's --help prints is in its man page" {
	for p in $PROGS; do
		run -0 missing "$RESEC_BUILD/man/$p.1" "$RESEC_BUILD/bin/$p"
		[ -z "$output" ] || { echo "$p.1 lacks: $output"; false; }
		# Sanity: the words came from --help (a broken extraction passes nothing).
		[ "$(help_words "$RESEC_BUILD/bin/$p" | grep -c .)" -gt 40 ]
	done
	run -0 missing "$RESEC_BUILD/man/resec.8" "$RESEC_ROOT/scripts/resec"
	[ -z "$output" ] || { echo "resec.8 lacks: $output"; false; }
	[[ "$(help_words "$RESEC_ROOT/scripts/resec")" == *CONSUL_HTTP_ADDR* ]]
}

@test "the check finds an option missing from a page" {
	sed 's/kill-timeout/kill-tmeout/g' "$RESEC_BUILD/man/resec-lock.1" >"$BATS_TEST_TMPDIR/resec-lock.1"
	run -0 missing "$BATS_TEST_TMPDIR/resec-lock.1" "$RESEC_BUILD/bin/resec-lock"
	[ "$output" = "--kill-timeout" ]
}

@test "the man pages are clean for mandoc -Tlint (warnings and worse)" {
	run -0 mandoc -Tlint -W warning "$RESEC_BUILD"/man/*.1 "$RESEC_BUILD"/man/resec.8
	[ -z "$output" ]
	local pages=("$RESEC_BUILD"/man/*)
	[ "${#pages[@]}" -eq 8 ]
}

@test "make install puts the man pages under PREFIX and DESTDIR; uninstall removes them" {
	dest="$BATS_TEST_TMPDIR/root"
	run -0 make -s -C "$RESEC_ROOT" install O="$RESEC_BUILD" PREFIX=/opt/resec DESTDIR="$dest"
	for p in $PROGS; do
		[ -f "$dest/opt/resec/share/man/man1/$p.1" ]
	done
	[ -f "$dest/opt/resec/share/man/man8/resec.8" ]
	run -0 man -M "$dest/opt/resec/share/man" -w resec-lock
	[ "$output" = "$dest/opt/resec/share/man/man1/resec-lock.1" ]
	run -0 make -s -C "$RESEC_ROOT" uninstall O="$RESEC_BUILD" PREFIX=/opt/resec DESTDIR="$dest"
	[ -z "$(find "$dest" -type f)" ]
}
