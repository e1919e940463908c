#!/bin/sh
# Describe the machine, then run every benchmark executable in turn.
# Usage: run.sh BUILD_DIR [ARG...]
# Runs BUILD_DIR/bench/bench_* (ARGs, e.g. --quick, go to each of them) and
# exits with the status of the first one that fails, or 0.
if [ $# -lt 1 ]; then
	echo "usage: run.sh BUILD_DIR [ARG...]" >&2
	exit 2
fi
b=$1
shift
tmp=${TMPDIR:-/tmp}
model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
fs=$(df -PT "$tmp" 2>/dev/null | awk 'NR == 2 { print $2 }')

echo "machine: $(nproc) cores, ${model:-unknown CPU}," \
	"$(awk '/^MemTotal/ { printf "%d MB RAM", $2 / 1024 }' /proc/meminfo)"
echo "kernel:  $(uname -srm)"
echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "stores:  $tmp (${fs:-unknown file system})"

status=0
found=0
for t in "$b"/bench/bench_*; do
	case $t in *.d | *.o) continue ;; esac
	if [ ! -f "$t" ] || [ ! -x "$t" ]; then
		continue
	fi
	found=1
	echo
	echo "== $(basename "$t")${*:+ $*}"
	start=$(date +%s)
	"$t" "$@"
	rc=$?
	echo "== $(basename "$t"): exit $rc, $(($(date +%s) - start)) s"
	[ "$rc" != 0 ] && [ "$status" = 0 ] && status=$rc
done
if [ "$found" = 0 ]; then
	echo "run.sh: no benchmark executables in $b/bench" >&2
	exit 1
fi
exit "$status"
