package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	page := int64(os.Getpagesize())
	tests := []struct {
		name    string
		line    string
		want    procSample
		wantErr bool
	}{
		{
			name: "nginx worker",
			// pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ... rss is field 24
			line: "4242 (nginx) S 4241 4241 4241 0 -1 4194624 900 0 0 0 250 75 0 0 20 0 1 0 12345 20000000 3000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0",
			want: procSample{cpu: 3250 * time.Millisecond, rss: 3000 * page},
		},
		{
			name: "command name with spaces and parentheses",
			line: "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 5 100 10 0",
			want: procSample{cpu: 30 * time.Millisecond, rss: 10 * page},
		},
		{name: "truncated", line: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 1 2", wantErr: true},
		{name: "no name", line: "7 x R", wantErr: true},
		{name: "not numbers", line: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 a b 0 0 20 0 1 0 5 100 c 0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStat(tt.line)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReadProcSelf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux only")
	}
	s, err := readProc(0)
	if err != nil {
		t.Fatal(err)
	}
	if s.rss <= 0 {
		t.Fatalf("own RSS = %d", s.rss)
	}
}

// stepSummary is a sweep step with the figures the comparison reads.
func stepSummary(players int, pass bool, p99, cpuPerGbit, rssPerPlayer float64) *summary {
	return &summary{
		Tool: toolName, Version: summaryVersion, Pass: pass,
		Play:    playSummary{Players: players, Delivery: 1, Latency: latencySummary{P99MS: p99}},
		Server:  &serverSummary{CPUSecondsPerGbit: cpuPerGbit, RSSPerPlayerBytes: rssPerPlayer},
		Loadgen: &loadgenSummary{CPUUtilization: 0.5},
	}
}

func TestWriteComparison(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, sw *sweepSummary) string {
		t.Helper()
		p := filepath.Join(dir, name)
		var b bytes.Buffer
		if err := writeJSON(&b, sw); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sweep := func(label string, max int, cpu float64) *sweepSummary {
		return &sweepSummary{Tool: toolName, Version: summaryVersion, Label: label, MaxPlayers: max, Steps: []*summary{
			stepSummary(max/2, true, 10, 9, 1),
			stepSummary(max, true, 100, cpu, 50e3),
			stepSummary(2*max, false, 3000, 1, 1),
		}}
	}
	files := []string{
		write("a1.json", sweep("tributary", 800, 1.0)),
		write("b1.json", sweep("nginx-rtmp", 1000, 0.5)),
		write("a2.json", sweep("tributary", 900, 2.0)),
		write("b2.json", sweep("nginx-rtmp", 1200, 0.7)),
		write("a3.json", sweep("tributary", 700, 3.0)),
		write("b3.json", sweep("nginx-rtmp", 1100, 0.6)),
	}
	var out bytes.Buffer
	if err := writeComparison(&out, files); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"| tributary | 3 | 800 (800, 900, 700) | 100 | 100.00% | 2.00 | 50 | 50% |",
		"| nginx-rtmp | 3 | 1100 (1000, 1200, 1100) | 100 | 100.00% | 0.60 | 50 | 50% |",
		"Players sustained, tributary / nginx-rtmp: 0.73",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("comparison lacks %q:\n%s", want, got)
		}
	}
	if err := writeComparison(&out, []string{filepath.Join(dir, "missing.json")}); err == nil {
		t.Error("a missing file was accepted")
	}
}

// TestJSONFieldsDocumented checks that README.md documents every field of
// the JSON summaries, so the documentation cannot fall behind the output.
func TestJSONFieldsDocumented(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(moduleRoot(t), "test", "load", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("`([a-z0-9_.\\[\\]]+)`").FindAllStringSubmatch(string(readme), -1) {
		documented[m[1]] = true
	}
	var fields []string
	collectJSONFields(reflect.TypeOf(sweepSummary{}), "", &fields)
	collectJSONFields(reflect.TypeOf(summary{}), "", &fields)
	if len(fields) < 40 {
		t.Fatalf("found only %d fields; the walk is broken", len(fields))
	}
	for _, f := range fields {
		if !documented[f] {
			t.Errorf("JSON field %s is not documented in README.md (as `%s`)", f, f)
		}
	}
}

// collectJSONFields lists the JSON names of t's fields, nested ones as
// "parent.child", slices of structs as "parent[].child".
func collectJSONFields(t reflect.Type, prefix string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		full := prefix + name
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct:
			collectJSONFields(ft, full+".", out)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() != reflect.String:
			if el := ft.Elem(); el.Kind() == reflect.Pointer && el.Elem() == reflect.TypeOf(summary{}) {
				*out = append(*out, full) // sweep steps: each is a run summary
				continue
			}
			collectJSONFields(ft.Elem(), full+"[].", out)
		default:
			*out = append(*out, full)
		}
	}
}

// TestJSONRoundTrip checks that a sweep summary written by the tool reads
// back identically, which -report relies on.
func TestJSONRoundTrip(t *testing.T) {
	in := &sweepSummary{Tool: toolName, Version: summaryVersion, Label: "x", MaxPlayers: 3,
		Steps: []*summary{stepSummary(3, true, 12.5, 0.25, 4096)}}
	var b bytes.Buffer
	if err := writeJSON(&b, in); err != nil {
		t.Fatal(err)
	}
	var out sweepSummary
	if err := json.Unmarshal(b.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, &out) {
		t.Fatalf("round trip changed the summary:\n in %+v\nout %+v", in, &out)
	}
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string // in the error output
	}{
		{"every problem at once", []string{"-publishers", "0", "-duration", "0s", "-app", "", "-min-delivery", "2"},
			[]string{"-publishers", "-duration", "-app", "-min-delivery"}},
		{"empty edge", []string{"-edges", "a:1,,b:2"}, []string{"empty address"}},
		{"sweep below its start", []string{"-sweep", "-players", "100", "-sweep-max", "50"}, []string{"-sweep-max"}},
		{"stray argument", []string{"extra"}, []string{"unexpected arguments"}},
		{"unknown flag", []string{"-nope"}, []string{"-nope"}},
		{"report without files", []string{"-report"}, []string{"sweep JSON files"}},
		{"missing input", []string{"-input", "/nonexistent/in.flv"}, []string{"/nonexistent/in.flv"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := runMain(tt.args, &stdout, &stderr); code != exitError {
				t.Fatalf("exit status %d, want %d; stderr:\n%s", code, exitError, stderr.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout is not empty: %s", stdout.String())
			}
		})
	}
}
