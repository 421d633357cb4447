# Shell functions shared by the benchmark scripts of test/load; sourced,
# not run. The including script sets SCRIPT (its name, for messages).

# Processes the script started; stopped on exit.
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# free_port prints a TCP port of 127.0.0.1 that nothing listens on, below
# the kernel's ephemeral range: a port in that range can be taken, between
# this check and the server's listen, by the local end of a connection the
# load tool or a server opens.
free_port() {
	local p lo
	lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	[ "$lo" -gt 12000 ] 2>/dev/null || lo=32768
	for _ in $(seq 100); do
		p=$((10000 + RANDOM % (lo - 10000)))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	echo "$SCRIPT: no free port" >&2
	exit 1
}

# wait_port PORT waits until something listens on 127.0.0.1:PORT.
wait_port() {
	for _ in $(seq 200); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return; fi
		sleep 0.05
	done
	echo "$SCRIPT: nothing listens on port $1" >&2
	exit 1
}
