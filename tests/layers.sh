#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Behind `make layers`: the module's files call each other only downward.
#
#   tests/layers.sh [--dot FILE] [<objdir>]
#   tests/layers.sh --self-test
#
# <objdir> holds the built dm-backup-*.o (default: build/<kver>/src/
# drivers/md of the newest installed 6.1 kernel, as tests/kernels.sh picks
# it; `make layers` passes the dir of the build it just made).  Builds
# nothing.  From `nm` of each object, file A -> file B when A has an
# undefined symbol that B defines (T, D, B or R); symbols defined outside
# the module (the kernel's) are not edges.  Prints the graph, one edge a
# line ("dm-backup-a -> dm-backup-b: sym ..."), writes it as DOT (default
# build/layers.dot; --dot '' writes none), then checks it against LAYERS:
#   - an edge from a lower layer up to a higher one is a violation;
#   - any cycle is a violation, also between files of one layer.  Every
#     elementary cycle is printed: one line ("cycle: ...") for a cycle that
#     goes through an upward edge (that edge is the violation), step by step
#     with the symbols for one within a layer;
#   - an object that LAYERS does not place is a violation (the table must
#     follow Kbuild).
# Exit 1 with each violation and the symbols responsible, else print
# "layers: ok (N edges)" and exit 0.
#
# Tracepoints: dm_backup_trace.h's events are instantiated in whichever
# file defines CREATE_TRACE_POINTS (dm-backup-target.c), but the code that
# fires them uses the header, not that file.  Their symbols (__tracepoint_X,
# __traceiter_X, __SCK__tp_func_X, ...) are shown as trace_X and belong to
# the node dm_backup_trace.h, on a bottom layer of its own.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)

# The declared order, top (0) to bottom; names are dm-backup-<name>.o.
LAYERS=(
	"target view sysfs handover"	# 0: dm glue
	"job walk"			# 1: the job and the walk over the device
	"copy metadata"			# 2: the copy engine, a job's metadata
	"chunks"			# 3: chunk state
	"dm_backup_trace.h"		# 4: tracepoints, callable from anywhere
)

# Edges let through while a refactoring is under way, one "a -> b" a line
# (short names, e.g. "copy -> job").  An allowed edge is neither an upward
# violation nor part of a cycle.  Every entry would be a debt; there is
# none: the copy engine reports up through struct backup_engine_ops, and
# views reach their job's live instance through the job.
ALLOW=()

TRACE_RE='^(__tracepoint_|__traceiter_|__SCK__tp_func_|__SCT__tp_func_|__probestub_)'

usage() {
	sed -n '4,5p' "$0" | sed 's/^# *//' >&2
	exit 2
}

# The default objdir: the 6.1 kernel the suite boots by default.
default_objdir() {
	local kver
	# shellcheck source=tests/kernels.sh disable=SC1091
	. "$TOP/tests/kernels.sh"
	kver=$(newest_kver 6.1)
	[ -z "$kver" ] || echo "$TOP/build/$kver/src/drivers/md"
}

# Short node name of an object path: dm-backup-copy.o -> copy.
node_of() {
	local b
	b=$(basename "$1" .o)
	echo "${b#dm-backup-}"
}

# "D node sym" for each definition, "U node sym" for each use, over all
# objects; tracepoint symbols renamed to trace_X and defined by the header.
symbols() {
	local o n
	for o in "$@"; do
		n=$(node_of "$o")
		nm -P "$o" | awk -v n="$n" -v re="$TRACE_RE" '
			$2 ~ /^[TDBR]$/ { k = "D" } $2 == "U" { k = "U" }
			$2 !~ /^[TDBRU]$/ { next }
			{ s = $1; m = n
			  if (s ~ re) {
				sub(re, "trace_", s)
				if (k == "D") m = "dm_backup_trace.h"
			  }
			  print k, m, s }'
	done | sort -u
}

# "from to sym sym ...", one line per pair of files, sorted.
edges() {
	awk '$1 == "D" { def[$3] = $2; next }
	     { use[++n] = $2 " " $3 }
	     END { for (i = 1; i <= n; i++) {
			split(use[i], u, " ")
			if (!(u[2] in def) || def[u[2]] == u[1]) continue
			print u[1], def[u[2]], u[2] } }' |
		sort -u |
		awk '{ k = $1 " " $2; if (k != last) { if (last != "") print line
			line = k; last = k } line = line " " $3 }
		     END { if (last != "") print line }'
}

# Display name of a node: short name back to the file's.
full() {
	case $1 in *.h) echo "$1" ;; *) echo "dm-backup-$1" ;; esac
}

print_graph() {
	local from to syms
	echo "layers: graph of $(wc -l <"$1") edges (file -> file it uses: symbols)"
	while read -r from to syms; do
		echo "$(full "$from") -> $(full "$to"): $syms"
	done <"$1"
}

write_dot() {
	local from to syms
	{
		echo "digraph dm_backup_layers {"
		echo "	rankdir=TB; node [shape=box];"
		while read -r from to syms; do
			echo "	\"$(full "$from")\" -> \"$(full "$to")\" [tooltip=\"$syms\"];"
		done <"$1"
		echo "}"
	} >"$2"
}

# "node layer" for every node of the table.
layer_table() {
	local i n
	for i in "${!LAYERS[@]}"; do
		for n in ${LAYERS[$i]}; do echo "$n $i"; done
	done
}

# "target view sysfs handover | job walk | ...", for the failure line.
layer_order() {
	local IFS='|' s
	s="${LAYERS[*]}"
	echo "${s//|/ | }"
}

is_allowed() {
	local a
	for a in ${ALLOW[@]+"${ALLOW[@]}"}; do
		[ "$a" = "$1 -> $2" ] && return 0
	done
	return 1
}

# Objects the table does not place: their edges cannot be judged.
check_unplaced() {
	local o n bad=0
	for o in "$@"; do
		n=$(node_of "$o")
		if ! layer_table | grep -q "^$n "; then
			echo "violation: $(basename "$o") is in no layer of tests/layers.sh LAYERS"
			bad=1
		fi
	done
	return $bad
}

# Layer number of a node, empty if the table does not place it.
layer_of() {
	layer_table | awk -v n="$1" '$1 == n { print $2 }'
}

# True if a -> b goes from a lower layer (higher number) up to a higher one.
is_upward() {
	local la lb
	la=$(layer_of "$1") lb=$(layer_of "$2")
	[ -n "$la" ] && [ -n "$lb" ] && [ "$la" -gt "$lb" ]
}

check_upward() {
	local from to syms bad=0
	while read -r from to syms; do
		is_upward "$from" "$to" || continue
		is_allowed "$from" "$to" && continue
		echo "violation: upward $(full "$from") (layer $(layer_of "$from")) ->" \
			"$(full "$to") (layer $(layer_of "$to")): $syms"
		bad=1
	done <"$1"
	return $bad
}

# Every elementary cycle of the edges not allowed, each once: a DFS from
# each node that visits only nodes sorting after it, so a cycle is found
# from its smallest node only.  Prints "a b c" for a -> b -> c -> a.
cycles() {
	awk '{ adj[$1] = adj[$1] " " $2; node[$1]; node[$2] }
	     function dfs(v, path,    i, w, nb) {
		nb = split(adj[v], w, " ")
		for (i = 1; i <= nb; i++) {
			if (w[i] == start) { print path; continue }
			if (w[i] < start || w[i] in on) continue
			on[w[i]]; dfs(w[i], path " " w[i]); delete on[w[i]]
		}
	     }
	     END { for (s in node) { start = s; delete on; on[s]; dfs(s, s) } }' |
		sort
}

# "a -> b -> c -> a" for the nodes a b c.
cycle_text() {
	local i out=""
	for i in "$@" "$1"; do out+="${out:+ -> }$(full "$i")"; done
	echo "$out"
}

# Symbols of the edge a -> b.
edge_syms() {
	awk -v a="$2" -v b="$3" '$1 == a && $2 == b { $1 = $2 = ""; sub(/^ +/, ""); print }' "$1"
}

# Every cycle is printed.  One that climbs through an upward edge is
# already a violation there, so it is named with those edges in one line;
# one without (files of one layer calling each other round) is a violation
# of its own, shown step by step with the symbols.
check_cycles() {
	local graph=$1 live cyc n i a b up nc=0 bad=0
	live=$(mktemp)
	while read -r a b _; do
		is_allowed "$a" "$b" || echo "$a $b"
	done <"$graph" >"$live"
	while read -r cyc; do
		[ -n "$cyc" ] || continue
		read -r -a n <<<"$cyc"
		nc=$((nc + 1)) up=""
		for i in "${!n[@]}"; do
			a=${n[$i]} b=${n[$(((i + 1) % ${#n[@]}))]}
			is_upward "$a" "$b" && up+="${up:+, }$a -> $b"
		done
		if [ -n "$up" ]; then
			echo "cycle: $(cycle_text "${n[@]}") (upward: $up)"
			continue
		fi
		echo "violation: cycle within a layer: $(cycle_text "${n[@]}")"
		for i in "${!n[@]}"; do
			a=${n[$i]} b=${n[$(((i + 1) % ${#n[@]}))]}
			echo "    $(full "$a") -> $(full "$b"): $(edge_syms "$graph" "$a" "$b")"
		done
		bad=1
	done < <(cycles <"$live")
	rm -f "$live"
	echo "layers: $nc cycles"
	[ $nc = 0 ] || bad=1
	return $bad
}

# The objects to judge: dm-backup-*.o in the dir, but only those the last
# link used when Kbuild's list of them (dm-backup.mod, two levels up) is
# there: the build copies sources over old ones, so the object of a file
# since removed or renamed may linger and would add edges that are gone.
objects() {
	local dir=$1 mod=$1/../../dm-backup.mod o
	for o in "$dir"/dm-backup-*.o; do
		[ -e "$o" ] || continue
		if [ -f "$mod" ] && ! grep -q "/$(basename "$o")\$" "$mod"; then
			echo "layers: $(basename "$o") skipped: not in $(realpath "$mod")" >&2
			continue
		fi
		echo "$o"
	done
}

run() {
	local dir=$1 dot=$2 graph objs bad=0
	mapfile -t objs < <(objects "$dir")
	[ ${#objs[@]} -gt 0 ] || { echo "layers: no dm-backup-*.o in $dir" >&2; exit 2; }
	graph=$(mktemp)
	symbols "${objs[@]}" | edges >"$graph"
	echo "layers: ${#objs[@]} objects in $dir"
	print_graph "$graph"
	if [ -n "$dot" ]; then
		mkdir -p "$(dirname "$dot")"
		write_dot "$graph" "$dot"
		echo "layers: DOT graph in $dot"
	fi
	check_unplaced "${objs[@]}" || bad=1
	check_upward "$graph" || bad=1
	check_cycles "$graph" || bad=1
	if [ $bad = 0 ]; then
		echo "layers: ok ($(wc -l <"$graph") edges)"
	else
		echo "layers: FAILED (layers top to bottom: $(layer_order))"
	fi
	rm -f "$graph"
	return $bad
}

# ---- self-test ---------------------------------------------------------------
# Calibrate the checker on hand-made objects: compile tiny C files that call
# each other as described, run this script on them, check exit and output.

# st_obj DIR NAME "C source": DIR/dm-backup-NAME.o.
st_obj() {
	printf '%s\n' "$3" >"$1/dm-backup-$2.c"
	gcc -c -O0 -o "$1/dm-backup-$2.o" "$1/dm-backup-$2.c"
}

# A module that obeys the layers: every call downward, one within layer 0
# (target -> view) and one within layer 1 (job -> walk), a kernel symbol
# (printf stands for one) that must be ignored, data (R, B) used downward,
# a tracepoint fired from copy but instantiated in target.
st_good() {
	st_obj "$1" target 'int v_reg(void); int j_start(void);
		int __tracepoint_dm_backup_state;
		int init_module(void) { return v_reg() + j_start(); }'
	st_obj "$1" view 'int c_alloc(void); extern const char *const names[];
		int v_reg(void) { return c_alloc() + !names[0]; }'
	st_obj "$1" sysfs 'extern const char *const names[];
		int s_attach(void) { return !names[1]; }'
	st_obj "$1" handover 'int c_alloc(void); int h_take(void) { return c_alloc(); }'
	st_obj "$1" job 'int w_kick(void); int c_alloc(void);
		int j_start(void) { return w_kick() + c_alloc(); }'
	st_obj "$1" walk 'int c_alloc(void); int k_next(void);
		int w_kick(void) { return c_alloc() + k_next(); }'
	st_obj "$1" copy '#include <stdio.h>
		extern int __tracepoint_dm_backup_state; extern int map[];
		int k_next(void); int c_alloc(void)
		{ printf("x"); return k_next() + map[0] + __tracepoint_dm_backup_state; }'
	st_obj "$1" chunks 'const char *const names[] = { "a", "b" }; int map[4];
		int k_next(void) { return map[1]; }'
}

# st_case NAME WANT_RC DIR PATTERN...: run on DIR, expect the exit code and
# every extended regex PATTERN among the output lines; a PATTERN "!RE": no
# line matches RE.
st_case() {
	local name=$1 want=$2 dir=$3 out rc=0 p ok=1
	shift 3
	out=$("$BASH" "$0" --dot "$dir/layers.dot" "$dir" 2>&1) || rc=$?
	printf '%s\n' "$out" | sed 's/^/    /'
	[ "$rc" = "$want" ] || { echo "  exit $rc, want $want"; ok=0; }
	for p in "$@"; do
		if [ "${p#!}" != "$p" ]; then
			! printf '%s\n' "$out" | grep -Eq -- "${p#!}" ||
				{ echo "  unwanted: $p"; ok=0; }
		else
			printf '%s\n' "$out" | grep -Eq -- "$p" || { echo "  missing: $p"; ok=0; }
		fi
	done
	if [ $ok = 1 ]; then echo "self-test: $name: PASS"; else echo "self-test: $name: FAIL"; fi
	[ $ok = 1 ]
}

ST_TMP=
self_test() {
	local tmp fail=0
	# A global for the trap: it runs after self_test's locals are gone.
	ST_TMP=$(mktemp -d)
	trap 'rm -rf "$ST_TMP"' EXIT
	tmp=$ST_TMP
	mkdir "$tmp/good" "$tmp/cycle" "$tmp/up" "$tmp/unplaced"

	st_good "$tmp/good"
	st_case "downward only" 0 "$tmp/good" '^layers: ok \(12 edges\)$' \
		'^dm-backup-copy -> dm_backup_trace.h: trace_dm_backup_state$' \
		'^dm-backup-sysfs -> dm-backup-chunks: names$' || fail=1

	# walk calls back into job: a cycle inside layer 1, no upward edge.
	st_good "$tmp/cycle"
	st_obj "$tmp/cycle" walk 'int c_alloc(void); int k_next(void); int j_start(void);
		int w_kick(void) { return c_alloc() + k_next() + j_start(); }'
	st_case "cycle within a layer" 1 "$tmp/cycle" \
		'^violation: cycle within a layer: (dm-backup-)job -> \1walk -> \1job$' \
		'^    dm-backup-walk -> dm-backup-job: j_start$' '!upward' || fail=1

	# chunks calls the copy engine: upward, and a cycle copy -> chunks -> copy.
	st_good "$tmp/up"
	st_obj "$tmp/up" chunks 'const char *const names[] = { "a", "b" }; int map[4];
		int c_alloc(void); int k_next(void) { return map[1] + c_alloc(); }'
	st_case "upward call" 1 "$tmp/up" \
		'^violation: upward (dm-backup-)chunks \(layer 3\) -> \1copy \(layer 2\): c_alloc' \
		'^cycle: (dm-backup-)chunks -> \1copy -> \1chunks \(upward: chunks -> copy\)$' \
		'!cycle within' || fail=1

	# A file the table does not know.
	st_good "$tmp/unplaced"
	st_obj "$tmp/unplaced" extra 'int k_next(void); int x(void) { return k_next(); }'
	st_case "object in no layer" 1 "$tmp/unplaced" \
		'^violation: dm-backup-extra.o is in no layer' || fail=1

	if [ $fail = 0 ]; then echo "self-test: ok"; else echo "self-test: FAILED"; fi
	return $fail
}

main() {
	local dot="$TOP/build/layers.dot"
	while [ $# -gt 0 ]; do
		case $1 in
		--self-test) self_test; return ;;
		--dot) [ $# -ge 2 ] || usage; dot=$2; shift 2 ;;
		-h|--help) usage ;;
		-*) usage ;;
		*) break ;;
		esac
	done
	[ $# -le 1 ] || usage
	if [ $# = 0 ]; then
		set -- "$(default_objdir)"
		[ -n "$1" ] ||
			{ echo "layers: no 6.1 kernel installed; name an objdir" >&2; exit 2; }
	fi
	run "$1" "$dot"
}

main "$@"
