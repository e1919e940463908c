#!/bin/sh
# Run test executables and print one summary line "N passed, N failed".
# Usage: run.sh BUILD_DIR BIN... [-- ASAN_BIN...]
# Counts cmocka's per-test lines; a binary that dies without reporting all
# of its tests counts as one more failure.
b=$1
shift
passed=0
failed=0
skipped=0
failed_list=""
log=$b/test-logs
mkdir -p "$log"
phase=""
for t in "$@"; do
	if [ "$t" = "--" ]; then
		phase="asan:"
		continue
	fi
	name=$phase$(basename "$t")
	out=$log/$(echo "$name" | tr ':' '_').log
	start=$(date +%s)
	KSCHED_TEST_SLOW=${phase:+1} "$t" >"$out" 2>&1
	rc=$?
	ok=$(grep -c '^\[       OK \]' "$out")
	bad=$(grep '^\[  FAILED  \] [a-z_]' "$out" | sort -u | wc -l)
	skip=$(grep '^\[  SKIPPED \] [a-z_]' "$out" | sort -u | wc -l)
	if [ "$rc" != 0 ] && [ "$bad" = 0 ]; then
		bad=1
	fi
	passed=$((passed + ok))
	failed=$((failed + bad))
	skipped=$((skipped + skip))
	status="ok"
	[ "$bad" != 0 ] && { status="FAILED"; failed_list="$failed_list $name"; }
	printf '%-40s %3d passed %2d failed %2d skipped  %3ss  %s\n' \
		"$name" "$ok" "$bad" "$skip" "$(($(date +%s) - start))" "$status"
	if [ "$bad" != 0 ]; then
		sed 's/^/    | /' "$out" | tail -n 40
	fi
done
[ -n "$failed_list" ] && echo "failed:$failed_list (logs in $log)"
if [ "$skipped" != 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" = 0 ]
