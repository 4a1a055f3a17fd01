# relayguard - one non-recursive GNU Makefile.
#
#   make              build build/relayguard
#   make demo         collect the bundled samples, lock a spammer, show it
#   make test         every test suite; ends with "N passed, N failed"
#   make golden-update  rewrite the golden files (review with git diff)
#   make asan-test    the test suite on an ASan/UBSan build
#   make tsan-test    the parse and collect suites on a ThreadSanitizer build
#   make fuzz         libFuzzer on the line parser and the config loader
#   make bench        bench/parse.sh (not part of make test)
#   make install      PREFIX=/usr/local DESTDIR= (binary, man pages, units,
#                     cron and logrotate files, bash completion, sample
#                     config); uninstall
#
# `demo` and `test` first install what is missing (scripts/install-deps).

PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
DOCDIR   ?= $(PREFIX)/share/doc/relayguard
UNITDIR  ?= $(PREFIX)/lib/systemd/system
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
SYSCONFDIR ?= /etc
CRONDIR  ?= $(SYSCONFDIR)/cron.d
LOGROTATEDIR ?= $(SYSCONFDIR)/logrotate.d
DESTDIR  ?=
VERSION  := 0.1.0
B        ?= build
CC       ?= cc
PKGS     := libpcre2-8 sqlite3 xlsxwriter libesmtp-1.0 inih zlib libsystemd icu-uc openssl libcrypt libpq
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# Of these only the headers are used: they are not linked but loaded
# (dlopen, common/dynlib.h) when first needed, since loading them with
# their dependencies cost every run ~23 ms of CPU, and most runs (`parse`,
# the per-minute `analyze`) need none. analyzer/pq_dl.c loads libpq when a
# pgsql: backend connects, common/casefold.c ICU at the first non-ASCII
# key, reports/xlsx_dl.c libxlsxwriter for a workbook, reports/esmtp_dl.c
# libesmtp and OpenSSL to send mail, common/sd_dl.c libsystemd under
# systemd or for a journal source. A new call into one of them needs its
# forwarder in that file (the link fails without it).
DL_PKGS  := libpq icu-uc xlsxwriter libesmtp-1.0 openssl libsystemd
PKG_LIBS   := $(shell pkg-config --libs $(filter-out $(DL_PKGS),$(PKGS)) 2>/dev/null) -ldl

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wpointer-arith -Wno-unused-parameter
ifeq ($(CI),true)
WARN     += -Werror
endif
OPT      ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -D_POSIX_C_SOURCE=200809L -DPCRE2_CODE_UNIT_WIDTH=8 \
            -DRG_VERSION='"$(VERSION)"'
CFLAGS   += -std=c11 $(OPT) $(WARN) $(PKG_CFLAGS) -pthread -MMD -MP
LDLIBS   += $(PKG_LIBS) -lm -lpthread

# library code, layered: common <- rules <- store <- collector, analyzer,
# reports <- cli (tests/suites/layers.sh)
LIB_SRC  := $(wildcard common/*.c) $(wildcard rules/*.c) $(wildcard store/*.c) \
            $(wildcard collector/*.c) $(wildcard analyzer/*.c) \
            $(wildcard reports/*.c)
CLI_SRC  := $(wildcard cli/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(B)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

.PHONY: all deps demo test unit golden golden-update asan-test tsan-test fuzz bench \
        install uninstall clean
MAN_PAGES := $(B)/man/relayguard.8 $(B)/man/relayguard.ini.5
UNITS    := $(wildcard samples/systemd/relayguard-*)
all: $(B)/relayguard $(UNIT_BIN) $(MAN_PAGES)

# the manual pages, made by the program from its own tables (relayguard man)
$(B)/man/relayguard.8: $(B)/relayguard
	@mkdir -p $(dir $@)
	$(B)/relayguard man 8 > $@.tmp && mv $@.tmp $@

$(B)/man/relayguard.ini.5: $(B)/relayguard
	@mkdir -p $(dir $@)
	$(B)/relayguard man 5 > $@.tmp && mv $@.tmp $@

$(B)/relayguard: $(CLI_OBJ) $(B)/librelayguard.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJ) $(B)/librelayguard.a $(LDLIBS)

$(B)/librelayguard.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/tests/%: tests/unit/%.c tests/unit/unit.h $(B)/librelayguard.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(B)/librelayguard.a $(LDLIBS)

deps:
	scripts/install-deps test

# The main job on the bundled samples: parse them, collect them into a demo
# database, analyze: an automatic spam lock (samples/spam.log and
# samples/spam.rspamd.log, from a real Postfix with rspamd as its milter:
# samples/make-spam-sample.sh), then a manual lock, and the maps written.
DEMO := $(B)/demo
# a minute after the spam sample's last line: its spam is within the window
DEMO_NOW = $$(date -u -d "$$(tail -n 1 samples/spam.log | cut -c1-15) 2026 UTC + 1 minute" +%FT%TZ)
demo:
	@scripts/install-deps demo
	@$(MAKE) --no-print-directory $(B)/relayguard
	@echo "== relayguard parse samples/relay.log (first 2 of $$($(B)/relayguard parse --year 2026 --tz UTC samples/relay.log | wc -l) records)"
	@$(B)/relayguard parse --year 2026 --tz UTC samples/relay.log | head -n 2
	@rm -rf $(DEMO) && mkdir -p $(DEMO)/maps && touch $(DEMO)/main.cf
	@printf '[global]\ndatabase = %s/relayguard.db\nmap_directory = %s/maps\npostfix_config_directory = %s\nadmin_contact = abuse@example.org\nidentity_lock_classes = 2\n[mail]\nsend_after_analyze = no\n[parse]\nyear = 2026\ntimezone = UTC\n[source postfix]\npath = %s/samples/relay.log\n[source spam]\npath = %s/samples/spam.log\n[source rspamd]\npath = %s/samples/spam.rspamd.log\n[user "alice@example.com"]\n[user "bob@example.com"]\n[user "127.0.0.10/31"]\ntype = ip\n' \
	    "$(CURDIR)/$(DEMO)" "$(CURDIR)/$(DEMO)" "$(CURDIR)/$(DEMO)" "$(CURDIR)" "$(CURDIR)" "$(CURDIR)" > $(DEMO)/relayguard.ini
	@echo "== relayguard collect --once (config: $(DEMO)/relayguard.ini: samples/relay.log, spam.log, spam.rspamd.log)"
	@$(B)/relayguard -c $(DEMO)/relayguard.ini collect --once --quiet
	@echo "== relayguard messages --user alice@example.com (last 6)"
	@$(B)/relayguard -c $(DEMO)/relayguard.ini messages --user alice@example.com | sed -n 1p
	@$(B)/relayguard -c $(DEMO)/relayguard.ini messages --user alice@example.com | tail -n 6
	@echo "== relayguard stats"
	@$(B)/relayguard -c $(DEMO)/relayguard.ini stats
	@echo "== relayguard analyze --now $(DEMO_NOW)   (6 spam from alice within 10m: an automatic lock)"
	@$(B)/relayguard -c $(DEMO)/relayguard.ini analyze --now $(DEMO_NOW)
	@echo "== relayguard lock user bob@example.com --reason demo --for 1h"
	@$(B)/relayguard -c $(DEMO)/relayguard.ini lock user bob@example.com --reason demo --for 1h
	@echo "== relayguard users"
	@$(B)/relayguard -c $(DEMO)/relayguard.ini users
	@echo "== the maps Postfix reads ($(DEMO)/maps)"
	@for m in sasl_access client_access admin_access header_static; do echo "-- $$m"; cat $(DEMO)/maps/$$m; done

test:
	@scripts/install-deps test
	@$(MAKE) --no-print-directory all
	@tests/run

# Golden files: samples/NAME.log -> parse -> samples/NAME.jsonl
golden-update: $(B)/relayguard
	@for f in samples/*.log; do \
	    $(B)/relayguard parse --year 2026 --tz UTC --sessions "$$f" > "$${f%.log}.jsonl" || exit 1; \
	    echo "updated $${f%.log}.jsonl"; \
	done

# OPT and LDFLAGS go to the suites too: demo.sh and install.sh run make
# on the build directory under test, and a make with the default flags
# there relinked the sanitized objects without the sanitizer's runtime
ASAN_OPT := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer
asan-test:
	@scripts/install-deps test
	@$(MAKE) --no-print-directory B=build-asan OPT="$(ASAN_OPT)" \
	    LDFLAGS="-fsanitize=address,undefined" all
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    RG_CRASH_MAXDELAY=1500 RG_CRASH_LINES=60000 RG_CRASH_MIN_KILLS=15 \
	    OPT="$(ASAN_OPT)" LDFLAGS="-fsanitize=address,undefined" \
	    RELAYGUARD=$(CURDIR)/build-asan/relayguard UNIT_DIR=$(CURDIR)/build-asan/tests tests/run

# the parse and collect suites on a ThreadSanitizer build (parse runs its
# front end in a thread of its own: collector/pipeline.c; collect its WAL
# checkpoints: store/ckpt.c)
tsan-test:
	@scripts/install-deps test
	@$(MAKE) --no-print-directory B=build-tsan OPT="-O1 -g -fsanitize=thread" \
	    LDFLAGS="-fsanitize=thread" build-tsan/relayguard
	@TSAN_OPTIONS=halt_on_error=1:exitcode=66 RELAYGUARD=$(CURDIR)/build-tsan/relayguard \
	    tests/run golden corpus assemble hostile collect

FUZZ_SECONDS ?= 60
fuzz:
	@scripts/install-deps fuzz
	@$(MAKE) --no-print-directory B=build-fuzz CC=clang \
	    OPT="-O1 -g -fsanitize=fuzzer-no-link,address,undefined" build-fuzz/librelayguard.a
	@mkdir -p build-fuzz/corpus-line build-fuzz/corpus-config build-fuzz/artifacts
	clang $(CPPFLAGS) -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS) \
	    -o build-fuzz/fuzz_line tests/fuzz/fuzz_line.c build-fuzz/librelayguard.a $(LDLIBS)
	clang $(CPPFLAGS) -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS) \
	    -o build-fuzz/fuzz_config tests/fuzz/fuzz_config.c build-fuzz/librelayguard.a $(LDLIBS)
	tests/fuzz/seed.sh build-fuzz
	build-fuzz/fuzz_line -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    -artifact_prefix=build-fuzz/artifacts/ build-fuzz/corpus-line
	build-fuzz/fuzz_config -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    -artifact_prefix=build-fuzz/artifacts/ build-fuzz/corpus-config

bench: $(B)/relayguard
	bench/parse.sh

# The units and the cron file name the installed binary ($(BINDIR)); the
# sample configuration is installed only where none is (an administrator's
# file is never overwritten), mode 640: it names the customers.
PATHS_SED := -e 's|/usr/local/bin/relayguard|$(BINDIR)/relayguard|g' \
             -e 's|/etc/relayguard/|$(SYSCONFDIR)/relayguard/|g'
CONFIG   := $(DESTDIR)$(SYSCONFDIR)/relayguard/relayguard.ini
install: $(B)/relayguard $(MAN_PAGES)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(CRONDIR) \
	    $(DESTDIR)$(COMPLETIONDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(LOGROTATEDIR)
	install -m 755 $(B)/relayguard $(DESTDIR)$(BINDIR)/relayguard
	install -m 644 $(B)/man/relayguard.8 $(DESTDIR)$(MANDIR)/man8/relayguard.8
	install -m 644 $(B)/man/relayguard.ini.5 $(DESTDIR)$(MANDIR)/man5/relayguard.ini.5
	for u in $(notdir $(UNITS)); do \
	    sed $(PATHS_SED) samples/systemd/$$u > $(DESTDIR)$(UNITDIR)/$$u.tmp && \
	    chmod 644 $(DESTDIR)$(UNITDIR)/$$u.tmp && \
	    mv $(DESTDIR)$(UNITDIR)/$$u.tmp $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	sed $(PATHS_SED) samples/relayguard.cron > $(DESTDIR)$(CRONDIR)/relayguard.tmp
	chmod 644 $(DESTDIR)$(CRONDIR)/relayguard.tmp
	mv $(DESTDIR)$(CRONDIR)/relayguard.tmp $(DESTDIR)$(CRONDIR)/relayguard
	install -m 644 samples/logrotate.d/relayguard $(DESTDIR)$(LOGROTATEDIR)/relayguard
	install -m 644 share/relayguard.bash-completion $(DESTDIR)$(COMPLETIONDIR)/relayguard
	install -m 644 samples/relayguard.ini $(DESTDIR)$(DOCDIR)/relayguard.ini.sample
	@if [ -e $(CONFIG) ]; then \
	    echo "install: keeping $(CONFIG) (the sample is $(DOCDIR)/relayguard.ini.sample)"; \
	else \
	    echo "install -D -m 640 samples/relayguard.ini $(CONFIG)"; \
	    install -D -m 640 samples/relayguard.ini $(CONFIG); \
	fi

# Removes what install wrote; the configuration only if it is still the
# unchanged sample.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/relayguard \
	    $(DESTDIR)$(MANDIR)/man8/relayguard.8 \
	    $(DESTDIR)$(MANDIR)/man5/relayguard.ini.5 \
	    $(addprefix $(DESTDIR)$(UNITDIR)/,$(notdir $(UNITS))) \
	    $(DESTDIR)$(CRONDIR)/relayguard \
	    $(DESTDIR)$(LOGROTATEDIR)/relayguard \
	    $(DESTDIR)$(COMPLETIONDIR)/relayguard \
	    $(DESTDIR)$(DOCDIR)/relayguard.ini.sample
	@if [ -e $(CONFIG) ] && ! cmp -s samples/relayguard.ini $(CONFIG); then \
	    echo "uninstall: keeping $(CONFIG) (changed from the sample)"; \
	else \
	    rm -f $(CONFIG); \
	fi
	-rmdir $(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/relayguard 2>/dev/null

clean:
	rm -rf build build-asan build-tsan build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
