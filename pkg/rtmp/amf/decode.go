package amf

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
)

// Default limits of a zero [Decoder].
const (
	// DefaultMaxDepth is the default cap on container nesting.
	DefaultMaxDepth = 64
	// DefaultMaxElements is the default cap on the number of values one
	// decode call produces.
	DefaultMaxElements = 1 << 20
)

// Decoder decodes AMF0 and AMF3 under limits that keep hostile input from
// exhausting the stack, memory or CPU. The zero value applies the defaults;
// the package-level Decode functions use a zero Decoder.
//
// A Decoder holds only configuration, so one value may be shared by any
// number of goroutines.
type Decoder struct {
	// MaxDepth caps how deeply containers (objects, arrays, typed objects,
	// vectors of objects, dictionaries) may nest; a top-level container is
	// at depth 1. A value reached through a reference counts at the depth
	// where the reference appears, so the decoded tree never exceeds
	// MaxDepth. Zero or negative means DefaultMaxDepth.
	MaxDepth int
	// MaxElements caps the size of what one call decodes, in elements: one
	// per value (and per item of an AMF3 numeric vector), plus one per 64
	// bytes of every string, name, class name, XML document and byte
	// array. A subtree reached through a reference counts again at each
	// reference, so the cap bounds the decoded tree as it would be walked
	// or encoded again (about 64 bytes of data per element), whatever the
	// references multiply. Zero or negative means DefaultMaxElements.
	MaxElements int
}

// DecodeAMF0 decodes one AMF0 value from the start of b, under the default
// limits, and returns it with the number of bytes it took. On error it
// returns nil, 0 and the error.
func DecodeAMF0(b []byte) (v any, n int, err error) { return Decoder{}.DecodeAMF0(b) }

// DecodeAMF0All decodes AMF0 values until the end of b, under the default
// limits. Reference markers may point at complex values of earlier values
// in b.
func DecodeAMF0All(b []byte) ([]any, error) { return Decoder{}.DecodeAMF0All(b) }

// DecodeAMF3 decodes one AMF3 value from the start of b, with fresh
// reference tables and the default limits, and returns it with the number
// of bytes it took.
func DecodeAMF3(b []byte) (any, int, error) { return Decoder{}.DecodeAMF3(b) }

// DecodeAMF0 decodes one AMF0 value from the start of b and returns it with
// the number of bytes it took. On error it returns nil, 0 and the error.
func (d Decoder) DecodeAMF0(b []byte) (any, int, error) {
	st := newState(d, b)
	defer st.release()
	v, err := st.amf0Value()
	if err != nil {
		return nil, 0, err
	}
	return v, st.off, nil
}

// DecodeAMF0All decodes AMF0 values until the end of b; the reference
// table spans the whole call. Empty input gives no values and no error.
func (d Decoder) DecodeAMF0All(b []byte) ([]any, error) {
	st := newState(d, b)
	defer st.release()
	for st.off < len(b) {
		v, err := st.amf0Value()
		if err != nil {
			return nil, err
		}
		st.vals = append(st.vals, v)
	}
	if len(st.vals) == 0 {
		return nil, nil
	}
	return append([]any(nil), st.vals...), nil
}

// DecodeAMF3 decodes one AMF3 value from the start of b, with fresh
// reference tables, and returns it with the number of bytes it took. On
// error it returns nil, 0 and the error.
func (d Decoder) DecodeAMF3(b []byte) (any, int, error) {
	st := newState(d, b)
	defer st.release()
	v, err := st.amf3Value()
	if err != nil {
		return nil, 0, err
	}
	return v, st.off, nil
}

// refEntry is one slot of a reference table (AMF0 complex values, AMF3
// objects). A slot is taken when its value starts and filled when it ends;
// a reference to an unfilled slot would make the value cyclic.
type refEntry struct {
	v any
	// size is the number of elements the value accounts for.
	size int
	// height is the number of container levels the value spans (0 for a
	// leaf such as an AMF3 date or ByteArray).
	height int
	done   bool
}

// traits3 is one entry of the AMF3 traits table.
type traits3 struct {
	class   string
	names   []string
	dynamic bool
}

// decodeState is the state of one decode call.
type decodeState struct {
	b   []byte
	off int

	maxDepth int
	maxElems int
	used     int // elements decoded so far
	mark     int // offset of the marker of the value being decoded
	depth    int // containers open around the current position
	deepest  int // deepest level reached inside the innermost open container

	refs0  []refEntry // AMF0 complex values
	strs   []string   // AMF3 strings
	objs   []refEntry // AMF3 objects
	traits []traits3  // AMF3 traits

	// props is a stack of the properties of the containers being decoded;
	// each container copies its own out into an exactly sized slice.
	props []Property
	// vals collects the values of DecodeAMF0All.
	vals []any

	// Initial backing arrays of the scratch slices.
	propsBuf [16]Property
	valsBuf  [8]any
	refsBuf  [8]refEntry
	objsBuf  [8]refEntry
}

// statePool recycles decode states and their scratch space (property
// stack, reference tables), which the recursive decoder would otherwise
// allocate on every call. A state comes with small scratch arrays of its
// own, so even a fresh state costs a single allocation.
var statePool = sync.Pool{New: func() any {
	st := new(decodeState)
	st.props = st.propsBuf[:0]
	st.vals = st.valsBuf[:0]
	st.refs0 = st.refsBuf[:0]
	st.objs = st.objsBuf[:0]
	return st
}}

// maxPooledScratch is the largest scratch capacity a released state keeps;
// states that grew beyond it on a big input are left to the collector.
const maxPooledScratch = 1024

func newState(d Decoder, b []byte) *decodeState {
	st := statePool.Get().(*decodeState)
	st.b = b
	st.maxDepth = d.MaxDepth
	if st.maxDepth <= 0 {
		st.maxDepth = DefaultMaxDepth
	}
	st.maxElems = d.MaxElements
	if st.maxElems <= 0 {
		st.maxElems = DefaultMaxElements
	}
	return st
}

// release clears st, so that it holds neither decoded values nor input,
// and returns it to the pool.
func (st *decodeState) release() {
	if max(cap(st.props), cap(st.vals), cap(st.refs0), cap(st.strs), cap(st.objs), cap(st.traits)) >
		maxPooledScratch {
		return
	}
	clear(st.props)
	clear(st.vals)
	clear(st.refs0)
	clear(st.strs)
	clear(st.objs)
	clear(st.traits)
	st.props, st.vals, st.refs0 = st.props[:0], st.vals[:0], st.refs0[:0]
	st.strs, st.objs, st.traits = st.strs[:0], st.objs[:0], st.traits[:0]
	st.b, st.off, st.used, st.mark, st.depth, st.deepest = nil, 0, 0, 0, 0, 0
	statePool.Put(st)
}

// bytesPerElement is how many bytes of string or byte-array data count as
// one element against MaxElements.
const bytesPerElement = 64

// spendBytes accounts for n bytes of string or byte-array data.
func (st *decodeState) spendBytes(n int) error {
	if n < bytesPerElement {
		return nil
	}
	return st.spend(n / bytesPerElement)
}

// spend accounts for n more decoded elements.
func (st *decodeState) spend(n int) error {
	st.used += n
	if st.used > st.maxElems {
		return fmt.Errorf("%w: more than %d at offset %d", errElements, st.maxElems, st.off)
	}
	return nil
}

// capHint bounds a declared element count for preallocation: by the bytes
// left (each element takes at least minBytes) and by the element budget.
func (st *decodeState) capHint(n uint64, minBytes int) int {
	limit := uint64((len(st.b) - st.off) / minBytes)
	if left := uint64(max(st.maxElems-st.used, 0)); left < limit {
		limit = left
	}
	return int(min(n, limit))
}

// container records where a container started, for closeContainer.
type container struct {
	idx     int
	depth   int
	deepest int
	used    int
}

// openContainer enters a container and takes its slot in table.
func (st *decodeState) openContainer(table *[]refEntry) (container, error) {
	if st.depth >= st.maxDepth {
		return container{}, fmt.Errorf("%w: more than %d levels at offset %d", errDepth, st.maxDepth, st.mark)
	}
	st.depth++
	c := container{idx: len(*table), depth: st.depth, deepest: st.deepest, used: st.used}
	st.deepest = st.depth
	*table = append(*table, refEntry{})
	return c, nil
}

// closeContainer leaves the container c and fills its slot with v.
func (st *decodeState) closeContainer(table []refEntry, c container, v any) {
	table[c.idx] = refEntry{
		v:      v,
		size:   st.used - c.used + 1,
		height: st.deepest - c.depth + 1,
		done:   true,
	}
	st.deepest = max(st.deepest, c.deepest)
	st.depth--
}

// ref resolves a reference whose marker has already been counted.
func (st *decodeState) ref(table []refEntry, idx int) (any, error) {
	if idx >= len(table) {
		return nil, fmt.Errorf("%w: index %d of %d at offset %d", errReference, idx, len(table), st.off)
	}
	e := &table[idx]
	if !e.done {
		return nil, fmt.Errorf("%w: index %d points at a value still being decoded (cyclic) at offset %d",
			errReference, idx, st.off)
	}
	if st.depth+e.height > st.maxDepth {
		return nil, fmt.Errorf("%w: reference %d reaches more than %d levels at offset %d",
			errDepth, idx, st.maxDepth, st.off)
	}
	st.deepest = max(st.deepest, st.depth+e.height)
	if err := st.spend(e.size - 1); err != nil {
		return nil, err
	}
	return e.v, nil
}

// takeProps moves the properties pushed since start into a new slice.
func (st *decodeState) takeProps(start int) []Property {
	out := make([]Property, len(st.props)-start)
	copy(out, st.props[start:])
	clear(st.props[start:])
	st.props = st.props[:start]
	return out
}

// take returns the next n bytes of input.
func (st *decodeState) take(n int, what string) ([]byte, error) {
	if n < 0 || len(st.b)-st.off < n {
		return nil, truncatedAt(st.off, what)
	}
	p := st.b[st.off : st.off+n]
	st.off += n
	return p, nil
}

func (st *decodeState) u8(what string) (byte, error) {
	if st.off >= len(st.b) {
		return 0, truncatedAt(st.off, what)
	}
	c := st.b[st.off]
	st.off++
	return c, nil
}

func (st *decodeState) u16(what string) (int, error) {
	p, err := st.take(2, what)
	if err != nil {
		return 0, err
	}
	return int(binary.BigEndian.Uint16(p)), nil
}

func (st *decodeState) u32(what string) (uint32, error) {
	p, err := st.take(4, what)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(p), nil
}

func (st *decodeState) f64(what string) (float64, error) {
	p, err := st.take(8, what)
	if err != nil {
		return 0, err
	}
	return math.Float64frombits(binary.BigEndian.Uint64(p)), nil
}
