package testutil

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// PlayIdleTimeout is the -rw_timeout FFmpegPlay gives ffmpeg: a player that
// receives nothing for this long ends with an error (ffmpeg 5.1 gives up
// after about twice this time). It bounds the wait between the play command
// and the first media, which includes the start-up of the publishing
// process on a busy machine, so it is generous; tests end players by other
// means (see FFmpegPlay).
const PlayIdleTimeout = 10 * time.Second

// FFmpegPlaySent is the text an ffmpeg started by FFmpegPlay logs once it
// has sent the play command; wait for it with [Proc.WaitStderr] before
// starting a publisher when the player must see the stream from its start.
const FFmpegPlaySent = "Sending play command"

// FFmpegPublish starts `ffmpeg -re -i file -c copy [extraArgs] -f flv url`,
// which publishes file to an RTMP url in real time. extraArgs are output
// options. Cancelling ctx kills the process; it is stopped at the end of
// the test anyway. Wait for it to finish with [Proc.Wait].
//
// As an RTMP client ffmpeg performs the Flash Player 9 style handshake: C1
// carries version 9.0.124.2 and an HMAC-SHA256 digest in the first block
// (schema 1, keyed with "Genuine Adobe Flash Player 001"). When publishing
// it does not verify the server's S1/S2 and echoes S1 as C2.
func FFmpegPublish(tb testing.TB, ctx context.Context, file, url string, extraArgs ...string) *Proc {
	tb.Helper()
	ffmpeg := RequireTool(tb, "ffmpeg")
	args := []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "debug",
		"-re", "-i", file, "-c", "copy"}
	args = append(args, extraArgs...)
	args = append(args, "-f", "flv", url)
	return startProc(tb, ctx, "ffmpeg-publish", ffmpeg, args...)
}

// FFmpegPlay starts `ffmpeg -rw_timeout T -i url -c copy -t duration -f flv
// outFile`, which plays an RTMP url and records what it receives, without
// re-encoding. The recording ends, and ffmpeg exits with status 0, when
// the server sends NetStream.Play.Stop or NetStream.Play.UnpublishNotify
// (nginx-rtmp with `publish_notify on`), or when every stream has reached
// a timestamp of duration (zero means no limit; a duration somewhat shorter
// than the published media ends the player on servers that never tell it
// the stream has ended, such as node-media-server), or with an error when
// nothing arrives for PlayIdleTimeout. extraArgs are input options placed
// after the defaults, so they can override -rw_timeout (in microseconds).
// Cancelling ctx kills the process.
//
// When playing, ffmpeg verifies the server's S1 digest if S1 bytes 4..7 are
// not zero and the first of them is at least 3; a simple-handshake server
// must send zero there.
func FFmpegPlay(tb testing.TB, ctx context.Context, url, outFile string, duration time.Duration, extraArgs ...string) *Proc {
	tb.Helper()
	ffmpeg := RequireTool(tb, "ffmpeg")
	args := []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "debug",
		"-rw_timeout", strconv.FormatInt(PlayIdleTimeout.Microseconds(), 10)}
	args = append(args, extraArgs...)
	args = append(args, "-i", url, "-c", "copy")
	if duration > 0 {
		args = append(args, "-t", strconv.FormatFloat(duration.Seconds(), 'f', 3, 64))
	}
	args = append(args, "-f", "flv", "-y", outFile)
	return startProc(tb, ctx, "ffmpeg-play", ffmpeg, args...)
}
