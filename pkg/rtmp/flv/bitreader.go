package flv

// bitReader reads bits MSB first from a byte slice with bounds checks. With
// rbsp set it drops H.264/H.265 emulation prevention bytes (the 0x03 in
// 00 00 03) as it goes, so NAL unit payloads are read without copying.
// Reading past the end sets a sticky error flag and returns zeros; callers
// check ok() after a group of reads and bound every loop.
type bitReader struct {
	b     []byte
	i     int  // next byte of b to load
	cur   byte // current byte, consumed from the top
	left  uint // bits left in cur
	zeros int  // consecutive zero bytes loaded (rbsp mode)
	rbsp  bool
	bad   bool
}

func (r *bitReader) load() bool {
	for r.i < len(r.b) {
		c := r.b[r.i]
		r.i++
		if r.rbsp {
			if r.zeros >= 2 && c == 3 {
				r.zeros = 0
				continue
			}
			if c == 0 {
				r.zeros++
			} else {
				r.zeros = 0
			}
		}
		r.cur, r.left = c, 8
		return true
	}
	r.bad = true
	return false
}

// u reads an n-bit unsigned value, n <= 32.
func (r *bitReader) u(n uint) uint32 {
	var v uint32
	for n > 0 {
		if r.left == 0 && !r.load() {
			return 0
		}
		take := min(n, r.left)
		shift := r.left - take
		v = v<<take | uint32(r.cur>>shift)&(1<<take-1)
		r.left -= take
		n -= take
	}
	return v
}

func (r *bitReader) u64(n uint) uint64 {
	if n > 32 {
		hi := uint64(r.u(n - 32))
		return hi<<32 | uint64(r.u(32))
	}
	return uint64(r.u(n))
}

func (r *bitReader) flag() bool { return r.u(1) == 1 }

func (r *bitReader) skip(n uint) {
	for n > 32 {
		r.u(32)
		n -= 32
	}
	r.u(n)
}

// ue reads an unsigned Exp-Golomb code. Codes longer than 32 bits are
// malformed for every syntax element used here.
func (r *bitReader) ue() uint32 {
	zeros := uint(0)
	for !r.flag() {
		if r.bad {
			return 0
		}
		zeros++
		if zeros > 31 {
			r.bad = true
			return 0
		}
	}
	if zeros == 0 {
		return 0
	}
	return uint32(1)<<zeros - 1 + r.u(zeros)
}

// se reads a signed Exp-Golomb code.
func (r *bitReader) se() int32 {
	k := r.ue()
	if k&1 == 1 {
		return int32(k/2 + 1)
	}
	return -int32(k / 2)
}

// uvlc reads an AV1 uvlc() value.
func (r *bitReader) uvlc() uint32 {
	zeros := uint(0)
	for !r.flag() {
		if r.bad {
			return 0
		}
		zeros++
		if zeros >= 32 {
			r.bad = true
			return 0
		}
	}
	if zeros == 0 {
		return 0
	}
	return r.u(zeros) + (uint32(1)<<zeros - 1)
}

func (r *bitReader) ok() bool { return !r.bad }
