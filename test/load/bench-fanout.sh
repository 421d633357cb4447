#!/usr/bin/env bash
# Fan-out benchmark: one publisher (720p30, ~3 Mbit/s H.264 + AAC) fanned out
# to as many players as a server sustains over loopback, for the servers in
# $SERVERS (cmd/edge with its embedded NATS, examples/server, nginx-rtmp with
# one worker), in the same run with the same tool and the same stream. Each server is pinned to CPU $SERVER_CPU and the load tool
# to CPU $LOAD_CPU. For each server and repetition the tool sweeps the player
# count (doubling from $START, then bisecting) until delivery < 99.9% or p99
# latency > 1 s; the script then prints a markdown table with the medians.
#
#   test/load/bench-fanout.sh               # 3 repetitions
#   RUNS=1 START=100 test/load/bench-fanout.sh
#
# Settings (environment): SERVERS ("edge nginx-rtmp"; any of edge,
# examples-server, nginx-rtmp), RUNS (3), START (200 players), MAX (4000),
# DURATION (6s per step, after the ramp), RAMP (2s), SERVER_CPU (0),
# LOAD_CPU (1), NICE (0; e.g. -10, as root, so that other work on a shared
# machine disturbs the measurement less: the script then runs in a session
# of its own and gives it that nice value, since with autogroup scheduling
# the kernel shares CPU time between sessions and a process's own nice value
# only orders it within its session), OUT (results directory; default a new
# one under /tmp).
# Needs Linux, taskset, ffmpeg, nginx with libnginx-mod-rtmp (make deps).
set -euo pipefail
if [ "${NICE:-0}" != 0 ] && [ -z "${BENCH_FANOUT_SESSION:-}" ]; then
	export BENCH_FANOUT_SESSION=1
	exec setsid --wait "$0" "$@"
fi
cd "$(dirname "$0")/../.."

SERVERS=${SERVERS:-edge nginx-rtmp}
RUNS=${RUNS:-3}
START=${START:-200}
MAX=${MAX:-4000}
DURATION=${DURATION:-6s}
RAMP=${RAMP:-2s}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
NICE=${NICE:-0}
OUT=${OUT:-$(mktemp -d /tmp/bench-fanout.XXXXXX)}
NGINX_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so
if [ "$NICE" != 0 ] && [ -w /proc/self/autogroup ]; then
	echo "$NICE" >/proc/self/autogroup
fi

for tool in go taskset nginx ffmpeg; do
	command -v "$tool" >/dev/null || { echo "bench-fanout: $tool is required (make deps)" >&2; exit 1; }
done
[ -f "$NGINX_MODULE" ] || { echo "bench-fanout: $NGINX_MODULE is missing (make deps)" >&2; exit 1; }

mkdir -p "$OUT/bin"
echo "results in $OUT" >&2
go build -o "$OUT/bin/server" ./examples/server
go build -o "$OUT/bin/edge" ./cmd/edge
go build -o "$OUT/bin/controller" ./cmd/controller
go build -o "$OUT/bin/load" ./test/load
[ -f "$OUT/input.flv" ] || "$OUT/bin/load" -generate-input "$OUT/input.flv"

SCRIPT=bench-fanout
# shellcheck source=test/load/lib.sh
. test/load/lib.sh

stop() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	local keep=() p
	for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	pids=("${keep[@]}")
}

# sweep LABEL PORT PID REPETITION: runs the load tool against a server.
sweep() {
	echo "--- $1, repetition $4, load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/loadavg.txt" >&2
	nice -n "$NICE" taskset -c "$LOAD_CPU" "$OUT/bin/load" -sweep -json -label "$1" \
		-edges "127.0.0.1:$2" -server-pid "$3" -input "$OUT/input.flv" \
		-players "$START" -sweep-max "$MAX" -duration "$DURATION" -ramp "$RAMP" \
		>"$OUT/$1-$4.json" || [ $? -eq 3 ]
	echo "    done, load average $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/loadavg.txt"
}

run_examples_server() {
	local port pid
	port=$(free_port)
	nice -n "$NICE" taskset -c "$SERVER_CPU" "$OUT/bin/server" -addr "127.0.0.1:$port" -log-level error \
		>"$OUT/examples-server-$1.log" 2>&1 &
	pid=$!
	pids+=("$pid")
	wait_port "$port"
	sweep examples-server "$port" "$pid" "$1"
	stop "$pid"
}

run_edge() {
	local port pid etcd ctl
	# etcd runs apart from the edge, as in a deployment: the controller
	# program with its embedded etcd, pinned to the load tool's CPU. The
	# edge keeps its embedded NATS server (the media path) on its own CPU.
	etcd=$(free_port)
	taskset -c "$LOAD_CPU" "$OUT/bin/controller" -http-addr "127.0.0.1:$(free_port)" \
		-embedded-nats-addr "127.0.0.1:$(free_port)" -embedded-etcd-addr "127.0.0.1:$etcd" \
		-embedded-etcd-dir "$OUT/etcd-edge-$1" -log-level error >"$OUT/controller-$1.log" 2>&1 &
	ctl=$!
	pids+=("$ctl")
	wait_port "$etcd"
	port=$(free_port)
	nice -n "$NICE" taskset -c "$SERVER_CPU" "$OUT/bin/edge" -rtmp-addr "127.0.0.1:$port" \
		-http-addr "127.0.0.1:$(free_port)" -embedded-nats-addr "127.0.0.1:$(free_port)" \
		-etcd-endpoints "127.0.0.1:$etcd" -log-level error \
		>"$OUT/edge-$1.log" 2>&1 &
	pid=$!
	pids+=("$pid")
	wait_port "$port"
	sweep edge "$port" "$pid" "$1"
	stop "$pid"
	stop "$ctl"
}

run_nginx() {
	local port dir master worker
	port=$(free_port)
	dir="$OUT/nginx-$1"
	mkdir -p "$dir"
	cat >"$dir/nginx.conf" <<-EOF
		load_module $NGINX_MODULE;
		daemon off;
		master_process on;
		worker_processes 1;
		worker_rlimit_nofile 16384;
		pid $dir/nginx.pid;
		lock_file $dir/nginx.lock;
		error_log $dir/error.log warn;
		events { worker_connections 16384; }
		rtmp {
		    server {
		        listen 127.0.0.1:$port;
		        chunk_size 4096;
		        application live {
		            live on;
		            record off;
		        }
		    }
		}
	EOF
	nice -n "$NICE" taskset -c "$SERVER_CPU" nginx -p "$dir/" -c "$dir/nginx.conf" >"$dir/stderr.log" 2>&1 &
	master=$!
	pids+=("$master")
	wait_port "$port"
	worker=$(pgrep -P "$master" | head -n 1)
	[ -n "$worker" ] || { echo "bench-fanout: no nginx worker" >&2; exit 1; }
	sweep nginx-rtmp "$port" "$worker" "$1"
	stop "$master"
}

read -r -a servers <<<"$SERVERS"
for i in $(seq "$RUNS"); do
	# Alternate the order so that drifting machine load favours no server.
	order=("${servers[@]}")
	if [ $((i % 2)) -eq 0 ]; then
		order=()
		for ((k = ${#servers[@]} - 1; k >= 0; k--)); do order+=("${servers[k]}"); done
	fi
	for srv in "${order[@]}"; do
		case "$srv" in
		edge) run_edge "$i" ;;
		examples-server) run_examples_server "$i" ;;
		nginx-rtmp) run_nginx "$i" ;;
		*) echo "bench-fanout: unknown server $srv" >&2; exit 1 ;;
		esac
	done
done

echo
echo "Fan-out of one 720p30 ~3 Mbit/s stream over loopback, server on CPU $SERVER_CPU, load tool on CPU $LOAD_CPU;"
echo "$RUNS repetition(s), steps of $RAMP ramp + $DURATION, pass = delivery >= 99.9% and p99 latency <= 1 s, nice $NICE."
echo
files=()
for i in $(seq "$RUNS"); do
	for srv in "${servers[@]}"; do files+=("$OUT/$srv-$i.json"); done
done
"$OUT/bin/load" -report "${files[@]}"
echo
echo "Machine load (1, 5, 15 min load averages) around each sweep:"
echo
sed 's/^/    /' "$OUT/loadavg.txt"
