//go:build race

package bus_test

// raceEnabled: the race detector empties sync.Pools at random, so pooled
// buffers (nats.go's header buffer) are now and then allocated again.
const raceEnabled = true
