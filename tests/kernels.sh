# The kernels the suite boots, from what is installed in /boot.  Sourced by
# tests/check.sh and tests/bench.sh.
#
#   newest_kver 6.1       6.1.0-57-amd64 (linux-image-amd64)
#   newest_kver 6.12      6.12.117+deb12-amd64
#   newest_kver 6.1 rt    6.1.0-57-rt-amd64 (linux-image-rt-amd64, PREEMPT_RT)
#   all_kvers             the three above, in that order
#
# Package versions move (6.1.0-56 became 6.1.0-57): never name an ABI.

# newest_kver <series> [rt]: the newest installed kernel of a series, stock
# or (with "rt") the PREEMPT_RT flavour; empty if there is none.
newest_kver() {
	ls /boot/vmlinuz-"$1".* 2>/dev/null | sed 's,^/boot/vmlinuz-,,' |
		if [ "${2:-}" = rt ]; then grep -- '-rt-'; else grep -v -- '-rt-'; fi |
		sort -V | tail -n1
}

all_kvers() {
	echo $(newest_kver 6.1) $(newest_kver 6.12) $(newest_kver 6.1 rt)
}
