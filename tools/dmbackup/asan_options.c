// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbackup: the sanitizers' defaults, linked only into `make asan`'s build,
 * so that the binary checks itself wherever it runs (the selftests' VM
 * passes no environment to it).  ASAN_OPTIONS and UBSAN_OPTIONS still
 * override them.
 *
 * Exit code 66 on any report: the selftests expect 0 to 5 from dmbackup,
 * and a leak on an error path (exit code 1 expected) must not pass for
 * the error itself.
 */
const char *__asan_default_options(void);
const char *__ubsan_default_options(void);

const char *__asan_default_options(void)
{
	return "detect_leaks=1:exitcode=66:abort_on_error=0";
}

const char *__ubsan_default_options(void)
{
	return "print_stacktrace=1:halt_on_error=1:exitcode=66";
}
