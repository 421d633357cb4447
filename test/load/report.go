package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// toolName and summaryVersion identify the JSON summary. The version
// changes only when a field is removed or changes meaning; new fields may
// appear at any time. README.md documents every field.
const (
	toolName       = "tributary-load"
	summaryVersion = 1
)

// summary is the result of one run, printed as JSON with -json.
type summary struct {
	Tool          string           `json:"tool"`
	Version       int              `json:"version"`
	Label         string           `json:"label,omitempty"`
	StartedAt     string           `json:"started_at"`
	StartedUnixMS int64            `json:"started_unix_ms"`
	WallS         float64          `json:"wall_s"`
	WindowEndMS   float64          `json:"window_end_ms"`
	Config        configSummary    `json:"config"`
	Input         inputSummary     `json:"input"`
	Publish       publishSummary   `json:"publish"`
	Play          playSummary      `json:"play"`
	Server        *serverSummary   `json:"server,omitempty"`
	Loadgen       *loadgenSummary  `json:"loadgen,omitempty"`
	Thresholds    thresholdSummary `json:"thresholds"`
	Pass          bool             `json:"pass"`
	FailReasons   []string         `json:"fail_reasons,omitempty"`
	PlayerDetails []playerDetail   `json:"player_details,omitempty"`
	StreamDetails []streamDetail   `json:"stream_details,omitempty"`
}

// gapSummary is a stretch without media: at_ms is when it began, in
// milliseconds since the run started (started_unix_ms).
type gapSummary struct {
	AtMS float64 `json:"at_ms"`
	MS   float64 `json:"ms"`
}

func gapsOf(list []gap) []gapSummary {
	var out []gapSummary
	for _, g := range list {
		out = append(out, gapSummary{AtMS: ms(g.at), MS: ms(g.dur)})
	}
	return out
}

type streamDetail struct {
	Name        string       `json:"name"`
	Edge        string       `json:"edge"`
	Disconnects int          `json:"disconnects"`
	Outages     int          `json:"outages"`
	MaxOutageMS float64      `json:"max_outage_ms"`
	OutageList  []gapSummary `json:"outage_list,omitempty"`
	LastError   string       `json:"last_error,omitempty"`
}

type configSummary struct {
	Publishers     int      `json:"publishers"`
	Players        int      `json:"players"`
	Edges          []string `json:"edges"`
	PublishEdges   bool     `json:"publish_edges"`
	PublishTo      string   `json:"publish_to,omitempty"`
	App            string   `json:"app"`
	StreamPrefix   string   `json:"stream_prefix"`
	DurationS      float64  `json:"duration_s"`
	RampS          float64  `json:"ramp_s"`
	PlayerTimeoutS float64  `json:"player_timeout_s"`
	Failover       bool     `json:"failover"`
}

type inputSummary struct {
	Path               string  `json:"path"`
	Codec              string  `json:"codec"`
	Width              int     `json:"width"`
	Height             int     `json:"height"`
	FPS                float64 `json:"fps"`
	DurationMS         uint32  `json:"duration_ms"`
	VideoFrames        int     `json:"video_frames"`
	VideoKbps          float64 `json:"video_kbps"`
	TotalKbps          float64 `json:"total_kbps"`
	KeyframeIntervalMS uint32  `json:"keyframe_interval_ms"`
}

type publishSummary struct {
	Streams     int     `json:"streams"`
	FramesSent  int64   `json:"frames_sent"`
	BytesSent   int64   `json:"bytes_sent"`
	LateTags    int64   `json:"late_tags"`
	MaxLagMS    float64 `json:"max_lag_ms"`
	Disconnects int     `json:"disconnects"`
	Outages     int     `json:"outages"`
	MaxOutageMS float64 `json:"max_outage_ms"`
	LastError   string  `json:"last_error,omitempty"`
}

type playSummary struct {
	Players           int            `json:"players"`
	PlayersWithMedia  int            `json:"players_with_media"`
	FramesExpected    int64          `json:"frames_expected"`
	FramesReceived    int64          `json:"frames_received"`
	Delivery          float64        `json:"delivery"`
	MinPlayerDelivery float64        `json:"min_player_delivery"`
	FramesDuplicate   int64          `json:"frames_duplicate"`
	FramesUnmatched   int64          `json:"frames_unmatched"`
	FramesCorrupt     int64          `json:"frames_corrupt"`
	FramesCached      int64          `json:"frames_cached"`
	TimelineRebases   int64          `json:"timeline_rebases"`
	Stalls            int            `json:"stalls"`
	StallMS           float64        `json:"stall_ms"`
	MaxGapMS          float64        `json:"max_gap_ms"`
	Disconnects       int            `json:"disconnects"`
	LastError         string         `json:"last_error,omitempty"`
	BytesReceived     int64          `json:"bytes_received"`
	GbitReceived      float64        `json:"gbit_received"`
	TTFF              ttffSummary    `json:"ttff_ms"`
	Latency           latencySummary `json:"latency_ms"`
}

type ttffSummary struct {
	P50MS float64 `json:"p50"`
	P95MS float64 `json:"p95"`
	MaxMS float64 `json:"max"`
}

type latencySummary struct {
	Samples uint64  `json:"samples"`
	P50MS   float64 `json:"p50"`
	P95MS   float64 `json:"p95"`
	P99MS   float64 `json:"p99"`
	MaxMS   float64 `json:"max"`
}

type serverSummary struct {
	PID               int     `json:"pid"`
	CPUSeconds        float64 `json:"cpu_s"`
	CPUSecondsPerGbit float64 `json:"cpu_s_per_gbit"`
	RSSBytes          int64   `json:"rss_bytes"`
	RSSIdleBytes      int64   `json:"rss_idle_bytes"`
	RSSPerPlayerBytes float64 `json:"rss_per_player_bytes"`
}

type loadgenSummary struct {
	CPUSeconds     float64 `json:"cpu_s"`
	CPUUtilization float64 `json:"cpu_utilization"`
	GOMAXPROCS     int     `json:"gomaxprocs"`
}

type thresholdSummary struct {
	MinDelivery float64 `json:"min_delivery"`
	MaxP99MS    float64 `json:"max_p99_ms"`
}

type playerDetail struct {
	ID             int            `json:"id"`
	Stream         string         `json:"stream"`
	Edge           string         `json:"edge"`
	FramesExpected int64          `json:"frames_expected"`
	FramesReceived int64          `json:"frames_received"`
	Delivery       float64        `json:"delivery"`
	Stalls         int            `json:"stalls"`
	MaxGapMS       float64        `json:"max_gap_ms"`
	Gaps           []gapSummary   `json:"gaps,omitempty"`
	LastFrameMS    float64        `json:"last_frame_ms"`
	Disconnects    int            `json:"disconnects"`
	LastError      string         `json:"last_error,omitempty"`
	TTFFMS         float64        `json:"ttff_ms"`
	Latency        latencySummary `json:"latency_ms"`
}

// sweepSummary is the result of -sweep.
type sweepSummary struct {
	Tool    string `json:"tool"`
	Version int    `json:"version"`
	Label   string `json:"label,omitempty"`
	// MaxPlayers is the largest player count whose step passed, 0 if
	// none did.
	MaxPlayers int        `json:"max_players"`
	Steps      []*summary `json:"steps"`
}

// evaluate applies the thresholds: aggregate delivery at least
// minDelivery, p99 latency at most maxP99, and no publisher trouble that
// would make the figures meaningless.
func (s *summary) evaluate(minDelivery float64, maxP99 time.Duration) {
	s.FailReasons = nil
	if s.Play.Delivery < minDelivery {
		s.FailReasons = append(s.FailReasons, fmt.Sprintf("delivery %.4f%% < %.4f%%", 100*s.Play.Delivery, 100*minDelivery))
	}
	if s.Play.Players > 0 && s.Play.Latency.Samples == 0 {
		s.FailReasons = append(s.FailReasons, "no latency samples")
	}
	if p99 := s.Play.Latency.P99MS; p99 > ms(maxP99) {
		s.FailReasons = append(s.FailReasons, fmt.Sprintf("p99 latency %.0f ms > %.0f ms", p99, ms(maxP99)))
	}
	if s.Publish.Disconnects > 0 {
		s.FailReasons = append(s.FailReasons, fmt.Sprintf("%d publisher disconnects", s.Publish.Disconnects))
	}
	s.Pass = len(s.FailReasons) == 0
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeText writes the human-readable report of one run.
func writeText(w io.Writer, s *summary) {
	in := s.Input
	fmt.Fprintf(w, "input      %s: %s %dx%d %.0f fps, %.0f kbit/s video, %.0f kbit/s total, keyframe every %d ms, %.1f s looped\n",
		in.Path, in.Codec, in.Width, in.Height, in.FPS, in.VideoKbps, in.TotalKbps, in.KeyframeIntervalMS, float64(in.DurationMS)/1000)
	c := s.Config
	fmt.Fprintf(w, "run        %d publisher(s), %d player(s) on %s, %v after a %v ramp (%.1f s wall)\n",
		c.Publishers, c.Players, strings.Join(c.Edges, ","), seconds(c.DurationS), seconds(c.RampS), s.WallS)
	p := s.Publish
	fmt.Fprintf(w, "publish    %d frames, %.1f MB sent, %d late tags, max lag %.0f ms, %d disconnects, %d outages (longest %.0f ms)%s\n",
		p.FramesSent, float64(p.BytesSent)/1e6, p.LateTags, p.MaxLagMS, p.Disconnects, p.Outages, p.MaxOutageMS, errSuffix(p.LastError))
	pl := s.Play
	fmt.Fprintf(w, "play       %d/%d players got media, %d disconnects%s\n", pl.PlayersWithMedia, pl.Players, pl.Disconnects, errSuffix(pl.LastError))
	fmt.Fprintf(w, "frames     %d of %d delivered (%.3f%%, worst player %.3f%%), %d cached, %d duplicate, %d unmatched, %d corrupt\n",
		pl.FramesReceived, pl.FramesExpected, 100*pl.Delivery, 100*pl.MinPlayerDelivery, pl.FramesCached, pl.FramesDuplicate, pl.FramesUnmatched, pl.FramesCorrupt)
	fmt.Fprintf(w, "stalls     %d (%.1f s in total, longest %.1f s)\n", pl.Stalls, pl.StallMS/1000, pl.MaxGapMS/1000)
	fmt.Fprintf(w, "first frame p50 %.0f ms, p95 %.0f ms, max %.0f ms\n", pl.TTFF.P50MS, pl.TTFF.P95MS, pl.TTFF.MaxMS)
	l := pl.Latency
	fmt.Fprintf(w, "latency    p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms (%d samples)\n", l.P50MS, l.P95MS, l.P99MS, l.MaxMS, l.Samples)
	fmt.Fprintf(w, "received   %.3f Gbit\n", pl.GbitReceived)
	if sv := s.Server; sv != nil {
		fmt.Fprintf(w, "server     pid %d: %.2f CPU s (%.2f per Gbit delivered), RSS %.1f MB (idle %.1f MB, %.1f KB per player)\n",
			sv.PID, sv.CPUSeconds, sv.CPUSecondsPerGbit, float64(sv.RSSBytes)/1e6, float64(sv.RSSIdleBytes)/1e6, sv.RSSPerPlayerBytes/1e3)
	}
	if lg := s.Loadgen; lg != nil {
		fmt.Fprintf(w, "load tool  %.2f CPU s, %.0f%% of %d CPU(s)%s\n", lg.CPUSeconds, 100*lg.CPUUtilization, lg.GOMAXPROCS, saturated(lg))
	}
	if s.Pass {
		fmt.Fprintf(w, "result     PASS (delivery >= %.2f%%, p99 <= %.0f ms)\n", 100*s.Thresholds.MinDelivery, s.Thresholds.MaxP99MS)
	} else {
		fmt.Fprintf(w, "result     FAIL: %s\n", strings.Join(s.FailReasons, "; "))
	}
}

// saturated warns when the load tool itself ran out of CPU, so that its
// latency figures include its own queueing.
func saturated(lg *loadgenSummary) string {
	if lg.CPUUtilization >= saturation {
		return " (saturated: figures include the load tool's own delays)"
	}
	return ""
}

// saturation is the CPU utilisation above which the load tool counts as
// the bottleneck.
const saturation = 0.9

// seconds turns a number of seconds back into a duration for printing.
func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return " (last error: " + e + ")"
}

// writeSweepTable writes one line per sweep step and the result.
func writeSweepTable(w io.Writer, sw *sweepSummary) {
	writeStepsMarkdown(w, sw)
	fmt.Fprintf(w, "\nmost players sustained: %d\n", sw.MaxPlayers)
}
