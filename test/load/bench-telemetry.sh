#!/usr/bin/env bash
# Telemetry overhead on the fan-out path: the same edge, the same stream and
# the same players, with telemetry off (no OTLP endpoint, nobody scraping)
# and on (every session traced and exported over OTLP/gRPC to a receiver,
# /metrics scraped every $SCRAPE), alternated in one run. Reports the edge's
# CPU seconds per delivered Gbit, its RSS and the p99 latency for each, the
# medians, and the on/off ratio.
#
#   NICE=-10 test/load/bench-telemetry.sh
#   PLAYERS=800 RUNS=5 test/load/bench-telemetry.sh
#
# Settings (environment): PLAYERS (500), RUNS (5 of each), DURATION (20s),
# RAMP (5s), SCRAPE (5s), SERVER_CPU (0), LOAD_CPU (1), NICE (0; see
# bench-fanout.sh), OUT (results directory; default a new one under /tmp).
# The OTLP receiver (test/load/otlpsink), the etcd of the cluster (the
# controller program) and the scraper run on the load tool's CPU.
set -euo pipefail
if [ "${NICE:-0}" != 0 ] && [ -z "${BENCH_TELEMETRY_SESSION:-}" ]; then
	export BENCH_TELEMETRY_SESSION=1
	exec setsid --wait "$0" "$@"
fi
cd "$(dirname "$0")/../.."

PLAYERS=${PLAYERS:-500}
RUNS=${RUNS:-5}
DURATION=${DURATION:-20s}
RAMP=${RAMP:-5s}
SCRAPE=${SCRAPE:-5s}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
NICE=${NICE:-0}
OUT=${OUT:-$(mktemp -d /tmp/bench-telemetry.XXXXXX)}
if [ "$NICE" != 0 ] && [ -w /proc/self/autogroup ]; then
	echo "$NICE" >/proc/self/autogroup
fi
for tool in go taskset ffmpeg curl python3; do
	command -v "$tool" >/dev/null || { echo "bench-telemetry: $tool is required" >&2; exit 1; }
done

mkdir -p "$OUT/bin"
echo "results in $OUT" >&2
go build -o "$OUT/bin/edge" ./cmd/edge
go build -o "$OUT/bin/controller" ./cmd/controller
go build -o "$OUT/bin/load" ./test/load
go build -o "$OUT/bin/otlpsink" ./test/load/otlpsink
[ -f "$OUT/input.flv" ] || "$OUT/bin/load" -generate-input "$OUT/input.flv"

SCRIPT=bench-telemetry
# shellcheck source=test/load/lib.sh
. test/load/lib.sh

# run MODE REPETITION: one edge, telemetry off or on, one load run.
run() {
	local mode=$1 i=$2 etcd port http sink="" scraper="" env=()
	etcd=$(free_port)
	taskset -c "$LOAD_CPU" "$OUT/bin/controller" -http-addr "127.0.0.1:$(free_port)" \
		-embedded-nats-addr "127.0.0.1:$(free_port)" -embedded-etcd-addr "127.0.0.1:$etcd" \
		-embedded-etcd-dir "$OUT/etcd-$mode-$i" -log-level error >"$OUT/controller-$mode-$i.log" 2>&1 &
	local ctl=$!
	pids+=("$ctl")
	wait_port "$etcd"
	if [ "$mode" = on ]; then
		local otlp
		otlp=$(free_port)
		taskset -c "$LOAD_CPU" "$OUT/bin/otlpsink" -addr "127.0.0.1:$otlp" >"$OUT/otlpsink-$i.log" 2>&1 &
		sink=$!
		pids+=("$sink")
		wait_port "$otlp"
		env=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$otlp")
	fi
	port=$(free_port)
	http=$(free_port)
	env "${env[@]}" nice -n "$NICE" taskset -c "$SERVER_CPU" "$OUT/bin/edge" -rtmp-addr "127.0.0.1:$port" \
		-http-addr "127.0.0.1:$http" -embedded-nats-addr "127.0.0.1:$(free_port)" \
		-etcd-endpoints "127.0.0.1:$etcd" -log-level error >"$OUT/edge-$mode-$i.log" 2>&1 &
	local pid=$!
	pids+=("$pid")
	wait_port "$port"
	if [ "$mode" = on ]; then
		(while sleep "${SCRAPE%s}"; do curl -s -o /dev/null "http://127.0.0.1:$http/metrics"; done) &
		scraper=$!
		pids+=("$scraper")
	fi
	echo "--- $mode, repetition $i, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
	nice -n "$NICE" taskset -c "$LOAD_CPU" "$OUT/bin/load" -json -label "telemetry-$mode" \
		-edges "127.0.0.1:$port" -server-pid "$pid" -input "$OUT/input.flv" \
		-players "$PLAYERS" -duration "$DURATION" -ramp "$RAMP" >"$OUT/$mode-$i.json" || [ $? -eq 3 ]
	[ -z "$scraper" ] || kill "$scraper" 2>/dev/null || true
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	if [ -n "$sink" ]; then
		kill "$sink"
		wait "$sink" 2>/dev/null || true
		cat "$OUT/otlpsink-$i.log" >&2
	fi
	kill "$ctl"
	wait "$ctl" 2>/dev/null || true
	pids=()
}

for i in $(seq "$RUNS"); do
	# Alternate the order so that drifting machine load favours neither.
	if [ $((i % 2)) -eq 1 ]; then run off "$i"; run on "$i"; else run on "$i"; run off "$i"; fi
done

python3 - "$OUT" "$RUNS" "$PLAYERS" <<'PY'
import json, statistics, sys
out, runs, players = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = {}
for mode in ("off", "on"):
    rows[mode] = [json.load(open(f"{out}/{mode}-{i}.json")) for i in range(1, runs + 1)]
def fig(r):
    s = r["server"]
    return (s["cpu_s_per_gbit"], s["rss_bytes"] / 1e6, r["play"]["latency_ms"]["p99"], r["play"]["delivery"])
print(f"\n{players} players of one 720p30 stream, edge on one CPU, load tool, etcd, OTLP receiver and scraper on the other; {runs} runs each, alternated.\n")
print("| telemetry | CPU s per delivered Gbit (runs) | median | RSS MB (median) | p99 ms (median) | delivery (min) |")
print("|---|---|---|---|---|---|")
med = {}
for mode in ("off", "on"):
    f = [fig(r) for r in rows[mode]]
    cpu = [x[0] for x in f]
    med[mode] = statistics.median(cpu)
    print(f"| {mode} | {', '.join(f'{c:.3f}' for c in cpu)} | {med[mode]:.3f} | {statistics.median(x[1] for x in f):.0f} | {statistics.median(x[2] for x in f):.1f} | {min(x[3] for x in f):.4f} |")
pairs = [fig(on)[0] / fig(off)[0] for on, off in zip(rows["on"], rows["off"])]
print(f"\nratio on/off of the medians: {med['on'] / med['off']:.3f}; per repetition: {', '.join(f'{p:.3f}' for p in pairs)} (median {statistics.median(pairs):.3f})")
PY
