# redress -- build, run, test and install.
#
#   make            build build/redressd and build/plugins/*.so
#   make run        build, then run the daemon in the foreground with ./rules and ./data
#                   (PORT=N: on that port instead of 7878; ARGS="...": more flags)
#   make test       unit + functional tests, then all of them again under ASan/UBSan,
#                   and the real-client suite (tests/clients/) once
#   make quick      the same tests on the plain build only (the edit-test loop)
#   make test-pg    the functional tests on the PostgreSQL store alone, plain build (make test runs them too)
#                   (both: TEST_JOBS=N tests at a time, default the CPU count; TEST_ARGS=filter)
#   make bench      the benchmarks of tests/bench (not part of make test)
#   make bench-pg   durable CASE.OPEN (shipped rules) on SQLite, PostgreSQL one node and two nodes,
#                   beside redis-server, in one run (tests/bench/pg.sh; not part of make bench)
#   make install    PREFIX=/usr/local DESTDIR= (an operator's edits to the installed rule set are kept)
#   make clean
#
# Missing Debian packages are installed first (apt-get when root; otherwise
# the exact command is printed and make stops).

PREFIX  ?= /usr/local
DESTDIR ?=
# The config's folder (GNU sysconfdir): PREFIX/etc, but /etc for PREFIX=/usr,
# as Debian and the GNU standards have it (the binary looks there the same way).
SYSCONFDIR := $(if $(filter /usr /usr/,$(PREFIX)),/etc,$(PREFIX)/etc)
BUILD   ?= build
CC      ?= cc

VERSION := 0.1.0
PKGS    := lua5.4 sqlite3 libevent libevent_openssl openssl jansson libsystemd libpq

BUILD_PACKAGES := build-essential pkg-config liblua5.4-dev libsqlite3-dev libevent-dev libssl-dev libjansson-dev libsystemd-dev libgmime-3.0-dev libpq-dev tzdata
TEST_PACKAGES  := python3 redis-tools redis-server openssl python3-redis libhiredis-dev clang lua-check \
                  prometheus chromium chromium-driver python3-selenium fonts-wqy-zenhei \
                  python3-aiosmtpd postgresql libpq-dev systemd libseccomp2
# systemd (systemd-analyze) and libseccomp2: test_daemon.py runs the daemon
# under examples/systemd/redressd.service's system-call filter.
# libpq: the PostgreSQL store (store = postgresql) speaks through it -- the
# wire protocol, auth, TLS and multi-host failover URLs are not ours to write.
PG_PKGS := libpq

# Warnings are errors for development and CI; a packager whose compiler
# warns about more may build with WERROR=0.
WERROR  ?= 1
WARNINGS := -Wall -Wextra $(if $(filter 0,$(WERROR)),,-Werror) -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wpointer-arith -Wformat=2 -Wno-format-nonliteral
CFLAGS  ?= -O2 -g
# Hardening: stack protector, fortified libc calls (not under the
# sanitizers, whose interceptors they bypass), a position-independent
# daemon, read-only relocations bound at start.  Plugins are PIC already.
HARDEN_CFLAGS := -fstack-protector-strong -fstack-clash-protection $(if $(filter 1,$(SANITIZE)),,-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3)
HARDEN_LDFLAGS := -Wl,-z,relro,-z,now
# pkg-config, run when a recipe needs it (after the packages are in): when
# it fails, the build stops with its message instead of going on without.
pkg_config = $(eval pkg_out := $(shell pkg-config $(1) $(2) 2>&1 && echo PKG_CONFIG_OK))$(if \
             $(filter PKG_CONFIG_OK,$(pkg_out)),$(filter-out PKG_CONFIG_OK,$(pkg_out)),$(error \
             pkg-config $(1) $(2) failed: $(pkg_out)))
ALL_CFLAGS = -std=c11 $(WARNINGS) $(CFLAGS) $(HARDEN_CFLAGS) -fPIE -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
             -DREDRESS_VERSION='"$(VERSION)"' -Iinclude -Icore $(SANITIZE_FLAGS) \
             $(call pkg_config,--cflags,$(PKGS))
LDLIBS  = $(call pkg_config,--libs,$(PKGS)) -lm -pthread
LDFLAGS ?=
# The daemon and the unit tests link as position-independent executables.
EXE_LDFLAGS = -pie $(HARDEN_LDFLAGS)

ifeq ($(SANITIZE),1)
SANITIZE_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
LDFLAGS += $(SANITIZE_FLAGS)
endif

# Pure modules (no I/O): unit-tested directly.
# core/<layer>/*.c (core/README.md: lib store rules domain cmd plugin net), core/main.c on top.
# Pure modules (no I/O): core/lib/ and the request parser, unit-tested directly.
PURE_SRC   := $(wildcard core/lib/*.c) core/net/proto.c
# Domain modules the unit tests drive against a store in a temporary directory
# (each package adds its module here once it links without net/ and cmd/).
UNIT_STORE_SRC := $(wildcard core/store/*.c) core/domain/call.c core/domain/events.c \
                  $(wildcard core/domain/case.c core/domain/case_events_held.c core/domain/case_links.c \
                             core/domain/case_messages.c core/domain/case_survey.c) core/domain/clocks.c \
                  core/domain/figures.c
CORE_SRC   := $(filter-out $(PURE_SRC),$(wildcard core/*/*.c))
PURE_OBJ   := $(PURE_SRC:%.c=$(BUILD)/%.o)
CORE_OBJ   := $(CORE_SRC:%.c=$(BUILD)/%.o)
MAIN_OBJ   := $(BUILD)/core/main.o
UNIT_SRC   := $(wildcard tests/unit/*.c)
UNIT_OBJ   := $(UNIT_SRC:%.c=$(BUILD)/%.o)
UNIT_STORE_OBJ := $(UNIT_STORE_SRC:%.c=$(BUILD)/%.o)

# Plugins: plugins/NAME.c -> BUILD/plugins/NAME.so; the HTTP ones (webhook,
# http_refund) also hold the HTTP client they share and link OpenSSL.
# Test plugins (tests/plugins/*.c) and the skeleton of examples/ go to BUILD/test-plugins.
PLUGIN_NAMES  := webhook orders http_refund mail
PLUGINS       := $(PLUGIN_NAMES:%=$(BUILD)/plugins/%.so)
TEST_PLUGINS  := $(patsubst tests/plugins/%.c,$(BUILD)/test-plugins/%.so,$(wildcard tests/plugins/*.c)) \
                 $(BUILD)/test-plugins/skeleton.so
PLUGIN_CFLAGS  = -std=c11 $(WARNINGS) $(CFLAGS) $(HARDEN_CFLAGS) -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -fPIC \
                 -fvisibility=hidden -Iinclude $(SANITIZE_FLAGS) \
                 $(call pkg_config,--cflags,libevent libevent_openssl openssl sqlite3 jansson)
PLUGIN_LIBS    = $(call pkg_config,--libs,libevent sqlite3)
HTTP_PLUGINS  := $(BUILD)/plugins/webhook.so $(BUILD)/plugins/http_refund.so

DEPS_STAMP := build/.packages-ok

# tests/run.py: how many tests run at once (default: the CPU count).
TEST_JOBS ?=
# make test runs each fuzz target this long.
TEST_FUZZ_SECONDS ?= 6
TEST_RUN_FLAGS = $(if $(TEST_JOBS),--jobs $(TEST_JOBS))

.PHONY: all run test test-pg quick unit check-packages test-packages bench bench-pg fuzz fuzz-build install clean

all: $(BUILD)/redressd $(PLUGINS)


# The dashboard's files are embedded in http/assets.o (.incbin): it is
# rebuilt when they change.
$(BUILD)/core/http/assets.o: $(wildcard core/http/assets/*)

$(DEPS_STAMP):
	@$(MAKE) --no-print-directory check-packages PACKAGES="$(BUILD_PACKAGES)"
	@mkdir -p build && touch $@

check-packages:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "missing Debian packages:$$missing"; \
	    echo "run:  sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

test-packages:
	@$(MAKE) --no-print-directory check-packages PACKAGES="$(TEST_PACKAGES)"

$(BUILD)/%.o: %.c $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/redressd: $(MAIN_OBJ) $(CORE_OBJ) $(PURE_OBJ)
	$(CC) $(EXE_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/plugins/%.so: plugins/%.c include/redress/plugin.h $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) -shared -o $@ $(filter %.c,$^) $(HARDEN_LDFLAGS) $(LDFLAGS) $(PLUGIN_LIBS)

$(HTTP_PLUGINS): plugins/http_client.c plugins/http_client.h
$(HTTP_PLUGINS): PLUGIN_LIBS = $(call pkg_config,--libs,libevent libevent_openssl openssl)
# The webhook builds its JSON with libjansson.
$(BUILD)/plugins/webhook.so: PLUGIN_LIBS = $(call pkg_config,--libs,libevent libevent_openssl openssl jansson)
# http_refund reads the provider's answer with libjansson.
$(BUILD)/plugins/http_refund.so: PLUGIN_LIBS = $(call pkg_config,--libs,libevent libevent_openssl openssl jansson)
# The mail channel reads MIME with GMime 3 (GLib's headers as system headers: our warnings are not theirs).
$(BUILD)/plugins/mail.so: PLUGIN_CFLAGS += $(patsubst -I%,-isystem %,$(call pkg_config,--cflags,gmime-3.0))
$(BUILD)/plugins/mail.so: plugins/mail_out.c plugins/mail_smtp.c plugins/mail_out.h plugins/mail_out_internal.h
$(BUILD)/plugins/mail.so: PLUGIN_LIBS = $(call pkg_config,--libs,libevent libevent_openssl openssl sqlite3 gmime-3.0)

$(BUILD)/test-plugins/%.so: tests/plugins/%.c include/redress/plugin.h $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) -shared -o $@ $< $(HARDEN_LDFLAGS) $(LDFLAGS)

# The skeleton builds with its own Makefile, as a plugin author's would,
# against this tree's header instead of the installed one.
$(BUILD)/test-plugins/skeleton.so: examples/plugin-skeleton/skeleton.c examples/plugin-skeleton/Makefile \
                                   include/redress/plugin.h $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(MAKE) --no-print-directory -C examples/plugin-skeleton REDRESS_INCLUDE=$(CURDIR)/include \
	    OUT=$(CURDIR)/$@ EXTRA_CFLAGS="$(SANITIZE_FLAGS)"

# A broken variant on purpose, for the power-loss test to catch: the store
# without its syncs (open.c, REDRESS_TEST_OMIT_WAL_SYNC).  Never installed.
$(BUILD)/core/store/open-nosync.o: core/store/open.c $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DREDRESS_TEST_OMIT_WAL_SYNC -c $< -o $@

$(BUILD)/redressd-nosync: $(MAIN_OBJ) $(filter-out $(BUILD)/core/store/open.o,$(CORE_OBJ)) $(PURE_OBJ) \
                          $(BUILD)/core/store/open-nosync.o
	$(CC) $(EXE_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The daemon with the allocation shim (tests/oom/alloc_shim.c): its own
# malloc, calloc, realloc, strdup and strndup fail on DEBUG.OOM's count.
OOM_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup
$(BUILD)/redressd-oom: $(MAIN_OBJ) $(CORE_OBJ) $(PURE_OBJ) $(BUILD)/tests/oom/alloc_shim.o
	$(CC) $(EXE_LDFLAGS) $(LDFLAGS) $(OOM_WRAP) -o $@ $^ $(LDLIBS)

# The daemon linked with the static liblua, for profiles: the shared
# library has no symbols for Lua's own functions (luaV_execute, luaC_step,
# luaH_newkey), so callgrind and perf cannot name them.  Never installed;
# tests/bench/hook_cost.py profiles it.
LUA_STATIC = $(call pkg_config,--variable=libdir,lua5.4)/liblua5.4.a
$(BUILD)/redressd-prof: $(MAIN_OBJ) $(CORE_OBJ) $(PURE_OBJ)
	$(CC) $(EXE_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LUA_STATIC) $(filter-out -llua5.4,$(LDLIBS)) -ldl

# The PostgreSQL client and the program that drives it against a real server
# (tests/functional/test_postgres_client.py; the plain build only).
$(BUILD)/pg_check: tests/pg/pg_check.c $(BUILD)/core/store/pg.o $(BUILD)/core/store/pg_answers.o \
                  $(BUILD)/core/store/pg_prepared.o $(BUILD)/core/store/pg_hosts.o $(BUILD)/core/store/pg_conn.o
	$(CC) $(ALL_CFLAGS) $(call pkg_config,--cflags,$(PG_PKGS)) $(EXE_LDFLAGS) $(LDFLAGS) -o $@ $^ \
	    $(call pkg_config,--libs,libevent jansson $(PG_PKGS))

# The schema on PostgreSQL (tests/functional/test_postgres_schema.py): pg_schema.o
# embeds store/schema_postgresql.sql (.incbin) and is rebuilt when it changes.
# BUILD/pg_schema_check-next is the same with one test migration more in
# both stores' lists (REDRESS_TEST_MIGRATION, store/schema.h).  The store's
# objects and the pure ones link as in the unit tests.
$(BUILD)/core/store/pg_schema.o: core/store/schema_postgresql.sql
PG_SCHEMA_LINK = $(CC) $(EXE_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(call pkg_config,--libs,$(PG_PKGS))
$(BUILD)/tests/pg/pg_schema_check.o: ALL_CFLAGS += $(call pkg_config,--cflags,$(PG_PKGS))
$(BUILD)/pg_schema_check: $(BUILD)/tests/pg/pg_schema_check.o $(BUILD)/core/store/pg_schema.o $(PURE_OBJ) \
                          $(UNIT_STORE_OBJ)
	$(PG_SCHEMA_LINK)
$(BUILD)/core/store/%-next.o: core/store/%.c core/store/schema_postgresql.sql $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(call pkg_config,--cflags,$(PG_PKGS)) -DREDRESS_TEST_MIGRATION -MMD -MP -c $< -o $@
$(BUILD)/tests/pg/pg_schema_check-next.o: tests/pg/pg_schema_check.c $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(call pkg_config,--cflags,$(PG_PKGS)) -DREDRESS_TEST_MIGRATION -MMD -MP -c $< -o $@
$(BUILD)/pg_schema_check-next: $(BUILD)/tests/pg/pg_schema_check-next.o $(BUILD)/core/store/pg_schema-next.o \
                               $(BUILD)/core/store/schema-next.o $(BUILD)/core/store/migrate-next.o $(PURE_OBJ) \
                               $(filter-out $(BUILD)/core/store/schema.o $(BUILD)/core/store/migrate.o \
                                            $(BUILD)/core/store/pg_schema.o,$(UNIT_STORE_OBJ))
	$(PG_SCHEMA_LINK)
PG_CHECKS := $(BUILD)/pg_check $(BUILD)/pg_schema_check $(BUILD)/pg_schema_check-next

$(BUILD)/unit_tests: $(UNIT_OBJ) $(PURE_OBJ) $(UNIT_STORE_OBJ)
	$(CC) $(EXE_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

unit: $(BUILD)/unit_tests
	$(BUILD)/unit_tests

# The daemon creates data/ itself, mode 0700 (its files are 0600).
# `make run PORT=6390` listens there instead of 7878; ARGS="..." adds any other
# flags, after these (a later --data or --rules wins).
run: all
	./$(BUILD)/redressd --rules rules --data $(or $(DATA),data) $(if $(PORT),--port $(PORT)) $(ARGS)

# The real-client suite (tests/clients/): a hiredis program, and the Node.js clients installed
# from the lockfile with the machine's Node.js and npm (Debian's npm is not used: it conflicts
# with the installed Node.js, whose version the clients need).
CLIENT_TESTS := $(BUILD)/clients/hiredis_client tests/clients/node_modules/.package-lock.json

$(BUILD)/clients/hiredis_client: tests/clients/hiredis_client.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(WARNINGS) $(CFLAGS) -D_POSIX_C_SOURCE=200809L $$(pkg-config --cflags hiredis) $< -o $@ \
	    $$(pkg-config --libs hiredis)

tests/clients/node_modules/.package-lock.json: tests/clients/package.json tests/clients/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm (with Node.js 20 or later) is needed for tests/clients"; exit 1; }
	cd tests/clients && npm ci --no-audit --no-fund

# The whole suite, plain and then under AddressSanitizer + UBSan; the client suite once, plain.
# Its builds run BUILD_JOBS at a time (the CPU count) even under a plain `make test`,
# as CI runs it: the three builds are a few minutes of one core otherwise.  A `make -jN
# test` keeps its own jobserver.  The packages go in first: the compiles read pkg-config.
BUILD_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PARALLEL = $(if $(filter -j% --jobserver%,$(MAKEFLAGS)),,-j$(BUILD_JOBS))
TEST_BUILDS = all $(BUILD)/unit_tests $(BUILD)/redressd-nosync $(BUILD)/redressd-oom $(TEST_PLUGINS) $(PG_CHECKS)

test: test-packages
	@$(MAKE) --no-print-directory $(DEPS_STAMP)
	@$(MAKE) --no-print-directory $(PARALLEL) test-builds
	python3 tests/check_layers.py --objects build
	luacheck --quiet --config .luacheckrc rules examples
	python3 tests/run.py $(TEST_RUN_FLAGS) --fuzz $(TEST_FUZZ_SECONDS) --build build --build build/sanitize \
	    --clients build --also-postgresql $(TEST_ARGS)

# make test's three builds (plain, sanitizers, fuzz targets) at once, under one jobserver: one
# build's serial end (its links, npm ci) runs beside another's compiles.
test-builds: test-build-plain test-build-sanitize fuzz-build

test-build-plain:
	@$(MAKE) --no-print-directory $(TEST_BUILDS) $(CLIENT_TESTS)

test-build-sanitize:
	@$(MAKE) --no-print-directory BUILD=build/sanitize SANITIZE=1 build/sanitize/redressd \
	    build/sanitize/unit_tests build/sanitize/redressd-nosync build/sanitize/redressd-oom \
	    $(PLUGIN_NAMES:%=build/sanitize/plugins/%.so) \
	    $(patsubst $(BUILD)/%,build/sanitize/%,$(TEST_PLUGINS))

.PHONY: test-builds test-build-plain test-build-sanitize

# The plain build's tests only: no sanitizer build, no layer check.
quick: test-packages
	@$(MAKE) --no-print-directory $(PARALLEL) $(TEST_BUILDS)
	python3 tests/run.py $(TEST_RUN_FLAGS) --build $(BUILD) $(TEST_ARGS)

# The functional suite on the PostgreSQL store alone (plain build, no sanitizers: issue 19):
# one throwaway server for the run, a fresh database per daemon; tests about SQLite itself are
# skipped with their reason, and the multi-node and failover tests run on this store only.
# `make test` runs the same pass after its SQLite ones (tests/run.py --also-postgresql).
test-pg: test-packages
	@$(MAKE) --no-print-directory $(PARALLEL) $(TEST_BUILDS)
	python3 tests/run.py $(TEST_RUN_FLAGS) --build $(BUILD) --store postgresql $(TEST_ARGS)

bench: test-packages all $(TEST_PLUGINS)
	bash tests/bench/run.sh
	bash tests/bench/assignment.sh
	bash tests/bench/plugins.sh
	python3 tests/bench/webhook.py
	python3 tests/bench/mail.py
	bash tests/bench/deadlines.sh
	python3 tests/bench/agents.py
	python3 tests/bench/crashloop.py --rounds 100
	python3 tests/bench/replay.py
	bash tests/bench/http.sh
	python3 tests/bench/stats.py
	python3 tests/bench/search.py

# A throwaway PostgreSQL server (fsync and synchronous_commit on) for the run; see tests/bench/README.md.
bench-pg: test-packages all
	bash tests/bench/pg.sh

# The shipped rule files as their installed names, for the checksums.
RULES_SHIPPED = $(notdir $(wildcard rules/*.lua)) README.md $(addprefix tests/,$(notdir $(wildcard rules/tests/*)))

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include/redress
	install -m 755 $(BUILD)/redressd $(DESTDIR)$(PREFIX)/bin/redressd
	install -m 644 include/redress/plugin.h $(DESTDIR)$(PREFIX)/include/redress/plugin.h
	install -d $(DESTDIR)$(PREFIX)/lib/redress/plugins
	install -m 755 $(PLUGINS) $(DESTDIR)$(PREFIX)/lib/redress/plugins/
	# The shipped rule set and its tests, found by the installed binary: the
	# installed config's live rule set.  Like a Debian conffile, an operator's
	# edits survive an upgrade: rules.sha256 holds the checksums of the set
	# installed last; a folder that no longer matches them (a file edited or
	# removed, or installed before the checksums were kept) is left alone, and
	# the shipped set goes to rules.dist beside it, to compare and merge.  An
	# untouched set is replaced whole (a file the new release no longer ships
	# goes: the loader reads every *.lua), and rules.dist from an earlier
	# upgrade goes.  A file added to the folder is a local change too.
	@set -e; share=$(DESTDIR)$(PREFIX)/share/redress; target=$$share/rules; \
	if [ -d $$share/rules ] && { ! (cd $$share/rules && sha256sum --quiet --strict -c ../rules.sha256) >/dev/null 2>&1 || \
	    [ "$$(cd $$share/rules && find . -type f | sed 's|^\./||' | LC_ALL=C sort)" != \
	      "$$(sed 's/^[0-9a-f]*  //' $$share/rules.sha256 | LC_ALL=C sort)" ]; }; then \
	    target=$$share/rules.dist; \
	fi; \
	rm -rf $$share/rules.dist; \
	if [ $$target = $$share/rules ]; then rm -rf $$target; fi; \
	install -d $$target/tests; \
	install -m 644 rules/*.lua rules/README.md $$target/; \
	install -m 644 rules/tests/* $$target/tests/; \
	if [ $$target = $$share/rules ]; then \
	    (cd $$target && sha256sum $(RULES_SHIPPED)) > $$share/rules.sha256; \
	else \
	    echo "make install: $(PREFIX)/share/redress/rules has local changes: kept; the shipped rule set is in" \
	         "$(PREFIX)/share/redress/rules.dist (compare, merge, then check with redressd --test-rules DIR)"; \
	fi
	# The man page, and the systemd unit as an example to copy.
	install -d $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/redress/examples
	install -m 644 examples/man/redressd.8 $(DESTDIR)$(PREFIX)/share/man/man8/redressd.8
	install -m 644 examples/systemd/redressd.service $(DESTDIR)$(PREFIX)/share/redress/examples/redressd.service
	# A config for the installed layout, read by default; an operator's
	# edited one is never overwritten.
	install -d $(DESTDIR)$(SYSCONFDIR)/redress
	# (Written beside its place, not in $(BUILD): two installs at once into
	# different DESTDIRs must not share a file.)
	@set -e; conf=$(DESTDIR)$(SYSCONFDIR)/redress/redress.conf; \
	if [ ! -e $$conf ]; then \
	    sed -e 's|^rules = .*|rules = $(PREFIX)/share/redress/rules|' -e 's|^data = .*|data = /var/lib/redress|' \
	        examples/config/redress.conf > $$conf.new; \
	    chmod 644 $$conf.new; mv $$conf.new $$conf; \
	fi

clean:
	rm -rf build tests/clients/node_modules

-include $(UNIT_OBJ:.o=.d) $(PURE_OBJ:.o=.d) $(CORE_OBJ:.o=.d) $(MAIN_OBJ:.o=.d) $(BUILD)/tests/oom/alloc_shim.d \
         $(BUILD)/core/store/pg.d $(BUILD)/core/store/pg_answers.d $(BUILD)/core/store/pg_conn.d $(BUILD)/core/store/pg_schema.d \
         $(BUILD)/tests/pg/pg_schema_check.d $(BUILD)/tests/pg/pg_schema_check-next.d \
         $(BUILD)/core/store/pg_schema-next.d $(BUILD)/core/store/schema-next.d $(BUILD)/core/store/migrate-next.d

.PHONY: check-layers
check-layers: all
	python3 tests/check_layers.py --objects $(BUILD)

# libFuzzer targets (tests/fuzz/fuzz_NAME.c; clang, installed with the test
# packages), each linked with the sources it exercises.  `make fuzz` runs
# each for FUZZ_SECONDS from its seeds (tests/fuzz/seeds/NAME) and what it
# found before (build/fuzz/corpus/NAME); `make test` runs each for 10 s.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_NAMES   := proto config timeparse money tzif orders rules_check
FUZZ_BINS    := $(FUZZ_NAMES:%=build/fuzz/fuzz_%)
FUZZ_CFLAGS   = -std=c11 -Wall -Wextra -Werror -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Itests/fuzz -Icore -Iinclude
fuzz_sources_proto       := core/net/proto.c
fuzz_sources_config      := core/lib/config.c core/lib/money.c core/lib/proxies.c
fuzz_sources_timeparse   := core/lib/timeparse.c
fuzz_sources_money       := core/lib/money.c
fuzz_sources_tzif        := core/lib/calendar.c core/lib/timeparse.c
fuzz_sources_orders      := core/lib/money.c core/lib/timeparse.c
fuzz_sources_rules_check := core/rules/check.c core/lib/names.c core/lib/quote.c core/lib/utf8.c
fuzz_libs_orders         = $(call pkg_config,--libs,sqlite3)
fuzz_libs_rules_check    = $(call pkg_config,--libs,lua5.4)
fuzz_cflags_rules_check  = $(call pkg_config,--cflags,lua5.4)

.SECONDEXPANSION:
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h $(DEPS_STAMP) $$(fuzz_sources_$$*)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(fuzz_cflags_$*) $< $(fuzz_sources_$*) -o $@ $(fuzz_libs_$*) -lm

build/fuzz/fuzz_orders: plugins/orders.c include/redress/plugin.h

fuzz-build: test-packages $(FUZZ_BINS)

fuzz: fuzz-build
	@for name in $(FUZZ_NAMES); do \
	  mkdir -p build/fuzz/corpus/$$name; \
	  echo "fuzz_$$name: $(FUZZ_SECONDS) s"; \
	  build/fuzz/fuzz_$$name -max_total_time=$(FUZZ_SECONDS) build/fuzz/corpus/$$name \
	      tests/fuzz/seeds/$$name > build/fuzz/fuzz_$$name.log 2>&1 \
	    || { tail -n 40 build/fuzz/fuzz_$$name.log; exit 1; }; \
	  tail -n 1 build/fuzz/fuzz_$$name.log; \
	done
