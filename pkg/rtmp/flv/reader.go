package flv

import (
	"fmt"
	"io"
)

// ReaderConfig holds the limits of a Reader. The zero value gives the
// documented defaults.
type ReaderConfig struct {
	// MaxTagSize is the largest tag body accepted, in bytes. Zero or a value
	// above MaxTagBodySize means MaxTagBodySize (16 MiB - 1, what the format
	// can express). The Reader's buffer never grows beyond this plus 4
	// bytes, and grows with the bytes actually received, so a forged size
	// field in a short stream does not make it allocate the whole size.
	MaxTagSize int
	// StrictPreviousTagSize makes a previous-tag-size field that does not
	// match the tag an error. By default a mismatch is ignored, as FFmpeg
	// does, because some writers in the wild get it wrong.
	StrictPreviousTagSize bool
}

// Reader reads an FLV file tag by tag. It makes two Read calls per tag on
// the underlying reader (header, then body with the following previous tag
// size), so wrap unbuffered sources in a bufio.Reader. A Reader is not safe
// for concurrent use.
type Reader struct {
	r       io.Reader
	cfg     ReaderConfig
	max     int
	hdr     Header
	hdrRead bool
	hdrBuf  [TagHeaderSize]byte
	buf     []byte
	offset  int64
	err     error
}

// NewReader returns a Reader reading from r. It reads nothing until the
// first call to ReadHeader or ReadTag.
func NewReader(r io.Reader, cfg ReaderConfig) *Reader {
	limit := cfg.MaxTagSize
	if limit <= 0 || limit > MaxTagBodySize {
		limit = MaxTagBodySize
	}
	return &Reader{r: r, cfg: cfg, max: limit}
}

// ReadHeader reads and returns the file header, or returns the header
// already read.
func (r *Reader) ReadHeader() (Header, error) {
	if r.hdrRead {
		return r.hdr, nil
	}
	if r.err != nil {
		return Header{}, r.err
	}
	var b [9]byte
	n, err := io.ReadFull(r.r, b[:])
	r.offset += int64(n)
	if err != nil {
		return Header{}, r.fail(fmt.Errorf("flv: read file header: %w", eofIsUnexpected(err)))
	}
	h, off, err := parseFileHeader(&b)
	if err != nil {
		return Header{}, r.fail(err)
	}
	// Skip DataOffset beyond 9 bytes and PreviousTagSize0.
	m, err := io.CopyN(io.Discard, r.r, int64(off)-9+PreviousTagSizeLen)
	r.offset += m
	if err != nil {
		return Header{}, r.fail(fmt.Errorf("flv: read file header: %w", eofIsUnexpected(err)))
	}
	r.hdr, r.hdrRead = h, true
	return h, nil
}

// ReadTag reads the next tag into t. t.Body aliases the Reader's buffer and
// is valid until the next call to ReadTag; use Tag.Clone to keep it. It
// reads the file header first if ReadHeader was not called. At the end of
// the file it returns io.EOF; a file that ends inside a tag returns an error
// wrapping io.ErrUnexpectedEOF (a missing final previous tag size alone is
// accepted). After an error every call returns the same error.
func (r *Reader) ReadTag(t *Tag) error {
	if !r.hdrRead {
		if _, err := r.ReadHeader(); err != nil {
			return err
		}
	}
	if r.err != nil {
		return r.err
	}
	n, err := io.ReadFull(r.r, r.hdrBuf[:])
	r.offset += int64(n)
	if err != nil {
		if err == io.EOF {
			return r.fail(io.EOF)
		}
		return r.fail(fmt.Errorf("flv: read tag header at offset %d: %w", r.offset-int64(n), err))
	}
	tag, size := parseTagHeader(r.hdrBuf[:])
	if size > r.max {
		return r.fail(fmt.Errorf("%w: tag at offset %d has %d bytes, limit %d", errTagTooLarge, r.offset-TagHeaderSize, size, r.max))
	}
	want := size + PreviousTagSizeLen
	got, err := r.fill(want)
	r.offset += int64(got)
	switch {
	case err == nil:
		if prev := be32(r.buf[size:want]); r.cfg.StrictPreviousTagSize && prev != uint32(size+TagHeaderSize) {
			return r.fail(fmt.Errorf("%w: at offset %d field says %d, tag is %d bytes", errPrevTagSize, r.offset-PreviousTagSizeLen, prev, size+TagHeaderSize))
		}
	case got == size && (err == io.EOF || err == io.ErrUnexpectedEOF):
		// The last tag without its previous tag size: keep it, end next.
		r.err = io.EOF
	default:
		return r.fail(fmt.Errorf("flv: read tag body at offset %d: %w", r.offset-int64(got), eofIsUnexpected(err)))
	}
	tag.Body = r.buf[:size:size]
	*t = tag
	return nil
}

// Offset returns the number of bytes consumed from the underlying reader.
func (r *Reader) Offset() int64 { return r.offset }

// fill reads n bytes into r.buf[:n]. The buffer grows at most to the bytes
// received so far (doubling), never straight to an announced size.
func (r *Reader) fill(n int) (int, error) {
	if cap(r.buf) >= n {
		r.buf = r.buf[:n]
		return io.ReadFull(r.r, r.buf)
	}
	const step = 64 << 10
	got := 0
	r.buf = r.buf[:cap(r.buf)]
	for got < n {
		if got == len(r.buf) {
			c := 2 * len(r.buf)
			if c < step {
				c = step
			}
			if c > n {
				c = n
			}
			nb := make([]byte, c)
			copy(nb, r.buf[:got])
			r.buf = nb
		}
		m, err := io.ReadFull(r.r, r.buf[got:min(n, len(r.buf))])
		got += m
		if err != nil {
			if err == io.EOF && got > 0 {
				err = io.ErrUnexpectedEOF
			}
			return got, err
		}
	}
	r.buf = r.buf[:n]
	return got, nil
}

func (r *Reader) fail(err error) error {
	r.err = err
	return err
}

func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
