package flv

import "bytes"

var startCode = []byte{0, 0, 1}

// NextNALU returns the first NAL unit of an H.264/H.265 Annex-B byte stream
// and the bytes after it (starting at the next start code). The start code
// and zero bytes around NAL units are not part of nalu; bytes before the
// first start code count as a NAL unit unless they are all zero, so a bare
// NAL unit without start code is returned whole. nalu is nil when b holds
// no further NAL unit. Both results alias b; nothing is allocated.
func NextNALU(b []byte) (nalu, rest []byte) {
	for len(b) > 0 {
		p := bytes.Index(b, startCode)
		if p < 0 {
			return trimZeros(b), nil
		}
		if prefix := trimZeros(b[:p]); len(prefix) > 0 {
			return prefix, b[p:]
		}
		b = b[p+3:]
		q := bytes.Index(b, startCode)
		if q < 0 {
			q = len(b)
		}
		if n := trimZeros(b[:q]); len(n) > 0 {
			return n, b[q:]
		}
		b = b[q:]
	}
	return nil, nil
}

func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return nil
	}
	return b
}

// NextAVCAccessUnit splits the first access unit off an H.264 Annex-B byte
// stream: it ends before the first access unit delimiter, SPS, PPS, SEI or
// NAL unit of types 14..18 that follows a slice, or before a slice with
// first_mb_in_slice 0 that follows a slice (H.264 7.4.1.2.3). au ends with
// the last byte of its last NAL unit, rest starts with the zero bytes and
// start code of the next one. Both alias stream; au is nil at the end of
// the stream.
func NextAVCAccessUnit(stream []byte) (au, rest []byte) {
	return nextAccessUnit(stream, avcStartsAU)
}

// NextHEVCAccessUnit is NextAVCAccessUnit for H.265 (H.265 7.4.2.4.4): an
// access unit ends before the first access unit delimiter, VPS, SPS, PPS,
// prefix SEI or NAL unit of types 41..44 and 48..55 of layer 0 that follows
// a slice segment, or before a slice segment with
// first_slice_segment_in_pic_flag set.
func NextHEVCAccessUnit(stream []byte) (au, rest []byte) {
	return nextAccessUnit(stream, hevcStartsAU)
}

func nextAccessUnit(stream []byte, startsAU func(nal []byte) (vcl, first bool)) (au, rest []byte) {
	seenVCL := false
	end := 0 // end of the last NAL unit of the current access unit
	b := stream
	for {
		nal, r := NextNALU(b)
		if nal == nil {
			break
		}
		vcl, first := startsAU(nal)
		if seenVCL && first {
			break
		}
		seenVCL = seenVCL || vcl
		end = cap(stream) - cap(nal) + len(nal) // nal aliases stream
		b = r
	}
	if end == 0 {
		return nil, nil
	}
	return stream[:end:end], stream[end:]
}

// avcStartsAU reports whether nal is a slice and whether it may begin an
// access unit (a non-VCL starter, or a slice with first_mb_in_slice 0).
func avcStartsAU(nal []byte) (vcl, first bool) {
	switch t := nal[0] & 0x1f; {
	case t >= 1 && t <= 5:
		// first_mb_in_slice is ue(v); 0 is the single bit 1.
		return true, len(nal) > 1 && nal[1]&0x80 != 0
	case t == 6 || t == 7 || t == 8 || t == 9 || (t >= 14 && t <= 18):
		return false, true
	}
	return false, false
}

func hevcStartsAU(nal []byte) (vcl, first bool) {
	if len(nal) < 2 {
		return false, false
	}
	t := nal[0] >> 1 & 0x3f
	layer := (nal[0]&1)<<5 | nal[1]>>3
	switch {
	case t < 32:
		return true, len(nal) > 2 && nal[2]&0x80 != 0
	case layer != 0:
		return false, false
	case t >= hevcNALVPS && t <= hevcNALAUD, t == hevcNALPrefixSEI, t >= 41 && t <= 44, t >= 48 && t <= 55:
		return false, true
	}
	return false, false
}
