// Command load is Tributary's load generator. It publishes an FLV file
// (H.264/AAC) to RTMP servers in real time, plays the streams back with
// many players and reports, per run, how many video frames reached the
// players, publish-to-play latency percentiles, stalls, disconnects and
// time to first frame, as a table or as JSON. With -sweep it finds the most
// players a server sustains. It runs from a shell, from the fan-out
// benchmark (bench-fanout.sh) and as a Kubernetes job; README.md documents
// the flags and every field of the JSON summary.
//
// # Measuring latency without touching the media
//
// Publishers and players run in one process. Before a publisher writes a
// video frame it records the frame's timestamp, its send time on the
// process's monotonic clock and a fingerprint of its payload in the
// stream's log (sentlog.go); a player looks each received frame up by
// timestamp, so the media stays exactly as encoded. The first frame of each
// player connection also checks the fingerprint, which both detects servers
// that rewrite timestamps (the offset found by fingerprint then applies to
// the rest of the connection) and catches payload corruption.
//
// # Counting frames
//
// The log numbers frames in send order. A player expects every frame from
// the first one it received (or, without any, from when it started) to the
// end of the measurement window; a frame counts as received when it
// arrives in order with the payload that was sent. Frames sent before the
// player asked to play reached it from a server cache: they count for
// delivery but not for latency. When the window closes the publishers keep
// sending, so that a server that holds a frame back until the next one
// arrives still delivers the window's last frame, until every player has
// it or the drain time is over.
//
// # Concurrency
//
// Each publisher and each player is one goroutine that owns its results;
// the run reads them after the goroutines have returned. The logs are the
// only shared state: one writer (the publisher), many readers.
package main
