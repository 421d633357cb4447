package flv

import (
	"fmt"
	"io"
)

// Writer writes an FLV file: the file header, then tags each followed by
// its previous tag size. Each WriteTag is one Write call on the underlying
// writer (the tag is assembled in a reused buffer), so no bufio is needed
// for efficiency. A Writer is not safe for concurrent use.
type Writer struct {
	w          io.Writer
	hdr        Header
	hdrWritten bool
	buf        []byte
	err        error
}

// NewWriter returns a Writer that writes h as the file header before the
// first tag. It writes nothing yet.
func NewWriter(w io.Writer, h Header) *Writer {
	return &Writer{w: w, hdr: h}
}

// WriteHeader writes the file header if it has not been written yet.
func (w *Writer) WriteHeader() error {
	if w.err != nil || w.hdrWritten {
		return w.err
	}
	w.buf = AppendHeader(w.buf[:0], w.hdr)
	if _, err := w.w.Write(w.buf); err != nil {
		w.err = fmt.Errorf("flv: write file header: %w", err)
		return w.err
	}
	w.hdrWritten = true
	return nil
}

// WriteTag writes t (with its stream id) and its previous tag size, after
// the file header if that is not written yet. The Writer does not keep
// t.Body. After a write error every call returns that error.
func (w *Writer) WriteTag(t *Tag) error {
	if err := w.WriteHeader(); err != nil {
		return err
	}
	b, err := t.AppendTo(w.buf[:0])
	if err != nil {
		return err
	}
	w.buf = b
	if _, err := w.w.Write(b); err != nil {
		w.err = fmt.Errorf("flv: write tag: %w", err)
		return w.err
	}
	return nil
}

// WriteTagBytes writes one tag already in file form, such as a media bus
// payload made by AppendTag, after checking it with ParseTag. It writes the
// file header first if that is not written yet.
func (w *Writer) WriteTagBytes(b []byte) error {
	if _, n, err := ParseTag(b); err != nil {
		return err
	} else if n != len(b) {
		return fmt.Errorf("%w: %d bytes after the tag", errMalformed, len(b)-n)
	}
	if err := w.WriteHeader(); err != nil {
		return err
	}
	if _, err := w.w.Write(b); err != nil {
		w.err = fmt.Errorf("flv: write tag: %w", err)
		return w.err
	}
	return nil
}
