// Command soak holds the Go parts of the soak script (soak.sh): the
// abuse mix it sends to the edge while the load tool churns streams and
// players, and the summary and plot of the memory and goroutine samples.
//
//	soak abuse -addr 127.0.0.1:1935 -duration 10m -interval 500ms
//	soak report -csv samples.csv -svg soak.svg
package main

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: soak abuse|report [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "abuse":
		err = runAbuse(ctx, os.Args[2:], os.Stdout)
	case "report":
		err = runReport(os.Args[2:], os.Stdout)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

// abuseKinds are the misbehaving clients the abuse mix cycles through.
var abuseKinds = []struct {
	name string
	run  func(c net.Conn) error
}{
	// Random bytes instead of a handshake.
	{"random", func(c net.Conn) error {
		return writeRandom(c, 1+mrand.IntN(64<<10))
	}},
	// C0 and part of C1, then close.
	{"truncated", func(c net.Conn) error {
		if _, err := c.Write([]byte{3}); err != nil {
			return err
		}
		return writeRandom(c, 1+mrand.IntN(1535))
	}},
	// C0 and a few bytes of C1, then silence until the edge gives up.
	{"stalled", func(c net.Conn) error {
		if _, err := c.Write([]byte{3, 0, 0, 0, 0}); err != nil {
			return err
		}
		_, err := io.Copy(io.Discard, c)
		return err
	}},
	// A complete C0+C1, then random bytes where the chunk stream starts.
	{"garbage-after-c1", func(c net.Conn) error {
		if _, err := c.Write(append([]byte{3}, make([]byte, 1536)...)); err != nil {
			return err
		}
		return writeRandom(c, 1+mrand.IntN(16<<10))
	}},
}

func writeRandom(w io.Writer, n int) error {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	_, err := w.Write(b)
	return err
}

// runAbuse opens one abusive connection per interval until the duration
// ends, and prints how many of each kind it made and how many the edge
// had closed by the time the client gave up on them.
func runAbuse(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("abuse", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:1935", "RTMP address of the edge")
	duration := fs.Duration("duration", 10*time.Minute, "how long to run")
	interval := fs.Duration("interval", 500*time.Millisecond, "time between two abusive connections")
	hold := fs.Duration("hold", 30*time.Second, "longest a stalled connection is held open, waiting for the edge to close it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	var (
		wg                      sync.WaitGroup
		made, refused, overHeld atomic.Int64
		slowestClose            atomic.Int64 // nanoseconds, stalled handshakes
		perKind                 = make([]atomic.Int64, len(abuseKinds))
	)
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			wg.Wait()
			fmt.Fprintf(out, "abuse: %d connections (", made.Load())
			for k := range abuseKinds {
				if k > 0 {
					fmt.Fprint(out, ", ")
				}
				fmt.Fprintf(out, "%s %d", abuseKinds[k].name, perKind[k].Load())
			}
			fmt.Fprintf(out, "), %d refused at dial, %d still open after %v; the edge closed stalled handshakes within %v\n",
				refused.Load(), overHeld.Load(), *hold, time.Duration(slowestClose.Load()).Round(time.Millisecond))
			return nil
		case <-tick.C:
		}
		k := i % len(abuseKinds)
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", *addr, 5*time.Second)
			if err != nil {
				refused.Add(1)
				return
			}
			defer c.Close()
			made.Add(1)
			perKind[k].Add(1)
			_ = c.SetDeadline(time.Now().Add(*hold))
			began := time.Now()
			var ne net.Error
			err = abuseKinds[k].run(c)
			if errors.As(err, &ne) && ne.Timeout() {
				overHeld.Add(1)
			}
			if abuseKinds[k].name == "stalled" {
				d := int64(time.Since(began))
				for old := slowestClose.Load(); d > old && !slowestClose.CompareAndSwap(old, d); old = slowestClose.Load() {
				}
			}
		})
	}
}

// sample is one row of the CSV soak.sh writes.
type sample struct {
	t          float64 // seconds since the edge was ready
	rssKiB     float64
	goroutines float64
	phase      string // "start" (before the load), "load" or "idle" (after it)
}

func readSamples(path string) ([]sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, err
	}
	var s []sample
	for i, r := range rows {
		if i == 0 || len(r) < 4 {
			continue // header
		}
		var v [3]float64
		for j := range v {
			if v[j], err = strconv.ParseFloat(r[j], 64); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
			}
		}
		s = append(s, sample{v[0], v[1], v[2], r[3]})
	}
	if len(s) < 2 {
		return nil, fmt.Errorf("%s: %d samples, need at least 2", path, len(s))
	}
	return s, nil
}

// slope is the least-squares slope of y over x.
func slope(x, y []float64) float64 {
	n := float64(len(x))
	var sx, sy, sxx, sxy float64
	for i := range x {
		sx += x[i]
		sy += y[i]
		sxx += x[i] * x[i]
		sxy += x[i] * y[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

type series struct {
	name, unit string
	get        func(sample) float64
	scale      float64 // display value = raw * scale
}

var allSeries = []series{
	{"RSS", "MiB", func(s sample) float64 { return s.rssKiB }, 1.0 / 1024},
	{"goroutines", "", func(s sample) float64 { return s.goroutines }, 1},
}

// runReport prints first, last, max and the slope per minute of RSS and
// goroutines (over the load phase, and over its second half, after the
// warm-up) and writes the plot.
func runReport(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	csvPath := fs.String("csv", "samples.csv", "samples written by soak.sh")
	svgPath := fs.String("svg", "", "write the plot to this SVG file")
	title := fs.String("title", "soak", "plot title")
	if err := fs.Parse(args); err != nil {
		return err
	}
	all, err := readSamples(*csvPath)
	if err != nil {
		return err
	}
	var load []sample
	for _, s := range all {
		if s.phase == "load" {
			load = append(load, s)
		}
	}
	if len(load) < 2 {
		return errors.New("fewer than 2 samples under load")
	}
	half := load[len(load)/2:]
	fmt.Fprintf(out, "%d samples under load from %.0f s to %.0f s", len(load), load[0].t, load[len(load)-1].t)
	if s := all[0]; s.phase == "start" {
		fmt.Fprintf(out, "; before the load: RSS %s MiB, %s goroutines", fmtV(s.rssKiB/1024), fmtV(s.goroutines))
	}
	if idle := all[len(all)-1]; idle.phase == "idle" {
		fmt.Fprintf(out, "; last sample after the load stopped at %.0f s", idle.t)
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| series | first | last (load) | max | after load | slope/min (load) | slope/min (2nd half) |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|")
	for _, se := range allSeries {
		v := func(s sample) float64 { return se.get(s) * se.scale }
		var xs, ys, hx, hy []float64
		maxV := math.Inf(-1)
		for _, s := range load {
			xs, ys = append(xs, s.t/60), append(ys, v(s))
			maxV = math.Max(maxV, v(s))
		}
		for _, s := range half {
			hx, hy = append(hx, s.t/60), append(hy, v(s))
		}
		after := "-"
		if last := all[len(all)-1]; last.phase == "idle" {
			after = fmtV(v(last))
		}
		name := se.name
		if se.unit != "" {
			name += " (" + se.unit + ")"
		}
		fmt.Fprintf(out, "| %s | %s | %s | %s | %s | %+.2f | %+.2f |\n", name, fmtV(v(load[0])),
			fmtV(v(load[len(load)-1])), fmtV(maxV), after, slope(xs, ys), slope(hx, hy))
	}
	if *svgPath == "" {
		return nil
	}
	return os.WriteFile(*svgPath, []byte(plot(all, *title)), 0o644)
}

func fmtV(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// plot draws the two series one above the other, sharing the time axis,
// with the samples taken after the load stopped shaded.
func plot(s []sample, title string) string {
	const (
		w, panelH      = 760, 220
		left, right    = 70, 20
		top, gap, axis = 40, 50, 40
	)
	h := top + 2*panelH + gap + axis
	tMax := s[len(s)-1].t
	if tMax <= 0 {
		tMax = 1
	}
	px := func(t float64) float64 { return left + t/tMax*(w-left-right) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="15">%s</text>`+"\n", left, xmlEscape(title))
	// The load ended between the last sample under load and the first
	// idle one; shade from the former.
	idleFrom := -1.0
	for i, x := range s {
		if x.phase == "idle" && i > 0 {
			idleFrom = s[i-1].t
			break
		}
	}
	colors := []string{"#1f77b4", "#d62728"}
	for p, se := range allSeries {
		y0 := float64(top + p*(panelH+gap))
		var maxV float64
		for _, x := range s {
			maxV = math.Max(maxV, se.get(x)*se.scale)
		}
		maxV = niceCeil(maxV * 1.1)
		py := func(v float64) float64 { return y0 + panelH - v/maxV*panelH }
		if idleFrom >= 0 {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="#eeeeee"/>`+"\n",
				px(idleFrom), y0, px(tMax)-px(idleFrom), panelH)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#666" text-anchor="end">load stopped</text>`+"\n", float64(w-right-4), y0+14)
		}
		for i := 0; i <= 4; i++ {
			v := maxV * float64(i) / 4
			fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, w-right, py(v), py(v))
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, py(v)+4, fmtV(v))
		}
		label := se.name
		if se.unit != "" {
			label += " (" + se.unit + ")"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-weight="bold" fill="%s">%s</text>`+"\n", left+6, y0-6, colors[p], label)
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="`, colors[p])
		for i, x := range s {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%.1f,%.1f", px(x.t), py(se.get(x)*se.scale))
		}
		b.WriteString(`"/>` + "\n")
		for _, x := range s {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>`+"\n", px(x.t), py(se.get(x)*se.scale), colors[p])
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%d" height="%d" fill="none" stroke="#444"/>`+"\n", left, y0, w-left-right, panelH)
	}
	// Time axis under the lower panel, a tick per minute.
	yAxis := float64(top + 2*panelH + gap)
	for m := 0.0; m*60 <= tMax; m++ {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px(m*60), yAxis+16, fmtV(m))
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#444"/>`+"\n", px(m*60), px(m*60), yAxis, yAxis+4)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">minutes</text>`+"\n", px(tMax/2), yAxis+32)
	b.WriteString("</svg>\n")
	return b.String()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
