package bus

import (
	"time"

	"github.com/nats-io/nats.go"
)

// ReconnectOptions returns the nats.go connection options the bus is meant
// to run with: reconnect forever, retrying every 250 ms plus up to 100 ms
// of jitter, so that a restarted or failed-over NATS server is found again
// well within a second and Publishers and Subscribers carry on without
// being recreated (nats.go re-establishes their subscriptions). While
// disconnected, nats.go buffers published frames up to its reconnect buffer
// (8 MiB by default, see nats.ReconnectBufSize) and Publish fails once it
// is full; receivers see the frames that were lost as a gap. Pass them to
// nats.Connect before any options of your own that override them.
func ReconnectOptions() []nats.Option {
	return []nats.Option{
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, 100*time.Millisecond),
	}
}
