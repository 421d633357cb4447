package flv_test

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"

	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// sampleFile returns a file with the header and all tag cases, and the tags.
func sampleFile() ([]byte, []flv.Tag) {
	file := flv.AppendHeader(nil, flv.Header{Version: 1, Audio: true, Video: true})
	var tags []flv.Tag
	for _, c := range tagCases {
		file = append(file, c.bytes...)
		tags = append(tags, c.value)
	}
	return file, tags
}

func sameTags(t *testing.T, got, want []flv.Tag) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d tags, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Type != w.Type || g.Timestamp != w.Timestamp || g.StreamID != w.StreamID || !bytes.Equal(g.Body, w.Body) {
			t.Errorf("tag %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestReaderWriterRoundTrip(t *testing.T) {
	file, want := sampleFile()
	// One byte per Read exercises every partial-read path.
	r := flv.NewReader(iotest.OneByteReader(bytes.NewReader(file)), flv.ReaderConfig{StrictPreviousTagSize: true})
	h, err := r.ReadHeader()
	if err != nil || h != (flv.Header{Version: 1, Audio: true, Video: true}) {
		t.Fatalf("ReadHeader = %+v, %v", h, err)
	}
	got, err := readAllTags(r)
	if err != io.EOF {
		t.Fatalf("ReadTag ended with %v, want io.EOF", err)
	}
	sameTags(t, got, want)
	if r.Offset() != int64(len(file)) {
		t.Errorf("Offset %d, want %d", r.Offset(), len(file))
	}
	if err := r.ReadTag(&flv.Tag{}); err != io.EOF {
		t.Errorf("ReadTag after the end = %v, want io.EOF", err)
	}

	var out bytes.Buffer
	w := flv.NewWriter(&out, h)
	for i := range got {
		if err := w.WriteTag(&got[i]); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out.Bytes(), file) {
		t.Errorf("Writer output differs from the input file\n got % x\nwant % x", out.Bytes(), file)
	}
}

func TestReaderBodyReuse(t *testing.T) {
	file, want := sampleFile()
	r := flv.NewReader(bytes.NewReader(file), flv.ReaderConfig{})
	var first flv.Tag
	if err := r.ReadTag(&first); err != nil {
		t.Fatal(err)
	}
	kept := first.Clone()
	var second flv.Tag
	if err := r.ReadTag(&second); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(kept.Body, want[0].Body) {
		t.Errorf("clone changed after the next ReadTag")
	}
}

func TestReaderErrors(t *testing.T) {
	file, _ := sampleFile()
	badPrev := append([]byte(nil), file...)
	badPrev[flv.HeaderSize+len(tagCases[0].bytes)-1] ^= 0xff
	cases := []struct {
		name   string
		in     []byte
		cfg    flv.ReaderConfig
		wantN  int   // tags read before the error
		wantIs error // nil: any error other than io.EOF
	}{
		{"empty-file", nil, flv.ReaderConfig{}, 0, io.ErrUnexpectedEOF},
		{"not-flv", []byte("GIF89a.............."), flv.ReaderConfig{}, 0, nil},
		{"header-without-prev-size-0", file[:10], flv.ReaderConfig{}, 0, io.ErrUnexpectedEOF},
		{"truncated-tag-header", file[:flv.HeaderSize+5], flv.ReaderConfig{}, 0, io.ErrUnexpectedEOF},
		{"truncated-body", file[:flv.HeaderSize+13], flv.ReaderConfig{}, 0, io.ErrUnexpectedEOF},
		{"truncated-prev-size", file[:flv.HeaderSize+len(tagCases[0].bytes)-2], flv.ReaderConfig{}, 0, io.ErrUnexpectedEOF},
		{"tag-above-limit", file, flv.ReaderConfig{MaxTagSize: 4}, 0, nil},
		{"strict-prev-size", badPrev, flv.ReaderConfig{StrictPreviousTagSize: true}, 0, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := flv.NewReader(bytes.NewReader(c.in), c.cfg)
			got, err := readAllTags(r)
			if err == nil || err == io.EOF {
				t.Fatalf("ended with %v after %d tags, want an error", err, len(got))
			}
			if c.wantIs != nil && !errors.Is(err, c.wantIs) {
				t.Errorf("error %v, want %v", err, c.wantIs)
			}
			if len(got) != c.wantN {
				t.Errorf("%d tags before the error, want %d", len(got), c.wantN)
			}
			if err2 := r.ReadTag(&flv.Tag{}); err2 != err {
				t.Errorf("error not sticky: %v then %v", err, err2)
			}
		})
	}
	// Without StrictPreviousTagSize a wrong field is accepted.
	r := flv.NewReader(bytes.NewReader(badPrev), flv.ReaderConfig{})
	if got, err := readAllTags(r); err != io.EOF || len(got) != len(tagCases) {
		t.Errorf("lenient reader: %d tags, %v", len(got), err)
	}
}

func TestReaderLastTagWithoutPreviousSize(t *testing.T) {
	file, want := sampleFile()
	cut := file[:len(file)-4]
	got, err := readAllTags(flv.NewReader(bytes.NewReader(cut), flv.ReaderConfig{}))
	if err != io.EOF {
		t.Fatalf("ended with %v, want io.EOF", err)
	}
	sameTags(t, got, want)
}

func TestReaderDataOffset(t *testing.T) {
	// DataOffset 12: three extra header bytes before PreviousTagSize0.
	file := []byte{'F', 'L', 'V', 1, 1, 0, 0, 0, 12, 0xaa, 0xbb, 0xcc, 0, 0, 0, 0}
	file = append(file, tagCases[0].bytes...)
	got, err := readAllTags(flv.NewReader(bytes.NewReader(file), flv.ReaderConfig{}))
	if err != io.EOF {
		t.Fatal(err)
	}
	sameTags(t, got, []flv.Tag{tagCases[0].value})
}

// A forged DataSize in a short stream must not make the Reader allocate the
// announced 16 MiB.
func TestReaderForgedSizeAllocatesWithData(t *testing.T) {
	file := flv.AppendHeader(nil, flv.Header{Video: true})
	file = append(file, 0x09, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0) // DataSize 16 MiB - 1
	file = append(file, make([]byte, 100)...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := readAllTags(flv.NewReader(bytes.NewReader(file), flv.ReaderConfig{}))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("error %v, want io.ErrUnexpectedEOF", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("allocated %d bytes for a 100-byte body", alloc)
	}
}

func TestWriterWriteTagBytes(t *testing.T) {
	var out bytes.Buffer
	w := flv.NewWriter(&out, flv.Header{Audio: true, Video: true})
	for _, c := range tagCases {
		if err := w.WriteTagBytes(c.bytes); err != nil {
			t.Fatal(err)
		}
	}
	file, _ := sampleFile()
	if !bytes.Equal(out.Bytes(), file) {
		t.Errorf("output differs\n got % x\nwant % x", out.Bytes(), file)
	}
	if err := w.WriteTagBytes(append(append([]byte(nil), tagCases[0].bytes...), 0)); err == nil {
		t.Error("WriteTagBytes accepted trailing bytes")
	}
	if err := w.WriteTagBytes(tagCases[0].bytes[:5]); err == nil {
		t.Error("WriteTagBytes accepted a truncated tag")
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk full")
	}
	f.n--
	return len(p), nil
}

func TestWriterStickyError(t *testing.T) {
	w := flv.NewWriter(&failWriter{n: 1}, flv.Header{Video: true})
	tag := tagCases[0].value
	if err := w.WriteTag(&tag); err == nil {
		t.Fatal("no error from a failing writer")
	}
	if err := w.WriteTag(&tag); err == nil {
		t.Error("error not sticky")
	}
	w = flv.NewWriter(&failWriter{}, flv.Header{Video: true})
	if err := w.WriteHeader(); err == nil {
		t.Error("WriteHeader on a failing writer: no error")
	}
}
