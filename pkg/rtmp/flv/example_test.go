package flv_test

import (
	"bytes"
	"fmt"
	"io"

	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// An RTMP video message becomes the bytes of one FLV tag (the media bus
// frame payload); a file header followed by such payloads is an FLV file.
func ExampleAppendTag() {
	payload := []byte{0x17, 0x01, 0x00, 0x00, 0x00} // key frame, AVC NALUs, cts 0
	var buf []byte                                  // reused for every message
	buf, err := flv.AppendTag(buf[:0], flv.TagVideo, 40, payload)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("% x\n", buf)

	file := append(flv.AppendHeader(nil, flv.Header{Video: true}), buf...)
	r := flv.NewReader(bytes.NewReader(file), flv.ReaderConfig{})
	var tag flv.Tag
	for r.ReadTag(&tag) != io.EOF {
		fmt.Println(tag.Type, tag.Timestamp, flv.IsKeyframe(tag.Type, tag.Body))
	}
	// Output:
	// 09 00 00 05 00 00 28 00 00 00 00 17 01 00 00 00 00 00 00 10
	// 9 40 true
}

// A multitrack E-RTMP message carries several tracks; the iterator walks
// them without allocating.
func ExampleVideoHeader_Tracks() {
	body := []byte{
		0x96,               // E-RTMP, key frame, Multitrack
		0x13,               // ManyTracks, CodedFramesX
		'h', 'v', 'c', '1', // shared FourCC
		0x00, 0x00, 0x00, 0x02, 0xaa, 0xbb, // track 0, 2 bytes
		0x01, 0x00, 0x00, 0x01, 0xcc, // track 1, 1 byte
	}
	h, err := flv.ParseVideoHeader(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	var t flv.VideoTrack
	for it := h.Tracks(); it.Next(&t); {
		fmt.Printf("track %d: %v, % x\n", t.ID, t.Codec, t.Data)
	}
	// Output:
	// track 0: hevc, aa bb
	// track 1: hevc, cc
}
