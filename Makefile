# SPDX-License-Identifier: MIT
# resec: build the common library, the four programs, their tests and fuzzers.
# CC, CFLAGS, CPPFLAGS, LDFLAGS, PREFIX and DESTDIR are honoured; our warnings
# are appended after CFLAGS so that they cannot be dropped by accident.

VERSION   := 0.1.0
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
MANDIR    ?= $(PREFIX)/share/man
CC        ?= cc
CFLAGS    ?= -O2 -g
O         ?= build
WERROR    ?=
SANITIZE  ?=

# libcurl: its headers only. No binary links it; common/http_curl.c loads
# libcurl.so.4 with dlopen when an https:// Consul address is configured
# (docs/consul-client.md, "Transport"). dlopen is in glibc's libc since 2.34.
PKGS      := hiredis
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) libcurl)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))

WARNINGS  := -std=c11 -Wall -Wextra -Wshadow -Wformat=2 -Wpointer-arith \
             -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wundef $(WERROR)
DEFS      := -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DRESEC_VERSION='"$(VERSION)"'
ALL_CFLAGS := $(CFLAGS) $(SANITIZE) $(WARNINGS) $(DEFS) -Icommon $(PKG_CFLAGS) $(CPPFLAGS)
ALL_LDFLAGS := $(LDFLAGS) $(SANITIZE)

PROGS     := resec-lock resec-watch resec-role resec-health resec-status resec-switchover resec-failsafe
LIB_SRC   := $(wildcard common/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(O)/%.o)
LIB       := $(O)/libresec.a
BINS      := $(PROGS:%=$(O)/bin/%)
UNIT_SRC  := $(wildcard tests/unit/*.c)
UNITS     := $(UNIT_SRC:tests/unit/%.c=$(O)/unit/%)
FUZZ_SRC  := $(wildcard tests/fuzz/*.c)

.PHONY: all man test check test-valkey test-package sanitize lint fuzz install uninstall clean demo bench bench-quick units chaos

all: $(BINS) man

# Man pages: man/*.[18] with the shared options (man/shared-options.mdoc)
# spliced in where a page says @SHARED_OPTIONS@.
MAN_SRC   := $(wildcard man/*.1 man/*.8)
MANS      := $(MAN_SRC:man/%=$(O)/man/%)
man: $(MANS)

$(O)/man/%: man/% man/shared-options.mdoc
	@mkdir -p $(@D)
	awk -v shared=man/shared-options.mdoc \
	  '$$0 == "@SHARED_OPTIONS@" { while ((getline l <shared) > 0) if (l !~ /^\.\\"/) print l; next } { print }' \
	  $< >$@

units: $(UNITS)

$(O)/%.o: %.c $(wildcard common/*.h tests/unit/*.h cmd/*/*.h)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

# A program is every .c file in its cmd/ directory, linked with the library.
# Its objects are made through a pattern chain, which makes them intermediate:
# .SECONDARY keeps them, or every make would delete and rebuild them.
.SECONDARY:
.SECONDEXPANSION:
$(O)/bin/%: $$(addprefix $(O)/,$$(subst .c,.o,$$(wildcard cmd/$$*/*.c))) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(O)/unit/%: $(O)/tests/unit/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# The tests run against an ASan+UBSan build, with warnings as errors.
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
# Suites run side by side, tests within a file one after another: most of a
# suite's time is waiting (TTLs, lock-delays, fault windows), not CPU. bats
# needs GNU parallel for it (scripts/deps installs it); without it, one by one.
BATS_JOBS ?= $(if $(shell command -v parallel),3,1)
BATS_PAR = $(if $(filter-out 1,$(BATS_JOBS)),--jobs $(BATS_JOBS) --no-parallelize-within-files)

# The plain build (build/) is what the valgrind tests run.
test check:
	$(MAKE) WERROR=-Werror all
	$(MAKE) O=build/san WERROR=-Werror SANITIZE="$(SAN_FLAGS)" CFLAGS="-O1 -g" all units
	@{ RESEC_BUILD=build/san bats --timing $(BATS_PAR) tests/; echo $$? >build/san/bats.rc; } 2>&1 | tee build/san/bats.tap
	@echo "$$(grep -c '^ok' build/san/bats.tap) passed, $$(grep -c '^not ok' build/san/bats.tap) failed"
	@exit "$$(cat build/san/bats.rc)"

# The Redis-facing and end-to-end suites again, on Valkey (scripts/deps
# installs it from bookworm-backports); docs/operations.md, "Supported servers".
VALKEY_SUITES := resec-health resec-role resec-status elect switchover resec faults deploy bench
test-valkey:
	$(MAKE) O=build/san WERROR=-Werror SANITIZE="$(SAN_FLAGS)" CFLAGS="-O1 -g" all units
	@{ RESEC_TEST_SERVER=valkey-server RESEC_BUILD=build/san bats --timing $(BATS_PAR) $(VALKEY_SUITES:%=tests/%.bats); \
	  echo $$? >build/san/valkey.rc; } 2>&1 | tee build/san/valkey.tap
	@echo "valkey: $$(grep -c '^ok' build/san/valkey.tap) passed, $$(grep -c '^not ok' build/san/valkey.tap) failed"
	@exit "$$(cat build/san/valkey.rc)"

# Builds the Debian package from a clean copy, installs it with dpkg -i and
# purges it: needs root and changes the machine, so make test leaves it out.
test-package:
	@mkdir -p build
	@{ bats --timing tests/package; echo $$? >build/package.rc; } 2>&1 | tee build/package.tap
	@echo "package: $$(grep -c '^ok' build/package.tap) passed, $$(grep -c '^not ok' build/package.tap) failed"
	@exit "$$(cat build/package.rc)"

sanitize:
	$(MAKE) O=build/san WERROR=-Werror SANITIZE="$(SAN_FLAGS)" CFLAGS="-O1 -g" all units

SH_SCRIPTS := scripts/resec scripts/deps scripts/demo $(wildcard scripts/*.sh tests/*.bash tests/*/*.bash bench/*.sh bench/run) .ci/run
lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,style,performance,portability \
	  --std=c11 --inline-suppr --suppress=missingIncludeSystem -Icommon common cmd tests/unit
	clang-tidy --quiet $(LIB_SRC) $(wildcard cmd/*/*.c) -- $(WARNINGS) $(DEFS) -Icommon $(PKG_CFLAGS)
	shellcheck $(wildcard $(SH_SCRIPTS))
	awk -f tests/lint/bats-negations.awk tests/*.bats tests/package/*.bats
	$(MAKE) -s man
	mandoc -Tlint -W warning $(MANS)

FUZZ_SECONDS ?= 60
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined $(WARNINGS) -Werror $(DEFS) -Icommon $(PKG_CFLAGS)
fuzz:
	@mkdir -p build/fuzz
	@set -e; for f in $(FUZZ_SRC); do \
	  n=$$(basename $$f .c); \
	  clang $(FUZZ_FLAGS) -o build/fuzz/$$n $$f $(LIB_SRC) $(PKG_LIBS); \
	  mkdir -p build/fuzz/corpus-$$n; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	  build/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=build/fuzz/$$n- \
	    build/fuzz/corpus-$$n $$( [ -d tests/fuzz/seeds/$$n ] && echo tests/fuzz/seeds/$$n ); \
	done

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8
	install -m 755 $(BINS) scripts/resec $(DESTDIR)$(BINDIR)
	install -m 644 $(filter %.1,$(MANS)) $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(filter %.8,$(MANS)) $(DESTDIR)$(MANDIR)/man8

uninstall:
	rm -f $(PROGS:%=$(DESTDIR)$(BINDIR)/%) $(DESTDIR)$(BINDIR)/resec
	rm -f $(patsubst man/%.1,$(DESTDIR)$(MANDIR)/man1/%.1,$(filter %.1,$(MAN_SRC)))
	rm -f $(patsubst man/%.8,$(DESTDIR)$(MANDIR)/man8/%.8,$(filter %.8,$(MAN_SRC)))

demo: all
	scripts/demo

bench: all
	bench/run

bench-quick: all
	bench/run --quick

# The random fault campaign (docs/reliability.md): CHAOS_ROUNDS (200),
# CHAOS_SEED (fresh, printed), CHAOS_PROFILE (default) and the rest from the
# environment or the command line; RESEC_BUILD picks the build under test.
chaos: all
	RESEC_BUILD="$${RESEC_BUILD:-$(O)}" python3 tests/chaos/chaos.py

clean:
	rm -rf build
