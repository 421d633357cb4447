// Package bus is Tributary's media bus contract over NATS: the subjects a
// stream travels on, the frame envelope (NATS headers around FLV tag bytes),
// a Publisher for the edge that owns a stream, and a Subscriber (built on a
// Receiver) for everyone who plays or records it. docs/bus.md describes the
// same contract for users who consume the bus without this package.
//
// # Subjects
//
// A stream's frames are published on "<prefix>.stream.<app>.<name>.media"
// and its fast-start state is served on "<prefix>.stream.<app>.<name>.init"
// (StreamSubject, KindMedia, KindInit; the prefix defaults to
// DefaultPrefix). Application and stream names are arbitrary RTMP strings,
// so each is escaped into exactly one subject token by EscapeToken: ASCII
// letters, digits, '-' and '_' stay, every other byte becomes "~XX" (hex),
// the empty name becomes "~". UnescapeToken and ParseStreamSubject invert it,
// and wildcards work per token: AppWildcard gives
// "<prefix>.stream.<app>.*.media". Cluster events use EventSubject.
//
// # Messages
//
// The data of a frame message is exactly one FLV tag as a file holds it
// (flv.AppendTag): a consumer that writes an FLV file header and then the
// payloads in order has a playable file. The headers (HeaderEpoch,
// HeaderSeq, HeaderIngestTime, HeaderTraceParent, HeaderFrag, HeaderEvent,
// HeaderInitEnd; see Envelope and ParseEnvelope) carry the ownership epoch,
// a per-publish sequence number, the ingest time and the trace context. A
// tag larger than the server's max payload minus room for headers is split
// into consecutive byte ranges with HeaderFrag "OFFSET/TOTAL". A clean end
// of a publish is a message with HeaderEvent EventEnd and no data.
//
// # Fast start
//
// A Publisher answers a request on the init subject (ServeInit) with the
// frames a joining player needs (metadata, sequence headers, the GOP since
// the latest keyframe, bounded in bytes), each sent like a live frame to the
// reply subject, then a message with HeaderInitEnd holding the frame count.
// Subscriber.Start subscribes to the media subject first, holds live frames
// back, requests the init reply, and splices the two by sequence number, so
// the handler gets the init frames and then the live ones without a gap or a
// duplicate. A traced subscriber sends its traceparent with the request
// (SubscriberConfig.TraceParent); the Publisher hands it to
// PublisherConfig.OnInit, and sends the publish's own traceparent
// (SetTraceParent) with every message of the reply.
//
// # Fencing, gaps and delivery
//
// Receivers drop messages whose epoch is older than the newest they have
// seen; a newer epoch (the stream published again, possibly elsewhere)
// restarts the sequence expectation. A sequence jump within an epoch is a
// gap: the next frame says how many were lost (Frame.Lost) and the stats
// count it. Delivery is core NATS: at most once, in order per publisher.
//
// # Concurrency
//
// Publisher and Subscriber methods are safe for concurrent use. A Receiver is
// not, except its Stats. Constructors start nothing; ServeInit and Start
// create NATS subscriptions, whose handlers run on goroutines nats.go owns:
// the Subscriber's handler must not block (hand frames to a bounded queue),
// because it runs on the goroutine that delivers the stream's messages.
// Publishers and Subscribers do not own the *nats.Conn they are given;
// ReconnectOptions gives the connection options they are meant to run with.
//
// # Buffer ownership
//
// Publish and PublishFrame copy what they are given before returning (NATS
// copies the message into its write buffer; the fast-start cache copies the
// tag into its own reused buffers). A Frame delivered to a Subscriber's
// handler, or returned by Receiver.Push, belongs to the receiver of it: its
// Tag is the NATS message's own data or a new reassembly buffer, referenced
// by nothing else.
//
// # Errors
//
// Errors are prefixed "bus:" and wrap the NATS error where there is one
// (nats.ErrConnectionClosed, nats.ErrReconnectBufExceeded, ...). ErrClosed
// is returned after End or Close. Receivers count malformed, stale,
// duplicate and incomplete messages in their stats instead of failing.
package bus
