package flv_test

import (
	"bytes"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

func splitNALUs(b []byte) [][]byte {
	var out [][]byte
	for n, rest := flv.NextNALU(b); n != nil; n, rest = flv.NextNALU(rest) {
		out = append(out, n)
	}
	return out
}

func TestNextNALU(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want [][]byte
	}{
		{"empty", nil, nil},
		{"only-zeros", []byte{0, 0, 0, 0}, nil},
		{"bare-nal-unit", []byte{0x67, 0x42, 0x00}, [][]byte{{0x67, 0x42}}},
		{"three-and-four-byte-start-codes", []byte{
			0, 0, 0, 1, 0x67, 0x42, // 4-byte start code, SPS
			0, 0, 1, 0x68, 0xce, // 3-byte start code, PPS
			0, 0, 0, 1, 0x65, 0x88, 0x00, // IDR, trailing zero dropped
		}, [][]byte{{0x67, 0x42}, {0x68, 0xce}, {0x65, 0x88}}},
		{"leading-zero-bytes", []byte{0, 0, 0, 0, 0, 1, 0x09, 0xf0}, [][]byte{{0x09, 0xf0}}},
		{"bytes-before-first-start-code", []byte{0x0c, 0xff, 0, 0, 1, 0x09}, [][]byte{{0x0c, 0xff}, {0x09}}},
		{"empty-nal-between-start-codes", []byte{0, 0, 1, 0, 0, 1, 0x41}, [][]byte{{0x41}}},
		{"emulation-prevention-kept", []byte{0, 0, 1, 0x06, 0x00, 0x00, 0x03, 0x01, 0x80}, [][]byte{{0x06, 0x00, 0x00, 0x03, 0x01, 0x80}}},
	}
	for _, c := range cases {
		if got := splitNALUs(c.in); !equalNALs(got, c.want) {
			t.Errorf("%s: % x, want % x", c.name, got, c.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { splitNALUs3(cases[3].in) }); n != 0 {
		t.Errorf("NextNALU allocates %v times", n)
	}
}

// splitNALUs3 walks the NAL units without keeping them.
func splitNALUs3(b []byte) int {
	n := 0
	for nal, rest := flv.NextNALU(b); nal != nil; nal, rest = flv.NextNALU(rest) {
		n += len(nal)
	}
	return n
}

func equalNALs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func annexB(nals ...[]byte) []byte {
	var out []byte
	for _, n := range nals {
		out = append(append(out, 0, 0, 0, 1), n...)
	}
	return out
}

func TestNextAVCAccessUnit(t *testing.T) {
	sps, pps := unhex(t, avcVectors[1].sps), unhex(t, avcVectors[1].pps)
	aud := []byte{0x09, 0xf0}
	sei := []byte{0x06, 0x05, 0x01, 0x00, 0x80}
	idr0 := []byte{0x65, 0x88, 0x84} // IDR slice, first_mb_in_slice 0
	idr1 := []byte{0x65, 0x4c, 0x22} // IDR slice, first_mb_in_slice 1 (010)
	p0 := []byte{0x41, 0x9a, 0x02}   // non-IDR slice, first_mb_in_slice 0
	b0 := []byte{0x01, 0x9e, 0x21}   // non-reference slice, first_mb_in_slice 0
	stream := annexB(aud, sps, pps, sei, idr0, idr1, p0, sei, b0, aud, p0)
	want := [][][]byte{{aud, sps, pps, sei, idr0, idr1}, {p0}, {sei, b0}, {aud, p0}}
	var got [][][]byte
	for au, rest := flv.NextAVCAccessUnit(stream); au != nil; au, rest = flv.NextAVCAccessUnit(rest) {
		got = append(got, splitNALUs(au))
	}
	if len(got) != len(want) {
		t.Fatalf("%d access units, want %d: % x", len(got), len(want), got)
	}
	for i := range want {
		if !equalNALs(got[i], want[i]) {
			t.Errorf("access unit %d = % x, want % x", i, got[i], want[i])
		}
	}
}

func TestNextHEVCAccessUnit(t *testing.T) {
	v := hevcVectors[0]
	vps, sps, pps := unhex(t, v.vps), unhex(t, v.sps), unhex(t, v.pps)
	aud := []byte{0x46, 0x01, 0x50}
	prefixSEI := []byte{0x4e, 0x01, 0x05, 0x01, 0x80}
	suffixSEI := []byte{0x50, 0x01, 0x05, 0x01, 0x80}
	idrFirst := []byte{0x26, 0x01, 0xaf}   // IDR_W_RADL, first_slice_segment_in_pic_flag 1
	idrSecond := []byte{0x26, 0x01, 0x20}  // IDR_W_RADL, flag 0
	trailFirst := []byte{0x02, 0x01, 0xd0} // TRAIL_R, flag 1
	layer1 := []byte{0x4e, 0x09, 0x05}     // prefix SEI of nuh_layer_id 1: stays with its access unit
	stream := annexB(vps, sps, pps, prefixSEI, idrFirst, idrSecond, suffixSEI, layer1, trailFirst, aud, trailFirst)
	want := [][][]byte{{vps, sps, pps, prefixSEI, idrFirst, idrSecond, suffixSEI, layer1}, {trailFirst}, {aud, trailFirst}}
	var got [][][]byte
	for au, rest := flv.NextHEVCAccessUnit(stream); au != nil; au, rest = flv.NextHEVCAccessUnit(rest) {
		got = append(got, splitNALUs(au))
	}
	if len(got) != len(want) {
		t.Fatalf("%d access units, want %d", len(got), len(want))
	}
	for i := range want {
		if !equalNALs(got[i], want[i]) {
			t.Errorf("access unit %d = % x, want % x", i, got[i], want[i])
		}
	}
}

func TestAVCTagBuilder(t *testing.T) {
	sps, pps := unhex(t, avcVectors[1].sps), unhex(t, avcVectors[1].pps)
	aud := []byte{0x09, 0xf0}
	idr := []byte{0x65, 0x88, 0x84}
	p := []byte{0x41, 0x9a, 0x02}
	var b flv.AVCTagBuilder

	if _, err := b.Build(annexB(p), 0); err == nil {
		t.Error("a slice before any SPS/PPS built a frame")
	}
	out, err := b.Build(annexB(aud, sps, pps, idr), 80)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := flv.NewAVCDecoderConfig([][]byte{sps}, [][]byte{pps})
	rec, _ := cfg.AppendTo(nil)
	wantSeq := cat([]byte{0x17, 0x00, 0x00, 0x00, 0x00}, rec) // key AVC, sequence header, cts 0
	wantFrame := cat(
		[]byte{0x17, 0x01, 0x00, 0x00, 0x50}, // key AVC, NALUs, cts 80
		[]byte{0x00, 0x00, 0x00, 0x03}, idr,  // the IDR slice only: AUD, SPS, PPS left out
	)
	if !bytes.Equal(out.SequenceStart, wantSeq) || !bytes.Equal(out.Frame, wantFrame) || !out.Keyframe {
		t.Errorf("first unit:\nseq   % x\nwant  % x\nframe % x\nwant  % x\nkey %v", out.SequenceStart, wantSeq, out.Frame, wantFrame, out.Keyframe)
	}
	out, err = b.Build(annexB(p), -40)
	wantFrame = cat([]byte{0x27, 0x01, 0xff, 0xff, 0xd8}, []byte{0, 0, 0, 3}, p)
	if err != nil || out.SequenceStart != nil || out.Keyframe || !bytes.Equal(out.Frame, wantFrame) {
		t.Errorf("inter unit: %+v, %v", out, err)
	}
	// Repeated identical parameter sets give no new sequence header.
	out, err = b.Build(annexB(sps, pps, idr), 0)
	if err != nil || out.SequenceStart != nil || !out.Keyframe {
		t.Errorf("repeated parameter sets: %+v, %v", out, err)
	}
	// Changed parameter sets do.
	sps2 := unhex(t, avcVectors[0].sps)
	out, err = b.Build(annexB(sps2, pps, idr), 0)
	if err != nil || out.SequenceStart == nil {
		t.Fatalf("changed SPS: %+v, %v", out, err)
	}
	h, err := flv.ParseVideoHeader(out.SequenceStart)
	if err != nil {
		t.Fatal(err)
	}
	if vc, err := flv.ParseVideoConfig(h.Codec, h.Data); err != nil || vc.Width != 1920 {
		t.Errorf("new sequence header describes %+v, %v", vc, err)
	}
	// Parameter sets alone: a sequence header, no frame.
	out, err = b.Build(annexB(sps, pps), 0)
	if err != nil || out.SequenceStart == nil || out.Frame != nil {
		t.Errorf("parameter sets only: %+v, %v", out, err)
	}
}

func TestHEVCTagBuilder(t *testing.T) {
	v := hevcVectors[0]
	vps, sps, pps := unhex(t, v.vps), unhex(t, v.sps), unhex(t, v.pps)
	aud := []byte{0x46, 0x01, 0x50}
	idr := []byte{0x26, 0x01, 0xaf}
	trail := []byte{0x02, 0x01, 0xd0}
	var b flv.HEVCTagBuilder
	if _, err := b.Build(annexB(sps, pps, idr), 0); err == nil {
		t.Error("a picture without VPS built a frame")
	}
	out, err := b.Build(annexB(aud, vps, sps, pps, idr), 0)
	if err != nil {
		t.Fatal(err)
	}
	wantSeq := cat([]byte{0x90}, fourCC("hvc1"), hevcRecord240(t))                      // ex, key, SequenceStart
	wantFrame := cat([]byte{0x93}, fourCC("hvc1"), []byte{0x00, 0x00, 0x00, 0x03}, idr) // key, CodedFramesX
	if !bytes.Equal(out.SequenceStart, wantSeq) || !bytes.Equal(out.Frame, wantFrame) || !out.Keyframe {
		t.Errorf("first unit:\nseq   % x\nwant  % x\nframe % x\nwant  % x", out.SequenceStart, wantSeq, out.Frame, wantFrame)
	}
	out, err = b.Build(annexB(trail), 40)
	wantFrame = cat([]byte{0xa1}, fourCC("hvc1"), []byte{0x00, 0x00, 0x28}, []byte{0, 0, 0, 3}, trail) // inter, CodedFrames, cts 40
	if err != nil || out.SequenceStart != nil || out.Keyframe || !bytes.Equal(out.Frame, wantFrame) {
		t.Errorf("inter unit: % x, %v", out.Frame, err)
	}
}

func TestAV1TagBuilder(t *testing.T) {
	seq := unhex(t, av1Vectors[0].obu)
	td := []byte{0x12, 0x00}
	key := []byte{0x32, 0x02, 0x10, 0x00}   // frame OBU: show_existing_frame 0, frame_type 0 KEY_FRAME
	inter := []byte{0x32, 0x02, 0x30, 0x00} // frame_type 1 INTER_FRAME
	pad := []byte{0x7a, 0x01, 0xff}         // padding OBU
	var b flv.AV1TagBuilder
	if _, err := b.Build(cat(td, inter)); err == nil {
		t.Error("a frame before the sequence header built a tag")
	}
	out, err := b.Build(cat(td, seq, key, pad))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := flv.NewAV1CodecConfig(seq)
	rec, _ := cfg.AppendTo(nil)
	wantSeq := cat([]byte{0x90}, fourCC("av01"), rec)
	wantFrame := cat([]byte{0x91}, fourCC("av01"), seq, key) // TD and padding dropped, no composition time
	if !bytes.Equal(out.SequenceStart, wantSeq) || !bytes.Equal(out.Frame, wantFrame) || !out.Keyframe {
		t.Errorf("first unit:\nseq   % x\nwant  % x\nframe % x\nwant  % x", out.SequenceStart, wantSeq, out.Frame, wantFrame)
	}
	out, err = b.Build(cat(td, inter))
	if err != nil || out.SequenceStart != nil || out.Keyframe || !bytes.Equal(out.Frame, cat([]byte{0xa1}, fourCC("av01"), inter)) {
		t.Errorf("inter unit: %+v, %v", out, err)
	}
	// An OBU without size field gets one.
	out, err = b.Build(cat(td, []byte{0x30, 0x30, 0x00}))
	if err != nil || !bytes.Equal(out.Frame, cat([]byte{0xa1}, fourCC("av01"), inter)) {
		t.Errorf("unsized OBU: % x, %v", out.Frame, err)
	}
	if out, err := b.Build(td); err != nil || out.Frame != nil {
		t.Errorf("temporal delimiter only: %+v, %v", out, err)
	}
}
