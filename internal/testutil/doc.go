// Package testutil holds code shared by the project's tests: finding the
// real third-party tools the interop tests drive (ffmpeg, ffprobe, nginx with
// its RTMP module, Node.js with node-media-server), generating and probing
// media, and running those tools as child processes.
//
// # Tools
//
// Tests that need a tool call [RequireTool]. Outside CI a missing tool skips
// the test with a hint; in CI (the CI environment variable is set) a missing
// tool fails the test, so interop tests never silently skip there. The test
// command (`make test`) installs the tools first (scripts/deps.sh).
// node-media-server is an npm package: scripts/deps.sh installs it into the
// user cache directory, and [StartNodeMediaServer] installs it there on
// demand when the cache is missing, so `go test` alone works.
//
// # Processes
//
// Every function takes a testing.TB, binds what it starts to that test and
// cleans up with tb.Cleanup: child processes run in their own process group,
// which is terminated (then killed) when the test ends. Each process writes
// its stdout and stderr to a log file in the test's temporary directory; when
// the test has failed, the cleanup prints the tail of every log. Servers
// listen on 127.0.0.1 on a free port, and start-up waits for readiness by
// polling with a deadline, never by sleeping a fixed time.
//
// # Media
//
// [GenerateFLV], [GenerateHEVCAnnexB] and [GenerateAV1] encode synthetic
// test media with ffmpeg once per test binary and options; later calls with
// the same options return the same file, which callers must not modify. The
// files live in a per-process directory under the system temporary directory;
// directories left by test binaries that have exited are removed by the next
// run. [Probe] describes a media file with ffprobe.
//
// # Network faults
//
// [StartProxy] puts a TCP proxy between a client and a server. [Proxy.Cut]
// simulates a network partition: connections stay open but nothing, neither
// bytes nor a close, gets through either way, and new connections are
// accepted but stall; [Proxy.Restore] lets everything held back through, and
// [Proxy.Reset] closes every connection. etcd tests that need a server use
// the etcdtest sub-package, NATS tests natstest; otlptest is a real OTLP
// trace receiver (gRPC and HTTP) and testcert makes CAs and TLS certificates.
//
// # Concurrency
//
// All functions may be called from parallel tests, and the methods of a
// [Proc] from any goroutine.
package testutil
