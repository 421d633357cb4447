// Package faults holds the faults-under-load tests of a Tributary cluster.
//
// Each test runs three edges as separate processes (cmd/edge, built by the
// test) around a real NATS server and a real etcd server started inside the
// test process, drives them with the load tool (test/load, also a separate
// process) and then injects one fault while the streams play: an edge
// killed with SIGKILL, NATS restarted, etcd restarted, an edge cut off from
// etcd. Every test checks what the players saw (gaps, reconnects), that no
// publisher that lost its stream ever fed the bus again, and that the
// cluster went back to full service by itself; the figures are logged as
// FIGURE lines and recorded in docs/reliability.md.
//
// All traffic stays on 127.0.0.1. The package has no non-test code.
package faults
