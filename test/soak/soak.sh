#!/usr/bin/env bash
# Soak: runs cmd/edge (embedded NATS, etcd and controller, as one process)
# for $SOAK_DURATION under stream churn, player churn and a low-rate abuse
# mix, samples the edge's RSS (/proc/PID/status) and goroutine count
# (go_goroutines on /metrics) every $SAMPLE_EVERY into a CSV, and at the end
# prints first/last/max and the slope per minute and plots them as SVG.
#
#   test/soak/soak.sh                        # 10 minutes
#   SOAK_DURATION=6m OUT=/tmp/soak test/soak/soak.sh
#
# Load: $CHURNERS loops each run the load tool (test/load) again and again
# with fresh stream names: each run starts $PUBLISHERS publishers, has
# $PLAYERS players join over 2 s, play for $RUN_FOR and leave, then stops its
# streams; the loops start staggered, so a stream starts or stops every few
# seconds. Abuse: one connection every $ABUSE_EVERY, cycling through random
# bytes, a truncated handshake, a stalled handshake and garbage after C1.
# The first sample is taken before the load starts; after the load stops
# the script keeps sampling for $SETTLE.
#
# Settings (environment): SOAK_DURATION (10m), SAMPLE_EVERY (10), CHURNERS
# (2), PUBLISHERS (2), PLAYERS (6), RUN_FOR (8s), ABUSE_EVERY (500ms),
# SETTLE (30, seconds), NICE (10: builds and load tool; the edge runs at 0),
# OUT (results directory; default a new one under /tmp).
# Results: $OUT/samples.csv, $OUT/summary.md, $OUT/soak.svg and the logs.
# Exit status: 0 when the run completed (the figures are for a reader to
# judge; the script sets no threshold), 1 when it could not run or the
# edge exited.
# Needs Linux, go, ffmpeg (for the load tool's generated input) and curl.
set -euo pipefail
cd "$(dirname "$0")/../.."

SOAK_DURATION=${SOAK_DURATION:-10m}
SAMPLE_EVERY=${SAMPLE_EVERY:-10}
CHURNERS=${CHURNERS:-2}
PUBLISHERS=${PUBLISHERS:-2}
PLAYERS=${PLAYERS:-6}
RUN_FOR=${RUN_FOR:-8s}
ABUSE_EVERY=${ABUSE_EVERY:-500ms}
SETTLE=${SETTLE:-30}
NICE=${NICE:-10}
OUT=${OUT:-$(mktemp -d /tmp/soak.XXXXXX)}

for tool in go ffmpeg curl; do
	command -v "$tool" >/dev/null || { echo "soak: $tool is required" >&2; exit 1; }
done
# seconds DURATION converts a Go-style duration of whole s, m or h to seconds.
seconds() {
	case "$1" in
	*h) echo $((${1%h} * 3600)) ;;
	*m) echo $((${1%m} * 60)) ;;
	*s) echo "${1%s}" ;;
	*) echo "$1" ;;
	esac
}
total=$(seconds "$SOAK_DURATION")

mkdir -p "$OUT/bin"
echo "soak: results in $OUT" >&2
nice -n "$NICE" go build -o "$OUT/bin/edge" ./cmd/edge
nice -n "$NICE" go build -o "$OUT/bin/load" ./test/load
nice -n "$NICE" go build -o "$OUT/bin/soak" ./test/soak
[ -f "$OUT/input.flv" ] || nice -n "$NICE" "$OUT/bin/load" -generate-input "$OUT/input.flv"

SCRIPT=soak
# shellcheck source=test/load/lib.sh
. test/load/lib.sh

rtmp=$(free_port)
http=$(free_port)
"$OUT/bin/edge" -id soak-edge -rtmp-addr "127.0.0.1:$rtmp" -http-addr "127.0.0.1:$http" \
	-embedded-nats-addr "127.0.0.1:$(free_port)" -embedded-etcd-addr "127.0.0.1:$(free_port)" \
	-embedded-etcd-dir "$OUT/etcd" -controller-addr= -log-level warn >"$OUT/edge.log" 2>&1 &
edge=$!
pids+=("$edge")
for _ in $(seq 300); do
	curl -sf "http://127.0.0.1:$http/readyz" >/dev/null 2>&1 && break
	kill -0 "$edge" 2>/dev/null || { echo "soak: the edge exited:" >&2; tail -20 "$OUT/edge.log" >&2; exit 1; }
	sleep 0.1
done
curl -sf "http://127.0.0.1:$http/readyz" >/dev/null || { echo "soak: the edge is not ready" >&2; exit 1; }

start=$(date +%s)
end=$((start + total))

# sample PHASE appends one row to the CSV.
echo "t_s,rss_kib,goroutines,phase" >"$OUT/samples.csv"
sample() {
	local rss g
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$edge/status")
	g=$(curl -sf --max-time 5 "http://127.0.0.1:$http/metrics" | awk '/^go_goroutines / {print $2}')
	echo "$(($(date +%s) - start)),$rss,${g:-0},$1" >>"$OUT/samples.csv"
}

# churn N: runs the load tool in a loop until the end of the soak.
churn() {
	local i=0 rc
	sleep $(($1 * 5))
	while [ "$(date +%s)" -lt "$end" ]; do
		rc=0
		nice -n "$NICE" "$OUT/bin/load" -edges "127.0.0.1:$rtmp" -input "$OUT/input.flv" \
			-publishers "$PUBLISHERS" -players "$PLAYERS" -ramp 2s -duration "$RUN_FOR" -drain 1s \
			-stream-prefix "soak-c$1-r$i" -json >"$OUT/load-c$1-r$i.json" 2>>"$OUT/load-c$1.log" || rc=$?
		echo "$i $rc" >>"$OUT/load-c$1.status"
		i=$((i + 1))
		sleep 1
	done
}

sample start
churners=()
for c in $(seq 0 $((CHURNERS - 1))); do
	churn "$c" &
	churners+=($!)
	pids+=($!)
done
nice -n "$NICE" "$OUT/bin/soak" abuse -addr "127.0.0.1:$rtmp" -duration "$SOAK_DURATION" \
	-interval "$ABUSE_EVERY" >"$OUT/abuse.txt" 2>&1 &
abuse=$!
pids+=("$abuse")

while [ "$(date +%s)" -lt "$end" ]; do
	sleep "$SAMPLE_EVERY"
	kill -0 "$edge" 2>/dev/null || { echo "soak: the edge exited:" >&2; tail -20 "$OUT/edge.log" >&2; exit 1; }
	sample load
done
# The last load runs end a few seconds after the soak's end; wait for them.
for p in "${churners[@]}" "$abuse"; do wait "$p" || true; done
settle_end=$(($(date +%s) + SETTLE))
while [ "$(date +%s)" -lt "$settle_end" ]; do
	sleep "$SAMPLE_EVERY"
	sample idle
done

runs=$(cat "$OUT"/load-c*.status | wc -l)
passed=$(awk '$2 == 0' "$OUT"/load-c*.status | wc -l)
{
	echo "soak of $SOAK_DURATION: $runs load runs ($PUBLISHERS publishers and $PLAYERS players each, $CHURNERS in parallel), $passed met the load tool's delivery and latency thresholds"
	cat "$OUT/abuse.txt"
	echo
	"$OUT/bin/soak" report -csv "$OUT/samples.csv" -svg "$OUT/soak.svg" \
		-title "cmd/edge soak, $SOAK_DURATION: RSS and goroutines every ${SAMPLE_EVERY}s"
} | tee "$OUT/summary.md"
