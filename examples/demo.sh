#!/bin/sh
# make demo: run the queue + cache demo in a temporary data directory.
b=${1:-build}
dir=$(mktemp -d "${TMPDIR:-/tmp}/ksched-demo.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT INT TERM
"$b/examples/queue_demo" "$dir/data" 300
