package flv_test

import (
	"bytes"
	"io"
	"reflect"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// Every fuzz target is seeded from the case tables with f.Add and from the
// named corpus in testdata/fuzz/<target>.

func FuzzTag(f *testing.F) {
	for _, c := range tagCases {
		f.Add(c.bytes)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tag, n, err := flv.ParseTag(b)
		if err != nil {
			return
		}
		if n != tag.Size() || n > len(b) {
			t.Fatalf("consumed %d, Size %d, input %d", n, tag.Size(), len(b))
		}
		out, err := tag.AppendTo(nil)
		if err != nil {
			t.Fatalf("AppendTo of a parsed tag: %v", err)
		}
		if !bytes.Equal(out, b[:n]) {
			t.Fatalf("re-encoded % x\nparsed     % x", out, b[:n])
		}
		if tag.StreamID == 0 {
			out2, err := flv.AppendTag(nil, tag.Type, tag.Timestamp, tag.Body)
			if err != nil || !bytes.Equal(out2, out) {
				t.Fatalf("AppendTag = % x, %v", out2, err)
			}
		}
	})
}

func FuzzVideoHeader(f *testing.F) {
	for _, c := range videoCases {
		f.Add(c.bytes)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		key := flv.IsKeyframe(flv.TagVideo, b)
		seq := flv.IsSequenceHeader(flv.TagVideo, b)
		codec := flv.TagCodec(flv.TagVideo, b)
		h, err := flv.ParseVideoHeader(b)
		if err != nil {
			return
		}
		coded := h.PacketType == flv.VideoPacketCodedFrames || h.PacketType == flv.VideoPacketCodedFramesX
		if want := !h.HasCommand && coded && (h.FrameType == flv.VideoFrameKey || h.FrameType == flv.VideoFrameGeneratedKey); key != want {
			t.Fatalf("IsKeyframe %v, header %+v", key, h)
		}
		if want := !h.HasCommand && (h.PacketType == flv.VideoPacketSequenceStart || h.PacketType == flv.VideoPacketMPEG2TSSequenceStart); seq != want {
			t.Fatalf("IsSequenceHeader %v, header %+v", seq, h)
		}
		if codec != h.Codec && !(h.HasCommand && h.Enhanced) {
			t.Fatalf("TagCodec %v, header %v", codec, h.Codec)
		}
		v := viewVideo(&h)
		if len(v.Tracks) != h.NumTracks {
			t.Fatalf("%d tracks iterated, NumTracks %d", len(v.Tracks), h.NumTracks)
		}
		out, err := flv.AppendVideo(nil, &h, v.Tracks...)
		if err != nil {
			t.Fatalf("AppendVideo of a parsed header: %v (%+v)", err, v)
		}
		h2, err := flv.ParseVideoHeader(out)
		if err != nil {
			t.Fatalf("re-parse % x: %v", out, err)
		}
		if v2 := viewVideo(&h2); !reflect.DeepEqual(v2, v) {
			t.Fatalf("re-encoded header differs\n got  %+v\n want %+v", v2, v)
		}
	})
}

func FuzzAudioHeader(f *testing.F) {
	for _, c := range audioCases {
		f.Add(c.bytes)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		seq := flv.IsSequenceHeader(flv.TagAudio, b)
		codec := flv.TagCodec(flv.TagAudio, b)
		if flv.IsKeyframe(flv.TagAudio, b) {
			t.Fatal("IsKeyframe true for audio")
		}
		h, err := flv.ParseAudioHeader(b)
		if err != nil {
			return
		}
		if want := !h.Silence && h.PacketType == flv.AudioPacketSequenceStart; seq != want {
			t.Fatalf("IsSequenceHeader %v, header %+v", seq, h)
		}
		if codec != h.Codec {
			t.Fatalf("TagCodec %v, header %v", codec, h.Codec)
		}
		v := viewAudio(&h)
		if len(v.Tracks) != h.NumTracks {
			t.Fatalf("%d tracks iterated, NumTracks %d", len(v.Tracks), h.NumTracks)
		}
		out, err := flv.AppendAudio(nil, &h, v.Tracks...)
		if err != nil {
			t.Fatalf("AppendAudio of a parsed header: %v (%+v)", err, v)
		}
		h2, err := flv.ParseAudioHeader(out)
		if err != nil {
			t.Fatalf("re-parse % x: %v", out, err)
		}
		if v2 := viewAudio(&h2); !reflect.DeepEqual(v2, v) {
			t.Fatalf("re-encoded header differs\n got  %+v\n want %+v", v2, v)
		}
	})
}

// FuzzConfigRecords feeds the same bytes to every configuration record
// and bitstream parser (and the Annex-B/OBU splitters and tag builders):
// none may panic or loop, and records that parse must re-encode to an
// equal record.
func FuzzConfigRecords(f *testing.F) {
	for _, v := range avcVectors {
		f.Add(unhex(f, v.sps))
		cfg, err := flv.NewAVCDecoderConfig([][]byte{unhex(f, v.sps)}, [][]byte{unhex(f, v.pps)})
		if err != nil {
			f.Fatal(err)
		}
		rec, _ := cfg.AppendTo(nil)
		f.Add(rec)
	}
	for _, v := range hevcVectors {
		f.Add(unhex(f, v.sps))
		cfg, err := flv.NewHEVCDecoderConfig([][]byte{unhex(f, v.vps)}, [][]byte{unhex(f, v.sps)}, [][]byte{unhex(f, v.pps)})
		if err != nil {
			f.Fatal(err)
		}
		rec, _ := cfg.AppendTo(nil)
		f.Add(rec)
	}
	for _, v := range av1Vectors {
		obu := unhex(f, v.obu)
		f.Add(obu)
		f.Add(obu[2:]) // the bare sequence header payload
		cfg, err := flv.NewAV1CodecConfig(obu)
		if err != nil {
			f.Fatal(err)
		}
		rec, _ := cfg.AppendTo(nil)
		f.Add(rec)
	}
	f.Add([]byte{0x12, 0x10})
	f.Add([]byte{0x2b, 0x11, 0x88})
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := flv.ParseAVCDecoderConfig(b); err == nil {
			out, err := c.AppendTo(nil)
			if err != nil {
				t.Fatalf("AVC record AppendTo: %v", err)
			}
			if c2, err := flv.ParseAVCDecoderConfig(out); err != nil || !reflect.DeepEqual(c2, c) {
				t.Fatalf("AVC record round trip: %+v, %v; want %+v", c2, err, c)
			}
		}
		if c, err := flv.ParseHEVCDecoderConfig(b); err == nil {
			out, err := c.AppendTo(nil)
			if err != nil {
				t.Fatalf("HEVC record AppendTo: %v", err)
			}
			if c2, err := flv.ParseHEVCDecoderConfig(out); err != nil || !reflect.DeepEqual(c2, c) {
				t.Fatalf("HEVC record round trip: %+v, %v; want %+v", c2, err, c)
			}
		}
		if c, err := flv.ParseAV1CodecConfig(b); err == nil {
			out, err := c.AppendTo(nil)
			if err != nil {
				t.Fatalf("AV1 record AppendTo: %v", err)
			}
			if c2, err := flv.ParseAV1CodecConfig(out); err != nil || !reflect.DeepEqual(c2, c) {
				t.Fatalf("AV1 record round trip: %+v, %v; want %+v", c2, err, c)
			}
			_, _ = c.SequenceHeader()
		}
		for _, codec := range []flv.Codec{flv.CodecAVC, flv.CodecHEVC, flv.CodecAV1} {
			if vc, err := flv.ParseVideoConfig(codec, b); err == nil && (vc.Width <= 0 || vc.Height <= 0) {
				t.Fatalf("%v config of %dx%d", codec, vc.Width, vc.Height)
			}
		}
		if s, err := flv.ParseAVCSPS(b); err == nil && (s.Width <= 0 || s.Height <= 0) {
			t.Fatalf("AVC SPS of %dx%d", s.Width, s.Height)
		}
		if s, err := flv.ParseHEVCSPS(b); err == nil && (s.Width <= 0 || s.Height <= 0) {
			t.Fatalf("HEVC SPS of %dx%d", s.Width, s.Height)
		}
		_, _ = flv.ParseAV1SequenceHeader(b)
		_, _ = flv.ParseAudioSpecificConfig(b)
		if o, n, err := flv.ParseOBU(b); err == nil && (n > len(b) || len(o.Raw) != n) {
			t.Fatalf("ParseOBU consumed %d of %d", n, len(b))
		}

		// Splitters must make progress and stay inside the input.
		total := 0
		for nal, rest := flv.NextNALU(b); nal != nil; nal, rest = flv.NextNALU(rest) {
			total += len(nal)
		}
		if total > len(b) {
			t.Fatalf("NAL units of %d bytes from %d", total, len(b))
		}
		for _, split := range []func([]byte) ([]byte, []byte){flv.NextAVCAccessUnit, flv.NextHEVCAccessUnit} {
			total = 0
			for au, rest := split(b); au != nil; au, rest = split(rest) {
				total += len(au)
			}
			if total > len(b) {
				t.Fatalf("access units of %d bytes from %d", total, len(b))
			}
		}
		for rest := b; ; {
			tu, r, err := flv.NextAV1TemporalUnit(rest)
			if err != nil {
				break
			}
			if len(tu) == 0 || len(r) >= len(rest) {
				t.Fatal("NextAV1TemporalUnit made no progress")
			}
			rest = r
		}
		var ab flv.AVCTagBuilder
		var hb flv.HEVCTagBuilder
		var vb flv.AV1TagBuilder
		for _, out := range []func() (flv.BuiltVideo, error){
			func() (flv.BuiltVideo, error) { return ab.Build(b, 0) },
			func() (flv.BuiltVideo, error) { return hb.Build(b, 0) },
			func() (flv.BuiltVideo, error) { return vb.Build(b) },
		} {
			bv, err := out()
			if err != nil {
				continue
			}
			for _, body := range [][]byte{bv.SequenceStart, bv.Frame} {
				if body == nil {
					continue
				}
				if _, err := flv.ParseVideoHeader(body); err != nil {
					t.Fatalf("builder made an unparsable tag % x: %v", body, err)
				}
			}
		}
	})
}

func FuzzReader(f *testing.F) {
	file, _ := sampleFile()
	f.Add(file)
	f.Add(file[:len(file)-4])
	f.Add(file[:20])
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, strict := range []bool{false, true} {
			cfg := flv.ReaderConfig{MaxTagSize: 1 << 16, StrictPreviousTagSize: strict}
			r := flv.NewReader(bytes.NewReader(b), cfg)
			tags, end := readAllTags(r)
			if r.Offset() > int64(len(b)) {
				t.Fatalf("offset %d beyond %d bytes", r.Offset(), len(b))
			}
			hdr, err := r.ReadHeader()
			if err != nil {
				if len(tags) > 0 {
					t.Fatal("tags without a header")
				}
				continue
			}
			// What was read writes out and reads back the same.
			var out bytes.Buffer
			w := flv.NewWriter(&out, hdr)
			if err := w.WriteHeader(); err != nil {
				t.Fatal(err)
			}
			for i := range tags {
				if err := w.WriteTag(&tags[i]); err != nil {
					t.Fatal(err)
				}
			}
			again, err := readAllTags(flv.NewReader(bytes.NewReader(out.Bytes()), flv.ReaderConfig{StrictPreviousTagSize: true}))
			if err != io.EOF {
				t.Fatalf("re-read: %v", err)
			}
			if !reflect.DeepEqual(again, tags) {
				t.Fatalf("re-read %d tags, wrote %d", len(again), len(tags))
			}
			if !strict || end != io.EOF {
				continue
			}
			// A strict read of a whole file matches a ParseTag walk; only
			// the last tag may lack its previous tag size.
			_, off, err := flv.ParseHeader(b)
			if err != nil {
				t.Fatalf("ParseHeader of a file the reader accepted: %v", err)
			}
			for i := range tags {
				tag, n, err := flv.ParseTag(b[off:])
				if err != nil {
					if i != len(tags)-1 {
						t.Fatalf("ParseTag %d: %v", i, err)
					}
					break
				}
				if tag.Type != tags[i].Type || tag.Timestamp != tags[i].Timestamp || !bytes.Equal(tag.Body, tags[i].Body) {
					t.Fatalf("ParseTag %d differs from the reader", i)
				}
				off += n
			}
		}
	})
}

func readAllTags(r *flv.Reader) ([]flv.Tag, error) {
	var out []flv.Tag
	for {
		var tag flv.Tag
		if err := r.ReadTag(&tag); err != nil {
			return out, err
		}
		out = append(out, tag.Clone())
	}
}
