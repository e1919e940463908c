#!/bin/sh
# make demo: a small real cluster on loopback.  Starts a master (its LMDB
# data in a temporary directory) and three workers of different sizes on
# 127.0.0.1, submits a few hundred Monte Carlo pi tasks with deliberate
# duplicates, prints a summary, and stops every process it started.
b=${1:-build}
n=${2:-300}
dir=$(mktemp -d "${TMPDIR:-/tmp}/ksched-demo.XXXXXX") || exit 1
pids=""

cleanup() {
	for p in $pids; do kill -TERM "$p" 2>/dev/null; done
	for p in $pids; do
		i=0
		while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_file() { # path pid
	i=0
	while [ ! -s "$1" ]; do
		kill -0 "$2" 2>/dev/null || return 1
		[ $i -ge 100 ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
}

# Pick ports: a base derived from our PID, tried a few times.
try=0
while :; do
	port=$((20000 + ($$ * 7 + try * 131) % 30000))
	ctl=tcp://127.0.0.1:$port
	dsp=tcp://127.0.0.1:$((port + 1))
	hbt=tcp://127.0.0.1:$((port + 2))
	"$b/bin/ksched-master" --data "$dir/data" --control "$ctl" \
		--dispatch "$dsp" --heartbeat "$hbt" --log-level warn \
		--http 127.0.0.1:0 --ready-file "$dir/master.ready" 2>>"$dir/master.log" &
	mpid=$!
	if wait_file "$dir/master.ready" $mpid; then
		pids="$mpid"
		break
	fi
	kill -KILL $mpid 2>/dev/null
	wait $mpid 2>/dev/null
	try=$((try + 1))
	if [ $try -ge 5 ]; then
		echo "demo: the master did not start:" >&2
		cat "$dir/master.log" >&2
		exit 1
	fi
done
echo "master   pid $mpid  control $ctl"

for w in "small 1000 1024 2" "medium 2000 2048 4" "large 4000 4096 8"; do
	set -- $w
	"$b/bin/ksched-worker" --id "$1" --cpu "$2" --mem "$3" --slots "$4" \
		--dispatch "$dsp" --heartbeat "$hbt" --log-level warn \
		--ready-file "$dir/$1.ready" 2>>"$dir/$1.log" &
	wpid=$!
	pids="$pids $wpid"
	if ! wait_file "$dir/$1.ready" $wpid; then
		echo "demo: worker $1 did not start:" >&2
		cat "$dir/$1.log" >&2
		exit 1
	fi
	echo "worker   pid $wpid  $1: cpu ${2}m, mem ${3} MB, $4 slots"
done

"$b/examples/cluster_demo" "$ctl" "$n"
