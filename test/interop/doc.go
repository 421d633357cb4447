// Package interop holds Tributary's interoperability tests: the example
// server, publisher and player, built from examples/ and run as processes
// the way users run them, and the pkg/rtmp client, against real third-party
// peers — ffmpeg (publisher and player, digest handshake), nginx-rtmp (a
// reference server and relay) and node-media-server (an Enhanced RTMP
// relay whose client uses the simple handshake). Media is checked with
// ffprobe, and Enhanced RTMP tags byte for byte.
//
// The tests live in the _test.go files of this package; run them with
//
//	go test ./test/interop/
//
// They need ffmpeg, ffprobe, nginx with its RTMP module and Node.js (see
// scripts/deps.sh). Outside CI a missing tool skips the tests that need it;
// in CI it fails them. Independent tests run in parallel on short clips.
package interop
