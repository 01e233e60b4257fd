# dm-backup: out-of-tree module build and VM-based test suite.
#
#   make [KVER=<kernel release> | KDIR=<kernel build dir>] [W=1] [C=1|2]
#       Build dm-backup.ko (build/<kver>/src/dm-backup.ko; the default
#       kernel's copy also lands in ./dm-backup.ko).
#   make check [KVER=<kver>|all] [T=test_a,test_b]
#       Build, boot a qemu (TCG) VM per kernel, run the selftests there.
#       Default kernel: the 6.1 one (Debian's linux-image-amd64); "all":
#       6.1, 6.12 and 6.1 PREEMPT_RT (linux-image-rt-amd64).  Campaign
#       tests (stress, fuzz) run a short deterministic slice.
#   make check-long [KVER=<kver>|all] [T=test_a,test_b]
#       The same with the campaign tests' long form (lib.sh campaign()).
#   make check-debug [T=test_a,test_b]
#       The same on a 6.1 debug kernel (KASAN, lockdep, kmemleak, fault
#       injection; tests/debug-kernel.config), built from Debian's
#       linux-source-6.1 on first use and cached in build/debug/.  The
#       run also fails on a kmemleak report attributed to dm-backup.
#       A full `make check` (no T=) also runs check-patch once, counted as
#       the pseudo-test "patch"; CHECK_PATCH=0 skips it, CHECK_PATCH=1
#       runs it with T= too.
#   make check-reboot [KVER=<kver>]
#       A persistent job across a real reboot (tests/reboot-test.sh): a VM
#       with virtio disks backed by host files starts a job under a
#       written ext4, is reset with sysrq-b mid-job, boots again, continues
#       it with dmbackup start --meta; the backup must equal the point-in-
#       time image.  Then a tracking job reset mid-writes is put back by
#       dmbackup reinstate, and an increment must equal its point in time.
#       Default kernel: the 6.1 one.  A full `make check` runs
#       it once, on its first kernel, as the pseudo-test "reboot";
#       CHECK_REBOOT=0 skips it.
#   make patch                  dm-backup as a patch series against Linux 6.1
#                               (tests/mkpatch.sh): build/patch/0000-cover-
#                               letter.patch, 0001 the target (sources,
#                               Kconfig, Makefile, docs, MAINTAINERS), 0002
#                               the selftests; made with git format-patch
#                               from the working tree, the module's files
#                               taken from Kbuild's dm-backup-y.
#   make check-patch            The series applies to Debian's
#                               linux-source-6.1 (unpacked once into
#                               build/patch-tree/), CONFIG_DM_BACKUP=m
#                               survives olddefconfig, dm-backup.ko builds
#                               in-tree with W=1, checkpatch --strict is
#                               clean (tests/patch-test.sh; ends with
#                               "patch: N passed, N failed").
#   make layers [KVER=<kver>]   Build, then check that the module's files
#                               call each other only downward (glue ->
#                               job, walk -> copy engine -> chunk state) and
#                               in no cycle, from nm of the objects
#                               (tests/layers.sh; graph in build/layers.dot;
#                               --self-test calibrates it).
#   make demo [KVER=<kver>]     Boot a VM and run selftests/dm-backup/demo.sh.
#   make bench [KVER=<kver>|all]
#                               Boot one VM per kernel and run the benchmark
#                               (tests/bench.sh); report in bench/results/.
#   make shell [KVER=<kver>]    Boot a VM with a shell on the console
#                               (Ctrl-A x quits qemu).
#   make tools                  Build tools/dmbackup/dmbackup, the admin's CLI
#                               (needs libdevmapper-dev and libexpat1-dev).
#   make tools-asan             Build the CLI with AddressSanitizer,
#                               LeakSanitizer and UBSan into
#                               tools/dmbackup/asan/dmbackup (any report
#                               makes it exit 66).
#   make check-cli-asan [KVER=<kver>|all] [T=test_a,test_b]
#       make check with that build packed as the VM's dmbackup (the
#       variable DMBT_CLI=<path> of tests/mkinitramfs.sh), by default on
#       the CLI's tests (test_*_dmbackup_*, test_*_recipes_*); fails too if
#       the console log holds a sanitizer report.
#   make install [KVER=...] [DESTDIR=...]
#       Install dm-backup.ko for KVER (the kernel's modules_install, into
#       /lib/modules/<kver>/updates; it runs depmod), the CLI to
#       /usr/local/sbin and its man page to /usr/local/share/man/man8.
#   make uninstall [KVER=...] [DESTDIR=...]   Remove what install installed.
#   make deb                    Debian packages in build/deb/ (tests/mkdeb.sh,
#                               from a copy of the tree in build/deb/src;
#                               lintian clean): dm-backup-dkms, the module's
#                               source for DKMS, and dmbackup, the CLI and
#                               its man page.  Version: debian/changelog.
#   make check-deb [KVER=<kver>|all]
#       Not part of `make check` (about 10 minutes, 12 with KVER=all, on
#       two idle cores; the first run builds a cached chroot, 8 more; it
#       boots the VM like make demo, so not at once with a make check of
#       the same KVER in this checkout): tests/deb-test.sh
#       installs both packages into a clean Debian 12 chroot with the 6.1
#       and 6.12 headers, checks that DKMS built dm-backup.ko for both,
#       runs the demo in the VM on DKMS's module (default kernel: the 6.1
#       one; KVER=all: both), then purges the packages and checks that
#       nothing is left.  Needs root and the network.
#   make clean
#
# The module is built once per kernel, so every kernel gets its own copy of
# the sources under build/<kver>/src/: Kbuild writes objects next to the
# sources, and two kernels' objects must never mix.

SHELL := /bin/bash
MODNAME := dm-backup

# ---- kernel selection ------------------------------------------------------
# Default kernel for plain `make`: the running one if it has a build dir (it
# has none on the dev machine: its kernel has no module support), else the
# newest installed headers.
DEFAULT_KVER := $(shell \
	if [ -d /lib/modules/$$(uname -r)/build ]; then uname -r; \
	else ls -d /lib/modules/*/build 2>/dev/null | \
	     sed 's,^/lib/modules/,,; s,/build$$,,' | sort -V | tail -n1; fi)

ifneq ($(origin KDIR),undefined)
  # An explicit KDIR wins; name the build dir after the release it builds.
  # (UTS_RELEASE, not include/config/kernel.release: Debian's headers put
  # the upstream version "6.1.192" there, not "6.1.0-56-amd64".)
  KVER ?= $(shell sed -n 's/^\#define UTS_RELEASE "\(.*\)"/\1/p' \
	$(KDIR)/include/generated/utsrelease.h 2>/dev/null)
else
  KVER ?= $(DEFAULT_KVER)
  KDIR := /lib/modules/$(KVER)/build
endif

BUILD_DIR := $(CURDIR)/build/$(KVER)
SRC_DIR   := $(BUILD_DIR)/src

# `make check`/`demo` want the KVER the *user* gave (else tests/check.sh
# picks the 6.1 kernel), not the plain-`make` default computed above.
USER_KVER := $(if $(filter command line environment,$(origin KVER)),$(KVER))

.PHONY: all modules tools tools-asan install uninstall check check-debug check-long \
	check-patch check-reboot check-cli-asan layers patch demo bench shell clean FORCE

all: modules

modules:
ifeq ($(wildcard $(KDIR)/Makefile),)
  # No headers (fresh CI machine): install them, then re-run make so that
  # KVER/KDIR are computed again from what is now installed.
  ifeq ($(DMBT_DEPS_TRIED),1)
	@echo "error: kernel build dir '$(KDIR)' not found (KVER='$(KVER)')" >&2; exit 1
  else
	tests/install-deps.sh
	@$(MAKE) --no-print-directory modules DMBT_DEPS_TRIED=1
  endif
else
	@test -f Kbuild -a -d drivers || \
	  { echo "error: Kbuild or drivers/ missing: no module source to build" >&2; exit 1; }
	@mkdir -p $(SRC_DIR)
	@# cp -a keeps mtimes, so unchanged sources are not rebuilt.
	cp -a Kbuild drivers $(SRC_DIR)/
	$(MAKE) -C $(KDIR) M=$(SRC_DIR) modules $(if $(W),W=$(W)) $(if $(C),C=$(C))
	@# Kbuild may put the .ko in a subdirectory; normalise its location.
	@ko=$$(find $(SRC_DIR) -name $(MODNAME).ko | head -n1); \
	 if [ -z "$$ko" ]; then echo "error: $(MODNAME).ko not produced" >&2; exit 1; fi; \
	 if [ "$$ko" != "$(SRC_DIR)/$(MODNAME).ko" ]; then cp "$$ko" $(SRC_DIR)/$(MODNAME).ko; fi
ifeq ($(KVER),$(DEFAULT_KVER))
	cp $(SRC_DIR)/$(MODNAME).ko $(CURDIR)/$(MODNAME).ko
endif
endif

tools:
	$(MAKE) -C tools/dmbackup

tools-asan:
	$(MAKE) -C tools/dmbackup asan

# DESTDIR stages an install (packaging, tests).
SBINDIR := /usr/local/sbin
MAN8DIR := /usr/local/share/man/man8
# systemd's directory for locally installed units.
UNITDIR := /usr/local/lib/systemd/system
MODDEST := $(DESTDIR)/lib/modules/$(KVER)/updates

install: modules tools
	@# No signing: Debian's headers have MODULE_SIG_ALL but not the key.
	$(MAKE) -C $(KDIR) M=$(SRC_DIR) modules_install INSTALL_MOD_DIR=updates \
		CONFIG_MODULE_SIG_ALL= \
		$(if $(DESTDIR),INSTALL_MOD_PATH=$(DESTDIR))
	install -D -m 755 tools/dmbackup/dmbackup $(DESTDIR)$(SBINDIR)/dmbackup
	install -D -m 644 tools/dmbackup/dmbackup.8 $(DESTDIR)$(MAN8DIR)/dmbackup.8
	install -D -m 644 tools/dmbackup/dmbackup-reinstate.service \
		$(DESTDIR)$(UNITDIR)/dmbackup-reinstate.service

uninstall:
	rm -f $(MODDEST)/$(MODNAME).ko $(MODDEST)/$(MODNAME).ko.xz \
	      $(MODDEST)/$(MODNAME).ko.zst $(MODDEST)/$(MODNAME).ko.gz \
	      $(DESTDIR)$(SBINDIR)/dmbackup $(DESTDIR)$(MAN8DIR)/dmbackup.8 \
	      $(DESTDIR)$(UNITDIR)/dmbackup-reinstate.service
	$(if $(DESTDIR),,depmod -a $(KVER))

.PHONY: deb check-deb
deb:
	@tests/mkdeb.sh

check-deb:
	@tests/deb-test.sh $(if $(USER_KVER),--kver "$(USER_KVER)")

# check/demo/shell: tests/check.sh builds the module for each kernel (via
# `make modules KVER=...`), builds the initramfs and boots the VM.
check:
	@CHECK_PATCH="$(CHECK_PATCH)" CHECK_REBOOT="$(CHECK_REBOOT)" tests/check.sh --mode check --kver "$(USER_KVER)" --tests "$(T)"

check-debug:
	@tests/check.sh --mode check --kver debug --tests "$(T)"

check-long:
	@tests/check.sh --mode check --long --kver "$(USER_KVER)" --tests "$(T)"

patch:
	@tests/mkpatch.sh

check-reboot:
	@tests/reboot-test.sh $(if $(USER_KVER),--kver "$(USER_KVER)")

check-patch:
	@tests/patch-test.sh

# The objects of the build just made: a file -> file graph of their symbols.
layers: modules
	@tests/layers.sh --dot build/layers.dot $(SRC_DIR)/drivers/md

# The tests that run dmbackup the most: its own and the documents' recipes.
comma := ,
space := $(subst ,, )
CLI_TESTS := $(subst $(space),$(comma),$(sort $(basename $(notdir $(wildcard \
	tools/testing/selftests/dm-backup/test_*_dmbackup_*.sh \
	tools/testing/selftests/dm-backup/test_*_recipes_*.sh)))))

# A sanitizer report fails the run even where a test accepts any failure
# (`dmbackup ... && fail`): the console logs of this run are searched.
check-cli-asan: tools-asan
	@mkdir -p build && touch build/.cli-asan-stamp
	@DMBT_CLI=$(CURDIR)/tools/dmbackup/asan/dmbackup tests/check.sh \
		--mode check --kver "$(USER_KVER)" --tests "$(or $(T),$(CLI_TESTS))"; \
	 r=$$?; \
	 logs=$$(find build -name console.log -newer build/.cli-asan-stamp); \
	 if [ -n "$$logs" ] && grep -E -n -m 20 \
		'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: (Address|UndefinedBehavior)Sanitizer' \
		$$logs; then \
		echo "check-cli-asan: sanitizer reports in $$logs"; exit 1; \
	 fi; \
	 echo "check-cli-asan: no sanitizer report in $$logs"; exit $$r

demo:
	@tests/check.sh --mode demo --kver "$(USER_KVER)"

bench:
	@tests/bench.sh --kver "$(USER_KVER)"

shell:
	@tests/check.sh --mode shell --kver "$(USER_KVER)"

clean:
	rm -rf build $(MODNAME).ko
	$(MAKE) -C tools/dmbackup clean
