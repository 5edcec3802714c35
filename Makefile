# redress -- build, run, test and install.
#
#   make            build build/redressd and build/plugins/*.so
#   make run        build, then run the daemon in the foreground with ./rules and ./data
#   make test       unit + functional tests, then all of them again under ASan/UBSan
#   make bench      the benchmarks of tests/bench (not part of make test)
#   make install    PREFIX=/usr/local DESTDIR=
#   make clean
#
# Missing Debian packages are installed first (apt-get when root; otherwise
# the exact command is printed and make stops).

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
CC      ?= cc

VERSION := 0.1.0
PKGS    := lua5.4 sqlite3 libevent libcrypto

BUILD_PACKAGES := build-essential pkg-config liblua5.4-dev libsqlite3-dev libevent-dev libssl-dev tzdata
TEST_PACKAGES  := python3 redis-tools redis-server openssl

WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wformat=2 -Wno-format-nonliteral
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=c11 $(WARNINGS) $(CFLAGS) -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
             -DREDRESS_VERSION='"$(VERSION)"' -Iinclude -Icore $(SANITIZE_FLAGS) \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -pthread
LDFLAGS ?=

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
UNIT_STORE_SRC := $(wildcard core/store/*.c) core/domain/call.c core/domain/events.c $(wildcard core/domain/case.c) core/domain/clocks.c
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
PLUGIN_NAMES  := webhook orders http_refund
PLUGINS       := $(PLUGIN_NAMES:%=$(BUILD)/plugins/%.so)
TEST_PLUGINS  := $(patsubst tests/plugins/%.c,$(BUILD)/test-plugins/%.so,$(wildcard tests/plugins/*.c)) \
                 $(BUILD)/test-plugins/skeleton.so
PLUGIN_CFLAGS  = -std=c11 $(WARNINGS) $(CFLAGS) -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -fPIC \
                 -fvisibility=hidden -Iinclude $(SANITIZE_FLAGS) \
                 $(shell pkg-config --cflags libevent libevent_openssl openssl sqlite3 2>/dev/null)
PLUGIN_LIBS    = $(shell pkg-config --libs libevent sqlite3 2>/dev/null)
HTTP_PLUGINS  := $(BUILD)/plugins/webhook.so $(BUILD)/plugins/http_refund.so

DEPS_STAMP := build/.packages-ok

.PHONY: all run test unit check-packages test-packages bench fuzz install clean

all: $(BUILD)/redressd $(PLUGINS)

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
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/plugins/%.so: plugins/%.c include/redress/plugin.h $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) -shared -o $@ $(filter %.c,$^) $(LDFLAGS) $(PLUGIN_LIBS)

$(HTTP_PLUGINS): plugins/http_client.c plugins/http_client.h
$(HTTP_PLUGINS): PLUGIN_LIBS = $(shell pkg-config --libs libevent libevent_openssl openssl 2>/dev/null)

$(BUILD)/test-plugins/%.so: tests/plugins/%.c include/redress/plugin.h $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) -shared -o $@ $< $(LDFLAGS)

# The skeleton builds with its own Makefile, as a plugin author's would,
# against this tree's header instead of the installed one.
$(BUILD)/test-plugins/skeleton.so: examples/plugin-skeleton/skeleton.c examples/plugin-skeleton/Makefile \
                                   include/redress/plugin.h $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(MAKE) --no-print-directory -C examples/plugin-skeleton REDRESS_INCLUDE=$(CURDIR)/include \
	    OUT=$(CURDIR)/$@ EXTRA_CFLAGS="$(SANITIZE_FLAGS)"

$(BUILD)/unit_tests: $(UNIT_OBJ) $(PURE_OBJ) $(UNIT_STORE_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

unit: $(BUILD)/unit_tests
	$(BUILD)/unit_tests

# The daemon creates data/ itself, mode 0700 (its files are 0600).
run: all
	./$(BUILD)/redressd --rules rules --data data

# The whole suite, plain and then under AddressSanitizer + UBSan.
test: test-packages all $(BUILD)/unit_tests $(TEST_PLUGINS)
	@$(MAKE) --no-print-directory BUILD=build/sanitize SANITIZE=1 build/sanitize/redressd build/sanitize/unit_tests \
	    $(PLUGIN_NAMES:%=build/sanitize/plugins/%.so) \
	    $(patsubst $(BUILD)/%,build/sanitize/%,$(TEST_PLUGINS))
	python3 tests/check_layers.py --objects build
	python3 tests/run.py --build build --build build/sanitize

bench: test-packages all $(TEST_PLUGINS)
	bash tests/bench/run.sh
	bash tests/bench/assignment.sh
	bash tests/bench/plugins.sh
	python3 tests/bench/webhook.py
	bash tests/bench/deadlines.sh
	python3 tests/bench/agents.py

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include/redress
	install -m 755 $(BUILD)/redressd $(DESTDIR)$(PREFIX)/bin/redressd
	install -m 644 include/redress/plugin.h $(DESTDIR)$(PREFIX)/include/redress/plugin.h
	install -d $(DESTDIR)$(PREFIX)/lib/redress/plugins
	install -m 755 $(PLUGINS) $(DESTDIR)$(PREFIX)/lib/redress/plugins/

clean:
	rm -rf build

-include $(UNIT_OBJ:.o=.d) $(PURE_OBJ:.o=.d) $(CORE_OBJ:.o=.d) $(MAIN_OBJ:.o=.d)

.PHONY: check-layers
check-layers: all
	python3 tests/check_layers.py --objects $(BUILD)

# libFuzzer on the request parser (needs clang): 60 s from the seeds.
fuzz:
	@mkdir -p build/fuzz/corpus
	clang -g -O1 -fsanitize=fuzzer,address,undefined -Icore -D_POSIX_C_SOURCE=200809L \
	    tests/fuzz/fuzz_proto.c core/net/proto.c -o build/fuzz/fuzz_proto
	build/fuzz/fuzz_proto -max_total_time=60 build/fuzz/corpus tests/fuzz/seeds
