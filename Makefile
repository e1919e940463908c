# libksched - plain GNU make.
#
#   make            library (static + shared), daemons, examples, tests
#   make check      every test, then the unit tests under ASan + UBSan
#   make demo       a small real run on this machine
#   make bench      benchmarks (figures for docs/benchmarks.md)
#   make install    PREFIX, LIBDIR, INCLUDEDIR, BINDIR, DESTDIR honoured
#   make deps       install missing Debian packages (apt-get)

PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR    ?=

CC      ?= cc
CFLAGS  ?= -O2 -g
LDFLAGS ?=
B       ?= build

VERSION   := 0.1.0
SOVERSION := 0

# Required flags, ahead of the user's CFLAGS.
KS_WARN   := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
             -Wmissing-prototypes -Wformat=2 -Wvla -Wpointer-arith
KS_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -pthread \
             -fvisibility=hidden $(KS_WARN) -Iinclude -Ilibksched -I$(B)/gen \
             -MMD -MP
KS_LIBS   := -llmdb -lxxhash -lprotobuf-c -lnng -ljansson -lz -levent_core \
             -levent_extra -levent_pthreads -lpthread -lm
TEST_LIBS := -lcmocka

SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=undefined

PROTO     := libksched/proto/ksched.proto
PROTO_C   := $(B)/gen/ksched.pb-c.c
PROTO_H   := $(B)/gen/ksched.pb-c.h

LIB_SRCS  := $(wildcard libksched/*.c)
LIB_OBJS  := $(LIB_SRCS:%.c=$(B)/%.o) $(B)/gen/ksched.pb-c.o \
             $(B)/gen/dashboard.o
PIC_OBJS  := $(LIB_OBJS:%.o=%.pic.o)

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)
INTEG_SRCS := $(wildcard tests/integration/test_*.c)
INTEG_BINS := $(INTEG_SRCS:tests/integration/%.c=$(B)/tests/%)
BENCH_SRCS := $(wildcard tests/bench/bench_*.c)
BENCH_BINS := $(BENCH_SRCS:tests/bench/%.c=$(B)/bench/%)
EX_SRCS   := $(wildcard examples/*.c)
EX_BINS   := $(EX_SRCS:examples/%.c=$(B)/examples/%)
DAEMON_SRCS := $(wildcard daemons/*.c)
DAEMON_BINS := $(DAEMON_SRCS:daemons/%.c=$(B)/bin/%)

include tests/plugins.mk

STATIC_LIB := $(B)/libksched.a
SHARED_LIB := $(B)/libksched.so.$(SOVERSION)

.PHONY: all lib check unit integration asan demo bench install uninstall \
        deps browser-deps format clean

all: lib $(DAEMON_BINS) $(EX_BINS) $(UNIT_BINS) $(INTEG_BINS) $(BENCH_BINS) \
     $(PLUGIN_SOS)

lib: $(STATIC_LIB) $(SHARED_LIB) $(B)/libksched.pc

# --- generated protobuf code ---------------------------------------------
$(PROTO_C) $(PROTO_H): $(PROTO)
	@mkdir -p $(B)/gen
	protoc-c --proto_path=libksched/proto --c_out=$(B)/gen $(PROTO)

# Every object may include the generated header.
$(LIB_OBJS) $(PIC_OBJS): $(PROTO_H)

$(B)/gen/ksched.pb-c.o: $(PROTO_C)
	$(CC) $(KS_CFLAGS) -Wno-missing-prototypes $(CFLAGS) -c $< -o $@
$(B)/gen/ksched.pb-c.pic.o: $(PROTO_C)
	$(CC) $(KS_CFLAGS) -Wno-missing-prototypes $(CFLAGS) -fPIC -c $< -o $@

# --- the dashboard page, compiled in as bytes (od is in every Debian) -----
DASH_HTML := libksched/dashboard/index.html

$(B)/gen/dashboard.c: $(DASH_HTML)
	@mkdir -p $(B)/gen
	{ echo '/* Generated from $(DASH_HTML) by the Makefile. */'; \
	  echo '#include "master_dash.h"'; \
	  echo 'const unsigned char ksched__dash_html[] = {'; \
	  od -An -v -tx1 $< | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '};'; \
	  echo 'const size_t ksched__dash_html_len = sizeof(ksched__dash_html);'; \
	} > $@.tmp && mv $@.tmp $@
$(B)/gen/dashboard.o: $(B)/gen/dashboard.c
	$(CC) $(KS_CFLAGS) $(CFLAGS) -c $< -o $@
$(B)/gen/dashboard.pic.o: $(B)/gen/dashboard.c
	$(CC) $(KS_CFLAGS) $(CFLAGS) -fPIC -c $< -o $@

# --- the library -----------------------------------------------------------
$(B)/libksched/%.o: libksched/%.c
	@mkdir -p $(dir $@)
	$(CC) $(KS_CFLAGS) $(CFLAGS) -c $< -o $@
$(B)/libksched/%.pic.o: libksched/%.c
	@mkdir -p $(dir $@)
	$(CC) $(KS_CFLAGS) $(CFLAGS) -fPIC -c $< -o $@

$(STATIC_LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(SHARED_LIB): $(PIC_OBJS)
	$(CC) -shared -Wl,-soname,libksched.so.$(SOVERSION) -Wl,--no-undefined \
	    $(LDFLAGS) -o $@ $^ $(KS_LIBS)
	ln -sf libksched.so.$(SOVERSION) $(B)/libksched.so

PC_SED := sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g'

$(B)/libksched.pc: pkg-config/libksched.pc.in Makefile
	$(PC_SED) $< > $@

# --- programs linked against the static library ---------------------------
$(B)/tests/%: tests/unit/%.c $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(KS_CFLAGS) $(CFLAGS) $< -o $@ $(STATIC_LIB) $(TEST_LIBS) $(KS_LIBS)
$(B)/tests/%: tests/integration/%.c $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(KS_CFLAGS) $(CFLAGS) $< -o $@ $(STATIC_LIB) $(TEST_LIBS) $(KS_LIBS)
$(B)/bench/%: tests/bench/%.c $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(KS_CFLAGS) $(CFLAGS) $< -o $@ $(STATIC_LIB) $(KS_LIBS)
$(B)/examples/%: examples/%.c $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(KS_CFLAGS) $(CFLAGS) $< -o $@ $(STATIC_LIB) $(KS_LIBS)
$(B)/bin/%: daemons/%.c $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(KS_CFLAGS) $(CFLAGS) $< -o $@ $(STATIC_LIB) $(KS_LIBS)

# kschedctl: daemons/kschedctl.c (main) plus the files of daemons/kschedctl/.
CTL_OBJS := $(patsubst %.c,$(B)/%.o,$(wildcard daemons/kschedctl/*.c))
$(B)/daemons/kschedctl/%.o: daemons/kschedctl/%.c $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(KS_CFLAGS) -Idaemons/kschedctl $(CFLAGS) -c $< -o $@
$(B)/bin/kschedctl: daemons/kschedctl.c $(CTL_OBJS) $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(KS_CFLAGS) -Idaemons/kschedctl $(CFLAGS) $< $(CTL_OBJS) -o $@ \
	    $(STATIC_LIB) $(KS_LIBS)

# --- dependencies ------------------------------------------------------------
DEB_PKGS := libevent-dev libnng-dev liblmdb-dev libxxhash-dev libcmocka-dev \
            libprotobuf-c-dev protobuf-c-compiler libjansson-dev zlib1g-dev \
            pkg-config gcc make groff-base prometheus
BENCH_PKGS := beanstalkd

deps:
	@sh tests/deps.sh $(DEB_PKGS)

# The dashboard's browser test: chromium, node, playwright-core (npm ci).
# Not fatal: where they cannot be had, test_dashboard skips and says why.
browser-deps: deps
	@sh tests/browser/setup.sh

# --- tests -------------------------------------------------------------------
# The unit tests again under ASan + UBSan, in $(B)/asan.
ASAN_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/asan/tests/%)
ASAN_BUILD = $(MAKE) --no-print-directory B=$(B)/asan \
	    CFLAGS="-O1 -g $(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)" \
	    $(B)/asan/libksched.a $(B)/asan/bin/kschedctl $(ASAN_BINS) \
	    $(PLUGIN_FILES:%=$(B)/asan/plugins/%)

check: deps browser-deps
	@$(MAKE) --no-print-directory all
	@$(ASAN_BUILD)
	@sh tests/run.sh $(B) $(UNIT_BINS) $(INTEG_BINS) -- $(ASAN_BINS)

unit: all
	@sh tests/run.sh $(B) $(UNIT_BINS)

asan: deps
	@$(ASAN_BUILD)
	@sh tests/run.sh $(B)/asan $(ASAN_BINS)

demo: deps
	@$(MAKE) --no-print-directory all
	@sh examples/demo.sh $(B)

bench: deps
	@sh tests/deps.sh $(BENCH_PKGS)
	@$(MAKE) --no-print-directory all
	@sh tests/bench/run.sh $(B)

# --- install -------------------------------------------------------------------
install: lib $(DAEMON_BINS)
	install -d $(DESTDIR)$(INCLUDEDIR)/ksched $(DESTDIR)$(LIBDIR) \
	    $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(BINDIR)
	install -m 644 include/ksched.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 include/ksched/*.h $(DESTDIR)$(INCLUDEDIR)/ksched/
	install -m 644 $(STATIC_LIB) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(SHARED_LIB) $(DESTDIR)$(LIBDIR)/
	ln -sf libksched.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libksched.so
	$(PC_SED) pkg-config/libksched.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/libksched.pc
	$(if $(DAEMON_BINS),install -m 755 $(DAEMON_BINS) $(DESTDIR)$(BINDIR)/)
	$(if $(wildcard docs/man/*.1),install -d $(DESTDIR)$(MANDIR)/man1 && \
	    install -m 644 $(wildcard docs/man/*.1) $(DESTDIR)$(MANDIR)/man1/)

format:
	clang-format -i include/*.h include/ksched/*.h libksched/*.[ch] \
	    daemons/*.c daemons/*/*.[ch] examples/*.c tests/*/*.c

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
