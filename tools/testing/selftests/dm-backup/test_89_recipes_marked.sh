#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Every code block of README, dm-backup.rst and dmbackup(8) is marked either
# as a recipe, naming the test that runs it, or as not a recipe (recipes.sh);
# and that test runs it (a line "recipe_run <doc> <NAME>", or "one <doc>
# <NAME> ..." where the test's own helper one calls recipe_run).  A new recipe without a
# test, or an unmarked block, fails here.
# tier: user
# timeout: 60
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"
. "$DMBT_DIR/recipes.sh"

bad=0
for doc in README rst man; do
	f=$(recipe_doc "$doc")
	[ -f "$f" ] || fail "$f is not in the initramfs"
	recipe_blocks "$f" | grep -v '^[0-9]* | ' >"$DMBT_TMP/blocks"
	info "$doc: $(grep -c ' recipe ' "$DMBT_TMP/blocks") recipes," \
	     "$(grep -c ' not ' "$DMBT_TMP/blocks") other blocks"
	while read -r line kind name test; do
		case $kind in
		unmarked)
			echo "$f:$line: a code block that is neither a recipe nor marked as not one"
			bad=1
			;;
		recipe)
			test=${test#(}
			test=${test%)}
			if [ ! -f "$DMBT_DIR/$test.sh" ]; then
				echo "$f:$line: recipe $name names the test $test," \
				     "which does not exist"
				bad=1
			elif ! grep -Eq "^[[:space:]]*(recipe_run|one) $doc $name( |\$)" \
				"$DMBT_DIR/$test.sh"; then
				echo "$f:$line: $test does not run the recipe $name" \
				     "(recipe_run $doc $name," \
				     "or one $doc $name with its own helper one)"
				bad=1
			fi
			;;
		esac
	done <"$DMBT_TMP/blocks"
done
[ $bad -eq 0 ] || fail "some code blocks of the documents are not covered"
