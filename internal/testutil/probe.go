package testutil

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// NoTimestamp stands for a packet timestamp the container does not carry
// (raw elementary streams have none).
const NoTimestamp time.Duration = math.MinInt64

// ProbePacket is one packet of a probed stream.
type ProbePacket struct {
	// PTS and DTS are the presentation and decoding timestamps, or
	// NoTimestamp.
	PTS, DTS time.Duration
	// Key reports whether ffprobe flags the packet as a keyframe.
	Key bool
	// Size is the packet size in bytes.
	Size int
}

// ProbeResult describes a media file as ffprobe sees it. Video fields refer
// to the first video stream, audio fields to the first audio stream.
type ProbeResult struct {
	// VideoCodec and AudioCodec are ffprobe's codec names ("h264", "hevc",
	// "av1", "aac"), or "" when the file has no such stream.
	VideoCodec, AudioCodec string
	// Width and Height are the picture size in pixels.
	Width, Height int
	// VideoFrames and AudioFrames count the frames ffprobe decoded.
	VideoFrames, AudioFrames int
	// VideoKeyframes counts the video packets flagged as keyframes.
	VideoKeyframes int
	// FirstVideoPacketIsKey reports whether the video starts with a
	// keyframe.
	FirstVideoPacketIsKey bool
	// VideoPackets lists the video packets in file order.
	VideoPackets []ProbePacket
	// AudioPackets counts the audio packets.
	AudioPackets int
	// Errors holds what ffprobe reported while reading an accepted file
	// (for example decoding errors); it is empty for a clean file.
	Errors string
}

// Probe describes the media file at path with
// `ffprobe -v error -count_frames -show_streams -show_packets -of json`.
// The test fails, with ffprobe's message, if ffprobe rejects the file.
func Probe(tb testing.TB, path string) ProbeResult {
	tb.Helper()
	ffprobe := RequireTool(tb, "ffprobe")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ffprobe, "-v", "error", "-count_frames", "-show_streams", "-show_packets", "-of", "json", path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("ffprobe rejected %s: %v\n%s", path, err, tailOf(stderr.String(), 30, 4000))
	}
	r, err := parseProbe(stdout.Bytes())
	if err != nil {
		tb.Fatalf("ffprobe output for %s: %v", path, err)
	}
	r.Errors = strings.TrimSpace(stderr.String())
	return r
}

// probeJSON is the part of ffprobe's JSON output that Probe reads.
type probeJSON struct {
	Streams []struct {
		Index        int    `json:"index"`
		CodecType    string `json:"codec_type"`
		CodecName    string `json:"codec_name"`
		Width        int    `json:"width"`
		Height       int    `json:"height"`
		NbReadFrames string `json:"nb_read_frames"`
	} `json:"streams"`
	Packets []struct {
		StreamIndex int    `json:"stream_index"`
		PTSTime     string `json:"pts_time"`
		DTSTime     string `json:"dts_time"`
		Size        string `json:"size"`
		Flags       string `json:"flags"`
	} `json:"packets"`
}

func parseProbe(b []byte) (ProbeResult, error) {
	var j probeJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return ProbeResult{}, err
	}
	var r ProbeResult
	video, audio := -1, -1
	for _, s := range j.Streams {
		frames, _ := strconv.Atoi(s.NbReadFrames)
		switch {
		case s.CodecType == "video" && video < 0:
			video = s.Index
			r.VideoCodec, r.Width, r.Height, r.VideoFrames = s.CodecName, s.Width, s.Height, frames
		case s.CodecType == "audio" && audio < 0:
			audio = s.Index
			r.AudioCodec, r.AudioFrames = s.CodecName, frames
		}
	}
	for _, p := range j.Packets {
		switch p.StreamIndex {
		case video:
			size, _ := strconv.Atoi(p.Size)
			pkt := ProbePacket{
				PTS:  parseSeconds(p.PTSTime),
				DTS:  parseSeconds(p.DTSTime),
				Key:  strings.HasPrefix(p.Flags, "K"),
				Size: size,
			}
			if len(r.VideoPackets) == 0 {
				r.FirstVideoPacketIsKey = pkt.Key
			}
			if pkt.Key {
				r.VideoKeyframes++
			}
			r.VideoPackets = append(r.VideoPackets, pkt)
		case audio:
			r.AudioPackets++
		}
	}
	if video < 0 && audio < 0 {
		return r, fmt.Errorf("no audio or video stream")
	}
	return r, nil
}

// parseSeconds converts ffprobe's "1.234000" to a duration rounded to the
// microsecond; a missing value becomes NoTimestamp.
func parseSeconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return NoTimestamp
	}
	return time.Duration(math.Round(f*1e6)) * time.Microsecond
}
