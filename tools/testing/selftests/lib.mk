# SPDX-License-Identifier: GPL-2.0-only
#
# NOT the kernel's lib.mk: a stand-in for the dm-backup repository only,
# which holds tools/testing/selftests/dm-backup/ without the rest of a
# kernel tree.  It gives dm-backup/Makefile the part of the kernel's
# tools/testing/selftests/lib.mk that builds the helpers, so that
# tests/mkinitramfs.sh can run
#     make -C tools/testing/selftests/dm-backup OUTPUT=<dir>
# `make patch` (tests/mkpatch.sh) does not ship this file: in a kernel
# tree, dm-backup/Makefile includes the real lib.mk.

ifeq ($(OUTPUT),)
OUTPUT := $(shell pwd)
endif

CC ?= gcc
TEST_GEN_PROGS := $(patsubst %,$(OUTPUT)/%,$(TEST_GEN_PROGS))
TEST_GEN_PROGS_EXTENDED := $(patsubst %,$(OUTPUT)/%,$(TEST_GEN_PROGS_EXTENDED))
TEST_GEN_FILES := $(patsubst %,$(OUTPUT)/%,$(TEST_GEN_FILES))

all: $(TEST_GEN_PROGS) $(TEST_GEN_PROGS_EXTENDED) $(TEST_GEN_FILES)

run_tests install emit_tests:
	@echo "$@: needs a kernel tree (make -C tools/testing/selftests" \
	      "TARGETS=dm-backup $@); here, use make check" >&2; exit 1

clean:
	$(RM) -r $(TEST_GEN_PROGS) $(TEST_GEN_PROGS_EXTENDED) $(TEST_GEN_FILES) $(EXTRA_CLEAN)

CFLAGS += $(USERCFLAGS)
LDFLAGS += $(USERLDFLAGS)

$(OUTPUT)/%: %.c
	$(LINK.c) $^ $(LDLIBS) -o $@

.PHONY: all run_tests install emit_tests clean
