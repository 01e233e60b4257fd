// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbackup export: serve a job's point-in-time image read-only over NBD
 * with nbd-server (pull-style backup from another machine), and stop it.
 *
 * The image is a view (cmd_view.c) of a --mode none job that runs, or the
 * backup device of a completed job.  nbd-server gets a generated
 * configuration and runs as a daemon; the state of an export lives in
 * EXPORT_DIR, keyed by the volume's dm name:
 *
 *   export-<volume>.conf  nbd-server's configuration, whose "#dmbackup"
 *                         comment lines say what --stop undoes
 *   export-<volume>.pid   nbd-server's pid (its -p option)
 *
 * An increment's image (start --incremental) differs from its parent's
 * only in the chunks of its map: --list FILE writes them as byte ranges,
 * so that a puller reads only those over NBD.
 *
 * An export is live while that pid is an nbd-server process: finish
 * refuses then (export_refuses()), and status shows it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dmbackup.h"

#define EXPORT_DIR		"/run/dmbackup"
#define EXPORT_VIEW_SUFFIX	"-dmbackup-export"
#define DEFAULT_ADDR		"127.0.0.1"
#define DEFAULT_PORT		"10809"

static const char export_usage[] =
"usage: dmbackup export <volume> [--listen ADDR:PORT] [--name EXPORT]\n"
"           [--list FILE]\n"
"       dmbackup export --stop <volume>\n"
"\n"
"Serve the point-in-time image of the backup job on <volume> read-only over\n"
"NBD with nbd-server, listening on ADDR:PORT (default " DEFAULT_ADDR ":"
DEFAULT_PORT "),\n"
"as the export EXPORT (default: the volume's dm name).  The image is a view\n"
"(<volume>" EXPORT_VIEW_SUFFIX ") of a job started with --mode none, or the\n"
"backup device of a completed job.  Prints the URI and the nbd-client\n"
"command line.  Refuses a volume without a job, a job whose image is not\n"
"complete or is gone, and a volume already exported; nothing is changed then.\n"
"--list FILE: the job is an increment (start --incremental); write the\n"
"chunks it copied (its map) to FILE as byte ranges of the image, \"<offset>\n"
"<length>\" per run of chunks, as dmbackup info --list map, for a puller\n"
"that reads only those (FILE - is standard output, and the report goes to\n"
"standard error then).  Refused for a job that is not an increment.\n"
"--stop stops the server (its clients are disconnected) and removes the view\n"
"it created.  'dmbackup finish' refuses while the export is live.\n";

/* struct export - an export: what the steps share, what the state says. */
struct export {
	struct volume v;
	char name[DM_NAME_LEN];		/* the NBD export (a config section) */
	char addr[256], port[16];	/* where nbd-server listens */
	char view[DM_NAME_LEN + sizeof(EXPORT_VIEW_SUFFIX)];	/* "" if none */
	char image[PATH_MAX];		/* what nbd-server serves */
	char conf[PATH_MAX], pidf[PATH_MAX];	/* the state files */
	pid_t pid;			/* nbd-server, once it runs */
	const char *list;		/* --list FILE, or NULL */
	char meta_path[PATH_MAX];	/* --list: the increment's metadata, */
	struct meta_job mj;		/* and its job there */
};

/* ---- the state of an export ---------------------------------------------- */

static void state_paths(struct export *x, const char *vol)
{
	snprintf(x->conf, sizeof(x->conf), EXPORT_DIR "/export-%s.conf", vol);
	snprintf(x->pidf, sizeof(x->pidf), EXPORT_DIR "/export-%s.pid", vol);
}

/*
 * is_nbd_server - @pid is a live nbd-server: not a pid reused since, not a
 * zombie (a daemon's parent is init, which may be slow to reap it).
 */
static bool is_nbd_server(pid_t pid)
{
	char path[64], stat[128] = "";
	const char *end;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(stat, sizeof(stat), f))
		stat[0] = '\0';
	fclose(f);
	/* "PID (COMM) STATE ..." */
	end = strrchr(stat, ')');
	return strstr(stat, " (nbd-server) ") && end && end[1] == ' ' &&
	       end[2] != 'Z' && end[2] != 'X';
}

/* read_pid - the pid in @path, or 0. */
static pid_t read_pid(const char *path)
{
	FILE *f = fopen(path, "r");
	int pid = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%d", &pid) != 1 || pid <= 0)
		pid = 0;
	fclose(f);
	return pid;
}

/* set_field - @val into @dst of @len bytes; false if it does not fit. */
static bool set_field(char *dst, size_t len, const char *val)
{
	size_t n = strlen(val);

	if (n >= len)
		return false;
	memcpy(dst, val, n + 1);
	return true;
}

/*
 * read_state - the export of volume @vol from its configuration file into
 * @x (its "#dmbackup KEY VALUE" lines); false if there is none.
 */
static bool read_state(struct export *x, const char *vol)
{
	char line[PATH_MAX + 64], key[32], val[PATH_MAX];
	FILE *f;

	state_paths(x, vol);
	f = fopen(x->conf, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "#dmbackup %31s %4095s", key, val) != 2)
			continue;
		if (!strcmp(key, "export"))
			set_field(x->name, sizeof(x->name), val);
		else if (!strcmp(key, "addr"))
			set_field(x->addr, sizeof(x->addr), val);
		else if (!strcmp(key, "port"))
			set_field(x->port, sizeof(x->port), val);
		else if (!strcmp(key, "view") && strcmp(val, "-"))
			set_field(x->view, sizeof(x->view), val);
		else if (!strcmp(key, "image"))
			set_field(x->image, sizeof(x->image), val);
	}
	fclose(f);
	x->pid = read_pid(x->pidf);
	if (x->pid && !is_nbd_server(x->pid))
		x->pid = 0;
	return true;
}

/*
 * client_host - the host a client connects to: the address nbd-server
 * listens on, or this host's name when that is a wildcard (all addresses).
 */
static const char *client_host(const struct export *x)
{
	static char host[256];

	if ((!strcmp(x->addr, "0.0.0.0") || !strcmp(x->addr, "::")) &&
	    !gethostname(host, sizeof(host) - 1) && *host && strcmp(host, "(none)"))
		return host;
	return x->addr;
}

/* The URI a client connects to, e.g. nbd://127.0.0.1:10809/vol. */
static void print_uri(FILE *f, const struct export *x)
{
	const char *host = client_host(x);
	bool v6 = strchr(host, ':');

	fprintf(f, "nbd://%s%s%s:%s/%s", v6 ? "[" : "", host, v6 ? "]" : "",
		x->port, x->name);
}

/*
 * export_refuses - for finish: true (and why) while an export of volume
 * @vol is live.  The state of an export whose server is gone does not
 * refuse (a view it left does: finish names it).
 */
bool export_refuses(const char *vol)
{
	struct export x = { 0 };

	if (!read_state(&x, vol) || !x.pid)
		return false;
	fprintf(stderr, "dmbackup: %s: the job's image is exported over NBD (", vol);
	print_uri(stderr, &x);
	fprintf(stderr, ", nbd-server pid %d): stop the export first "
		"(dmbackup export --stop %s)\n", (int)x.pid, vol);
	return true;
}

/* export_status - for status: a line for the live export of volume @vol. */
void export_status(FILE *f, const char *vol)
{
	struct export x = { 0 };

	if (!read_state(&x, vol))
		return;
	fprintf(f, "  export: ");
	print_uri(f, &x);
	if (x.pid)
		fprintf(f, " (nbd-server pid %d, serving %s)\n", (int)x.pid, x.image);
	else
		fprintf(f, " is dead (its nbd-server is gone): "
			"dmbackup export --stop %s\n", vol);
}

/* ---- where nbd-server listens -------------------------------------------- */

/* parse_listen - ADDR:PORT or [ADDR6]:PORT into @x. */
static bool parse_listen(struct export *x, const char *arg)
{
	const char *colon = strrchr(arg, ':');
	size_t alen;
	char *end;
	long port;

	if (!colon || colon == arg)
		return false;
	alen = colon - arg;
	if (arg[0] == '[') {
		if (alen < 3 || arg[alen - 1] != ']')
			return false;
		arg++;
		alen -= 2;
	}
	if (alen >= sizeof(x->addr))
		return false;
	memcpy(x->addr, arg, alen);
	x->addr[alen] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port < 1 || port > 65535)
		return false;
	snprintf(x->port, sizeof(x->port), "%ld", port);
	return true;
}

/* someone_listens - a TCP connect to the export's address succeeds. */
static bool someone_listens(const struct export *x)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai, *a;
	bool ok = false;

	if (getaddrinfo(x->addr, x->port, &hints, &ai))
		return false;
	for (a = ai; a && !ok; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
				a->ai_protocol);

		if (fd < 0)
			continue;
		ok = !connect(fd, a->ai_addr, a->ai_addrlen);
		close(fd);
	}
	freeaddrinfo(ai);
	return ok;
}

/*
 * listen_inodes - the socket inodes of the TCP sockets that listen on
 * @port (/proc/net/tcp and tcp6, state 0A), up to @max; how many.
 */
static int listen_inodes(unsigned int port, unsigned long *inodes, int max)
{
	static const char *const tables[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	char line[512];
	int n = 0;

	for (unsigned int t = 0; t < ARRAY_SIZE(tables); t++) {
		FILE *f = fopen(tables[t], "r");

		if (!f)
			continue;
		while (n < max && fgets(line, sizeof(line), f)) {
			unsigned int lport, st;
			unsigned long inode;

			/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
			if (sscanf(line, " %*s %*[0-9A-Fa-f]:%x %*s %x %*s %*s %*s %*s %*s %lu",
				   &lport, &st, &inode) == 3 &&
			    lport == port && st == 0x0A)
				inodes[n++] = inode;
		}
		fclose(f);
	}
	return n;
}

/* server_listens - the process @pid itself listens on the export's port. */
static bool server_listens(const struct export *x)
{
	unsigned long inodes[16], ino;
	char path[320], link[64];
	bool found = false;
	struct dirent *d;
	int n, i;
	DIR *dir;

	n = listen_inodes(atoi(x->port), inodes, ARRAY_SIZE(inodes));
	if (!n)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)x->pid);
	dir = opendir(path);
	if (!dir)
		return false;
	while (!found && (d = readdir(dir))) {
		ssize_t len;

		snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)x->pid, d->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (sscanf(link, "socket:[%lu]", &ino) != 1)
			continue;
		for (i = 0; i < n && !found; i++)
			found = inodes[i] == ino;
	}
	closedir(dir);
	return found;
}

/* ---- the image ------------------------------------------------------------- */

/* check_export_name - @name can be an nbd-server section. */
static bool check_export_name(const char *name)
{
	if (!*name || strlen(name) >= DM_NAME_LEN || strpbrk(name, "[]/ \t\n#;=") ||
	    !strcmp(name, "generic")) {
		err("export: '%s' is not an export name (1 to %d characters, none of "
		    "'[]/#;=' or blanks, not 'generic')", name, DM_NAME_LEN - 1);
		return false;
	}
	return true;
}

/*
 * dev_path - a node in /dev of the block device @mm ("major:minor"), as
 * its uevent names it; false if there is none.
 */
static bool dev_path(const char *mm, char *buf, size_t len)
{
	char path[128], line[256];
	unsigned int ma, mi;
	struct stat st;
	bool found = false;
	FILE *f;

	if (sscanf(mm, "%u:%u", &ma, &mi) != 2)
		return false;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/uevent", ma, mi);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (!strncmp(line, "DEVNAME=", 8)) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(buf, len, "/dev/%s", line + 8);
			found = true;
		}
	fclose(f);
	return found && !stat(buf, &st) && S_ISBLK(st.st_mode) &&
	       st.st_rdev == makedev(ma, mi);
}

/*
 * pick_image - the refusals of an export, before anything is changed, and
 * what it serves: a view of a --mode none job that runs (@x->view names
 * the one to create), or the backup device of a completed job.
 */
static bool pick_image(struct export *x)
{
	char devs[64], bdev[32];
	struct export old = { 0 };
	struct bstatus s;

	if (read_state(&old, x->v.name)) {
		if (old.pid) {
			err("%s is exported already (nbd-server pid %d): "
			    "'dmbackup export --stop %s' first", x->v.name,
			    (int)old.pid, x->v.name);
		} else {
			err("%s: the state of an export whose nbd-server is gone is "
			    "left (%s): 'dmbackup export --stop %s' removes it",
			    x->v.name, old.conf, x->v.name);
		}
		return false;
	}
	if (!job_status(&x->v, &s, NULL))
		return false;
	if (!job_devices(&x->v, devs, sizeof(devs)) ||
	    sscanf(devs, "%*s %31s", bdev) != 1) {
		err("%s: cannot read the devices of its backup job", x->v.name);
		return false;
	}
	if (!strcmp(s.state, "failed") || !strcmp(s.state, "cancelled")) {
		err("%s: the job is %s: its point-in-time image is gone; "
		    "nothing to export", x->v.name, s.state);
		return false;
	}
	if (!strcmp(s.state, "completed")) {
		if (s.skipped) {
			err("%s: the job completed but skipped %" PRIu64 " chunks: the "
			    "backup device does not hold the whole image; not exporting "
			    "it", x->v.name, s.skipped);
			return false;
		}
		if (!dev_path(bdev, x->image, sizeof(x->image))) {
			err("%s: no node in /dev for the backup device %s", x->v.name,
			    bdev);
			return false;
		}
		return true;
	}
	if (strcmp(s.mode, "none")) {
		/* Only a completed job's backup device holds the whole image. */
		err("%s: the job (mode %s) is %s, %" PRIu64 "/%" PRIu64 " chunks: "
		    "the backup device is not complete yet; export it once the job "
		    "completed (dmbackup wait), or start the job with --mode none to "
		    "export its image at once", x->v.name, s.mode, s.state,
		    s.copied, s.total);
		return false;
	}
	snprintf(x->view, sizeof(x->view), "%s%s", x->v.name, EXPORT_VIEW_SUFFIX);
	snprintf(x->image, sizeof(x->image), "/dev/mapper/%s", x->view);
	return true;
}

/*
 * pick_list - the refusal of --list, before anything is changed: the job
 * exported must be an increment (its table names its parent), whose map
 * on its metadata device lists the chunks it copied.  Reads that job into
 * @x->mj for the step export-list.
 */
static bool pick_list(struct export *x)
{
	char meta[32], parent[40], uuid[40], why[512];
	struct bstatus s;

	if (!job_status(&x->v, &s, NULL))
		return false;
	if (!job_option(&x->v, "increment", parent, sizeof(parent))) {
		err("%s: --list: the job %s is not an increment (dmbackup start "
		    "--incremental): its image is a whole backup, with no list of "
		    "changed chunks; export it without --list", x->v.name,
		    s.uuid[0] ? s.uuid : s.mode);
		return false;
	}
	if (!job_option(&x->v, "meta", meta, sizeof(meta)) ||
	    !dev_path(meta, x->meta_path, sizeof(x->meta_path))) {
		err("%s: --list: no node in /dev for the job's metadata device %s",
		    x->v.name, meta);
		return false;
	}
	if (meta_read(x->meta_path, &x->mj, why, sizeof(why)) != META_JOB) {
		err("%s: --list: cannot read the job on %s: %s", x->v.name,
		    x->meta_path, why);
		return false;
	}
	meta_uuid_str(x->mj.uuid, uuid);
	if (strcmp(uuid, s.uuid) || !x->mj.increment ||
	    !x->mj.bitmap_first[MD_BITMAP_MAP]) {
		err("%s: --list: %s holds job %s%s, not the increment %s of %s",
		    x->v.name, x->meta_path, uuid,
		    x->mj.increment ? "" : " (no increment)", s.uuid, parent);
		return false;
	}
	return true;
}

/* ---- the steps of an export ------------------------------------------------ */

/* Step "export-list": --list FILE, before anything else is changed. */
static bool list_run(void *ctx)
{
	struct export *x = ctx;

	return !x->list ||
	       meta_list_file(x->list, x->meta_path, &x->mj, MD_BITMAP_MAP);
}

static bool list_failed(void *ctx)
{
	return true;	/* meta_list_file() removed its file and said why */
}

static bool list_undo(void *ctx)
{
	struct export *x = ctx;

	if (x->list && strcmp(x->list, "-") && unlink(x->list) &&
	    errno != ENOENT) {
		err("cannot remove %s: %s", x->list, strerror(errno));
		return false;
	}
	return true;
}

/* Step "export-view": the view of a --mode none job (cmd_view.c). */
static bool view_run(void *ctx)
{
	struct export *x = ctx;

	return !*x->view || view_create(x->v.name, x->view) == EX_OK;
}

static bool view_failed(void *ctx)
{
	return true;	/* view_create() rolled itself back and said why */
}

static bool view_undo(void *ctx)
{
	struct export *x = ctx;
	int i;

	if (!*x->view)
		return true;
	/* A server just killed may hold the view a moment longer. */
	for (i = 0; i < 50; i++) {
		struct dm_info info;

		if (!get_info(x->view, &info) || !info.exists || !info.open_count)
			break;
		usleep(100000);
	}
	return view_remove(x->view) == EX_OK;
}

/* Step "export-conf": the state directory and nbd-server's configuration. */
static bool conf_run(void *ctx)
{
	struct export *x = ctx;
	FILE *f;
	int fd;

	if (mkdir(EXPORT_DIR, 0700) && errno != EEXIST) {
		err("cannot create %s: %s", EXPORT_DIR, strerror(errno));
		return false;
	}
	fd = open(x->conf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		err("cannot create %s: %s", x->conf, strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	fprintf(f,
		"# nbd-server(5) configuration of 'dmbackup export %s';\n"
		"# 'dmbackup export --stop %s' stops the server and removes it.\n"
		"#dmbackup volume %s\n#dmbackup export %s\n"
		"#dmbackup addr %s\n#dmbackup port %s\n"
		"#dmbackup view %s\n#dmbackup image %s\n"
		"[generic]\n\tlistenaddr = %s\n\tport = %s\n"
		"[%s]\n\texportname = %s\n\treadonly = true\n",
		x->v.name, x->v.name, x->v.name, x->name, x->addr, x->port,
		*x->view ? x->view : "-", x->image, x->addr, x->port, x->name,
		x->image);
	if (fclose(f)) {
		err("cannot write %s: %s", x->conf, strerror(errno));
		unlink(x->conf);
		return false;
	}
	return true;
}

static bool conf_failed(void *ctx)
{
	return true;		/* conf_run() removed what it wrote */
}

static bool conf_undo(void *ctx)
{
	struct export *x = ctx;

	if (unlink(x->conf) && errno != ENOENT) {
		err("cannot remove %s: %s", x->conf, strerror(errno));
		return false;
	}
	return true;
}

/* launch - run nbd-server, which forks its daemon and exits. */
static bool launch(struct export *x)
{
	int status = 0;
	pid_t pid;

	/* serve_run() must not take a stale pid for the new daemon's. */
	unlink(x->pidf);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		err("fork: %s", strerror(errno));
		return false;
	}
	if (!pid) {
		/* No libdevmapper control fd, no pipe of ours in the daemon. */
		closefrom(3);
		execlp("nbd-server", "nbd-server", "-C", x->conf, "-p", x->pidf,
		       (char *)NULL);
		err("cannot run nbd-server: %s", strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		if (!(WIFEXITED(status) && WEXITSTATUS(status) == 127))
			err("nbd-server failed (exit status %d)",
			    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return false;
	}
	return true;
}

/*
 * Step "export-serve": nbd-server runs and listens.  The daemon writes its
 * pid file, then binds: it serves once its own socket listens on the port
 * (a server that started meanwhile on the same port would answer a
 * connect, while ours fails to bind and exits).
 */
static bool serve_run(void *ctx)
{
	struct export *x = ctx;
	int i;

	if (!launch(x))
		return false;
	for (i = 0; i < 100; i++) {		/* 10 s */
		if (!x->pid)
			x->pid = read_pid(x->pidf);
		if (x->pid && !is_nbd_server(x->pid))
			break;			/* it died: cannot listen */
		if (x->pid && server_listens(x) && is_nbd_server(x->pid))
			return true;
		usleep(100000);
	}
	err("nbd-server does not listen on %s:%s (see the system log)", x->addr,
	    x->port);
	return false;
}

/* wait_server_gone - wait up to @tenths * 0.1 s for the server to end. */
static bool wait_server_gone(const struct export *x, int tenths)
{
	for (; tenths > 0 && is_nbd_server(x->pid); tenths--)
		usleep(100000);
	return !is_nbd_server(x->pid);
}

/* has_children - some process has @pid as its parent. */
static bool has_children(pid_t pid)
{
	char path[300], stat[256];
	bool found = false;
	struct dirent *d;
	DIR *dir = opendir("/proc");

	while (dir && !found && (d = readdir(dir))) {
		const char *end;
		int ppid;
		FILE *f;

		if (d->d_name[0] < '1' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(stat, sizeof(stat), f) && (end = strrchr(stat, ')')) &&
		    sscanf(end + 1, " %*c %d", &ppid) == 1)
			found = ppid == pid;
		fclose(f);
	}
	if (dir)
		closedir(dir);
	return found;
}

/*
 * stop_server - SIGTERM, if the server has children (one per connection):
 * it kills them and exits.  Without children, SIGKILL: a server still
 * starting acts on SIGTERM only once it serves, which can take seconds (it
 * generates its TLS parameters first), and has nothing to clean up but
 * its pid file.
 */
static bool stop_server(struct export *x)
{
	if (x->pid && is_nbd_server(x->pid)) {
		bool term = has_children(x->pid);

		kill(x->pid, term ? SIGTERM : SIGKILL);
		if (!wait_server_gone(x, 30) && term) {
			err("nbd-server (pid %d) ignored SIGTERM for 3 s: SIGKILL",
			    (int)x->pid);
			kill(x->pid, SIGKILL);
		}
		if (!wait_server_gone(x, 50)) {
			err("nbd-server (pid %d) does not end", (int)x->pid);
			return false;
		}
	}
	unlink(x->pidf);
	return true;
}

static bool serve_failed(void *ctx)
{
	return stop_server(ctx);
}

static bool serve_undo(void *ctx)
{
	return stop_server(ctx);
}

/*
 * The steps of an export, in order.  Their names are the DMBACKUP_FAIL_AT
 * names of the selftests; "export-serve-after" fails after the server
 * listens.
 */
static const struct step export_steps[] = {
	{ .name = "export-list", .run = list_run, .failed = list_failed,
	  .undo = list_undo },
	{ .name = "export-view", .run = view_run, .failed = view_failed,
	  .undo = view_undo },
	{ .name = "export-conf", .run = conf_run, .failed = conf_failed,
	  .undo = conf_undo },
	{ .name = "export-serve", .run = serve_run, .failed = serve_failed,
	  .undo = serve_undo },
	{ .name = "export-serve-after" },
};

/* ---- the command ------------------------------------------------------------ */

static int export_start(struct export *x)
{
	/* --list -: standard output is the list alone. */
	FILE *out = x->list && !strcmp(x->list, "-") ? stderr : stdout;

	if (!pick_image(x) || (x->list && !pick_list(x)))
		return EX_ERR;
	if (someone_listens(x)) {
		err("something listens on %s:%s already (another export?): choose "
		    "another address with --listen; nothing was changed", x->addr,
		    x->port);
		return EX_ERR;
	}
	if (run_steps(export_steps, ARRAY_SIZE(export_steps), x) != STEPS_DONE)
		return EX_ERR;		/* the steps said what happened */
	fprintf(out, "%s: exporting %s read-only over NBD (nbd-server pid %d)\n",
		x->v.name, x->image, (int)x->pid);
	fprintf(out, "  URI: ");
	print_uri(out, x);
	fprintf(out, "\n  client: nbd-client -N %s %s %s /dev/nbdX\n", x->name,
		client_host(x), x->port);
	if (x->list)
		fprintf(out, "  list: %" PRIu64 " changed chunks (the increment's "
			"map) in %s\n", x->mj.bitmap_count[MD_BITMAP_MAP],
			strcmp(x->list, "-") ? x->list : "standard output");
	fprintf(out, "  stop: dmbackup export --stop %s\n", x->v.name);
	return EX_OK;
}

static int export_stop(const char *vol)
{
	struct export x = { 0 };

	if (!read_state(&x, vol)) {
		err("%s: no export of this volume (no %s)", vol, x.conf);
		return EX_ERR;
	}
	if (!x.pid)
		printf("%s: its nbd-server is gone already\n", vol);
	if (!stop_server(&x) || !view_undo(&x))
		return EX_ERR;		/* the state stays, for another --stop */
	if (!conf_undo(&x))
		return EX_ERR;
	printf("%s: export ", vol);
	print_uri(stdout, &x);
	printf(" stopped\n");
	return EX_OK;
}

struct export_opts {
	bool stop;
	const char *listen, *name, *list;
};

static int export_opt(void *ctx, int key, const char *val)
{
	struct export_opts *o = ctx;

	switch (key) {
	case OPT_STOP:
		o->stop = true;
		break;
	case OPT_LISTEN:
		o->listen = val;
		break;
	case OPT_NAME:
		o->name = val;
		break;
	case OPT_LIST:
		if (!*val)
			return bad_value("list", "''", "a file name");
		o->list = val;
		break;
	}
	return EX_OK;
}

int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "stop", no_argument, NULL, OPT_STOP },
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "list", required_argument, NULL, OPT_LIST },
		{ NULL, 0, NULL, 0 }
	};
	struct export_opts o = { 0 };
	struct cmd_line cl = {
		.name = "export", .usage = export_usage, .opts = opts,
		.min_pos = 1, .max_pos = 1, .opt = export_opt, .ctx = &o,
	};
	struct export x = { 0 };
	int r;

	r = parse_args(&cl, argc, argv);
	if (r != ARGS_OK)
		return r;
	if (o.stop) {
		if (o.listen || o.name || o.list) {
			err("export --stop takes no --listen, --name or --list");
			return EX_USAGE;
		}
		/* A volume removed meanwhile: its dm name still names the state. */
		if (!strchr(cl.pos[0], '/') && !dev_exists(cl.pos[0]))
			return export_stop(cl.pos[0]);
		if (!resolve_dm(cl.pos[0], &x.v))
			return EX_ERR;
		return export_stop(x.v.name);
	}
	if (o.listen && !parse_listen(&x, o.listen))
		return bad_value("listen", o.listen, "ADDR:PORT, e.g. 127.0.0.1:10809");
	if (!o.listen) {
		snprintf(x.addr, sizeof(x.addr), DEFAULT_ADDR);
		snprintf(x.port, sizeof(x.port), DEFAULT_PORT);
	}
	if (!resolve_volume(cl.pos[0], &x.v))
		return EX_ERR;
	if (o.name && !check_export_name(o.name))
		return EX_USAGE;
	snprintf(x.name, sizeof(x.name), "%s", o.name ? o.name : x.v.name);
	if (!o.name && !check_export_name(x.name))
		return EX_ERR;
	state_paths(&x, x.v.name);
	x.list = o.list;
	return export_start(&x);
}
