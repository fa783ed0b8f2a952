# outbox_pg: PGXS build of the output plugin and extension, plus the shipper.
#
#   make                 build the plugin and the shipper
#   make install         install both (plugin into PostgreSQL, shipper into $(bindir))
#   make installcheck    pg_regress suite against the server in PGHOST/PGPORT
#   make test            everything, on throwaway servers (what CI runs)
#   make test-major PG_MAJOR=17   the per-major suites, on another major
#   make valgrind-check  the regression suite with the server under valgrind
#   make fuzz            fuzz the shipper's parsers, FUZZ_SECONDS (60) each
#   make fuzz-check      the same for FUZZ_CHECK_SECONDS (10) each, as tests/run.sh does

MODULE_big = outbox_pg
OBJS = \
	plugin/decode.o \
	plugin/format.o \
	plugin/options.o \
	plugin/relation.o \
	plugin/sign.o \
	plugin/sqlfuncs.o
PGFILEDESC = "outbox_pg - transactional outbox output plugin"

EXTENSION = outbox_pg
DATA = sql/outbox_pg--0.1.sql

REGRESS = setup events filter emit values toast bigtxn declare alter replay options hostile lifetime drop
REGRESS_OPTS = --inputdir=tests/regress --outputdir=tests/regress

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

override CPPFLAGS := -I$(srcdir)/plugin $(CPPFLAGS)
# A VPATH build (pg_buildext builds one directory per major for the Debian
# packages) writes the objects under plugin/ there, which nothing creates.
ifdef VPATH
$(shell mkdir -p plugin)
endif
# A callback whose signature drifted between majors compiles with a warning
# and misbehaves silently: warnings are errors, on every major.
PG_CFLAGS += -Werror

# The shipper is an ordinary program with its own Makefile.
SHIPPER_BINDIR ?= /usr/local/bin
ifneq ($(wildcard shipper/Makefile),)
all: shipper-all
install: shipper-install
clean: shipper-clean
endif

shipper-all:
	$(MAKE) -C shipper

shipper-install:
	$(MAKE) -C shipper install DESTDIR=$(DESTDIR) bindir=$(SHIPPER_BINDIR)

shipper-clean:
	$(MAKE) -C shipper clean

test:
	tests/run.sh

# The suites every supported major must pass, for one major: make test-major PG_MAJOR=17
test-major:
	tests/major.sh $(PG_MAJOR)

demo:
	scripts/demo.sh

valgrind-check:
	tests/valgrind.sh

deps:
	scripts/install-deps.sh

# libFuzzer targets for the shipper's parsers (tests/fuzz/Makefile).
fuzz:
	$(MAKE) -C tests/fuzz fuzz

fuzz-check:
	$(MAKE) -C tests/fuzz check

FORMAT_SOURCES = $(wildcard plugin/*.[ch] shipper/*.[ch] tests/unit/*.[ch] tests/mock/*.[ch] tests/fuzz/*.[ch] tests/helpers/*.[ch] bench/*.[ch])

format-check:
	clang-format --dry-run --Werror $(FORMAT_SOURCES)

format:
	clang-format -i $(FORMAT_SOURCES)

.PHONY: shipper-all shipper-install shipper-clean test test-major demo valgrind-check deps \
	fuzz fuzz-check format-check format
