#!/usr/bin/env bash
# Cross-edge latency: what playing from another edge adds to publish-to-play
# latency. Edge A runs the embedded NATS server, edge B joins it; both are
# pinned to CPU $SERVER_CPU, the load tool to CPU $LOAD_CPU. Each repetition
# runs the same load twice, in alternating order: players on edge A (same
# edge as the publisher) and players on edge B (publisher still on A, every
# frame crosses NATS to B). The script prints p50/p95/p99 of both and the
# difference.
#
#   test/load/bench-cross-edge.sh            # 200 players, 5 repetitions
#   PLAYERS=50 RUNS=3 test/load/bench-cross-edge.sh
#
# Settings (environment): PLAYERS (200), RUNS (5), DURATION (15s), RAMP (3s),
# SERVER_CPU (0), LOAD_CPU (1), OUT (results directory; default a new one
# under /tmp). Needs Linux, taskset, ffmpeg.
set -euo pipefail
cd "$(dirname "$0")/../.."

PLAYERS=${PLAYERS:-200}
RUNS=${RUNS:-5}
DURATION=${DURATION:-15s}
RAMP=${RAMP:-3s}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
OUT=${OUT:-$(mktemp -d /tmp/bench-cross-edge.XXXXXX)}

for tool in go taskset ffmpeg python3; do
	command -v "$tool" >/dev/null || { echo "bench-cross-edge: $tool is required" >&2; exit 1; }
done
mkdir -p "$OUT/bin"
echo "results in $OUT" >&2
go build -o "$OUT/bin/edge" ./cmd/edge
go build -o "$OUT/bin/load" ./test/load
[ -f "$OUT/input.flv" ] || "$OUT/bin/load" -generate-input "$OUT/input.flv"

SCRIPT=bench-cross-edge
# shellcheck source=test/load/lib.sh
. test/load/lib.sh

nats_port=$(free_port)
etcd_port=$(free_port)
a_port=$(free_port)
b_port=$(free_port)
taskset -c "$SERVER_CPU" "$OUT/bin/edge" -id edge-a -rtmp-addr "127.0.0.1:$a_port" -http-addr "127.0.0.1:$(free_port)" \
	-embedded-nats-addr "127.0.0.1:$nats_port" -embedded-etcd-addr "127.0.0.1:$etcd_port" -embedded-etcd-dir "$OUT/etcd" -controller-addr= \
	-log-level warn >"$OUT/edge-a.log" 2>&1 &
pids+=("$!")
wait_port "$a_port"
taskset -c "$SERVER_CPU" "$OUT/bin/edge" -id edge-b -rtmp-addr "127.0.0.1:$b_port" -http-addr "127.0.0.1:$(free_port)" \
	-nats-url "nats://127.0.0.1:$nats_port" -etcd-endpoints "127.0.0.1:$etcd_port" -log-level warn >"$OUT/edge-b.log" 2>&1 &
pids+=("$!")
wait_port "$b_port"

one() { # label play-port repetition
	echo "--- $1, repetition $3, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
	taskset -c "$LOAD_CPU" "$OUT/bin/load" -json -label "$1" -edges "127.0.0.1:$2" -publish-to "127.0.0.1:$a_port" \
		-stream-prefix "$1-$3" -input "$OUT/input.flv" -players "$PLAYERS" -duration "$DURATION" -ramp "$RAMP" \
		>"$OUT/$1-$3.json" || true
}

for i in $(seq "$RUNS"); do
	if [ $((i % 2)) -eq 1 ]; then
		one same-edge "$a_port" "$i"
		one cross-edge "$b_port" "$i"
	else
		one cross-edge "$b_port" "$i"
		one same-edge "$a_port" "$i"
	fi
done

python3 - "$OUT" "$RUNS" "$PLAYERS" <<'PY'
import json, statistics, sys
out, runs, players = sys.argv[1], int(sys.argv[2]), sys.argv[3]
res = {}
for label in ("same-edge", "cross-edge"):
    rows = []
    for i in range(1, runs + 1):
        with open(f"{out}/{label}-{i}.json") as f:
            s = json.load(f)
        lat = s["play"]["latency_ms"]
        rows.append((lat["p50"], lat["p95"], lat["p99"], s["play"]["delivery"]))
    res[label] = rows
print(f"Publish-to-play latency, {players} players, publisher on edge A; {runs} repetitions (median of each column):")
print()
print("| players on | p50 ms | p95 ms | p99 ms | delivery | p99 per run |")
print("|---|---:|---:|---:|---:|---|")
med = {}
for label, rows in res.items():
    m = [statistics.median(c) for c in zip(*rows)]
    med[label] = m
    runs99 = ", ".join(f"{r[2]:.1f}" for r in rows)
    print(f"| {label} | {m[0]:.2f} | {m[1]:.2f} | {m[2]:.2f} | {m[3]*100:.3f}% | {runs99} |")
print()
d = [c - s for c, s in zip(med["cross-edge"], med["same-edge"])]
print(f"Added by the other edge (medians): p50 {d[0]:+.2f} ms, p95 {d[1]:+.2f} ms, p99 {d[2]:+.2f} ms")
PY
