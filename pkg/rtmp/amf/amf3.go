package amf

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// AMF3 markers.
const (
	amf3Undefined    = 0x00
	amf3Null         = 0x01
	amf3False        = 0x02
	amf3True         = 0x03
	amf3Integer      = 0x04
	amf3Double       = 0x05
	amf3String       = 0x06
	amf3XMLDocument  = 0x07
	amf3Date         = 0x08
	amf3Array        = 0x09
	amf3Object       = 0x0A
	amf3XML          = 0x0B
	amf3ByteArray    = 0x0C
	amf3VectorInt    = 0x0D
	amf3VectorUint   = 0x0E
	amf3VectorDouble = 0x0F
	amf3VectorObject = 0x10
	amf3Dictionary   = 0x11
)

// U29 and AMF3 integer limits.
const (
	maxU29    = 1<<29 - 1
	minInt29  = -1 << 28
	maxInt29  = 1<<28 - 1
	maxLength = maxU29 >> 1 // longest string, array or byte array
)

// appendU29 appends v (at most maxU29) as an AMF3 U29: 1 to 3 bytes of 7
// bits with the high bit set on all but the last, or 3 such bytes and a
// fourth of 8 full bits; most significant group first.
func appendU29(dst []byte, v uint32) []byte {
	switch {
	case v < 1<<7:
		return append(dst, byte(v))
	case v < 1<<14:
		return append(dst, byte(v>>7)|0x80, byte(v)&0x7F)
	case v < 1<<21:
		return append(dst, byte(v>>14)|0x80, byte(v>>7)|0x80, byte(v)&0x7F)
	}
	return append(dst, byte(v>>22)|0x80, byte(v>>15)|0x80, byte(v>>8)|0x80, byte(v))
}

// u29 reads an AMF3 U29.
func (st *decodeState) u29() (uint32, error) {
	var v uint32
	for range 3 {
		if st.off >= len(st.b) {
			return 0, truncatedAt(st.off, "AMF3 U29")
		}
		c := st.b[st.off]
		st.off++
		if c < 0x80 {
			return v<<7 | uint32(c), nil
		}
		v = v<<7 | uint32(c&0x7F)
	}
	if st.off >= len(st.b) {
		return 0, truncatedAt(st.off, "AMF3 U29")
	}
	c := st.b[st.off]
	st.off++
	return v<<8 | uint32(c), nil
}

// amf3Value decodes one AMF3 value.
func (st *decodeState) amf3Value() (any, error) {
	if st.off >= len(st.b) {
		return nil, truncatedAt(st.off, "AMF3 marker")
	}
	st.mark = st.off
	m := st.b[st.off]
	st.off++
	if err := st.spend(1); err != nil {
		return nil, err
	}
	switch m {
	case amf3Undefined:
		return Undefined{}, nil
	case amf3Null:
		return nil, nil
	case amf3False:
		return false, nil
	case amf3True:
		return true, nil
	case amf3Integer:
		u, err := st.u29()
		if err != nil {
			return nil, err
		}
		return int32(u<<3) >> 3, nil // sign-extend the 29 bits
	case amf3Double:
		f, err := st.f64("AMF3 double")
		if err != nil {
			return nil, err
		}
		return boxNumber(f), nil
	case amf3String:
		s, err := st.amf3String()
		if err != nil {
			return nil, err
		}
		if err := st.spendBytes(len(s)); err != nil {
			return nil, err
		}
		if v, ok := commonStrings[s]; ok {
			return v, nil
		}
		return s, nil
	case amf3XMLDocument, amf3XML, amf3ByteArray:
		return st.amf3Bytes(m)
	case amf3Date:
		// The inline header's bits above the flag are unused.
		_, v, isRef, err := st.amf3Head()
		if err != nil || isRef {
			return v, err
		}
		ms, err := st.f64("AMF3 date")
		if err != nil {
			return nil, err
		}
		v = Date{Millis: ms}
		st.objs = append(st.objs, refEntry{v: v, size: 1, done: true})
		return v, nil
	case amf3Array:
		return st.amf3Array()
	case amf3Object:
		return st.amf3Object()
	case amf3VectorInt, amf3VectorUint, amf3VectorDouble:
		return st.amf3NumberVector(m)
	case amf3VectorObject:
		return st.amf3ObjectVector()
	case amf3Dictionary:
		return st.amf3Dictionary()
	}
	return nil, fmt.Errorf("%w: AMF3 marker 0x%02x at offset %d", errMarker, m, st.off-1)
}

// amf3Head reads the U29 that starts every value kept in the object table:
// either a resolved reference (isRef) or the inline length or count n.
func (st *decodeState) amf3Head() (n uint32, v any, isRef bool, err error) {
	h, err := st.u29()
	if err != nil {
		return 0, nil, false, err
	}
	if h&1 == 0 {
		v, err = st.ref(st.objs, int(h>>1))
		return 0, v, true, err
	}
	return h >> 1, nil, false, nil
}

// amf3String reads a string (also used for keys and class names): inline,
// and then added to the string table unless empty, or a reference into it.
func (st *decodeState) amf3String() (string, error) {
	h, err := st.u29()
	if err != nil {
		return "", err
	}
	if h&1 == 0 {
		idx := int(h >> 1)
		if idx >= len(st.strs) {
			return "", fmt.Errorf("%w: string %d of %d at offset %d", errReference, idx, len(st.strs), st.off)
		}
		return st.strs[idx], nil
	}
	p, err := st.take(int(h>>1), "AMF3 string")
	if err != nil || len(p) == 0 {
		return "", err
	}
	s := internString(p)
	st.strs = append(st.strs, s)
	return s, nil
}

// amf3Bytes reads an XML document, XML or ByteArray value.
func (st *decodeState) amf3Bytes(m byte) (any, error) {
	n, v, isRef, err := st.amf3Head()
	if err != nil || isRef {
		return v, err
	}
	p, err := st.take(int(n), "AMF3 XML or ByteArray")
	if err != nil {
		return nil, err
	}
	if err := st.spendBytes(len(p)); err != nil {
		return nil, err
	}
	if m == amf3ByteArray {
		v = append(make([]byte, 0, len(p)), p...)
	} else {
		v = XMLDocument(p)
	}
	st.objs = append(st.objs, refEntry{v: v, size: 1 + len(p)/bytesPerElement, done: true})
	return v, nil
}

// amf3Array reads an array: associative part first, then the dense part.
func (st *decodeState) amf3Array() (any, error) {
	n, v, isRef, err := st.amf3Head()
	if err != nil || isRef {
		return v, err
	}
	c, err := st.openContainer(&st.objs)
	if err != nil {
		return nil, err
	}
	start := len(st.props)
	if err := st.amf3Pairs(); err != nil {
		return nil, err
	}
	var assoc Object
	if len(st.props) > start {
		assoc = st.takeProps(start)
	}
	dense := make(StrictArray, 0, st.capHint(uint64(n), 1))
	for range n {
		e, err := st.amf3Value()
		if err != nil {
			return nil, err
		}
		dense = append(dense, e)
	}
	if assoc == nil {
		v = dense
	} else {
		v = &Array3{Assoc: assoc, Dense: dense}
	}
	st.closeContainer(st.objs, c, v)
	return v, nil
}

// amf3Object reads an object: traits (inline or referenced), sealed
// member values in trait order, then dynamic members if the traits say so.
func (st *decodeState) amf3Object() (any, error) {
	h, err := st.u29()
	if err != nil {
		return nil, err
	}
	if h&1 == 0 {
		return st.ref(st.objs, int(h>>1))
	}
	var t traits3
	switch {
	case h&2 == 0:
		idx := int(h >> 2)
		if idx >= len(st.traits) {
			return nil, fmt.Errorf("%w: traits %d of %d at offset %d", errReference, idx, len(st.traits), st.off)
		}
		t = st.traits[idx]
	case h&4 != 0:
		class, err := st.amf3String()
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: AMF3 externalizable object of class %q at offset %d",
			errUnsupported, class, st.off)
	default:
		t.dynamic = h&8 != 0
		count := h >> 4
		if t.class, err = st.amf3String(); err != nil {
			return nil, err
		}
		t.names = make([]string, 0, st.capHint(uint64(count), 1))
		for range count {
			name, err := st.amf3String()
			if err != nil {
				return nil, err
			}
			t.names = append(t.names, name)
		}
		st.traits = append(st.traits, t)
	}
	c, err := st.openContainer(&st.objs)
	if err != nil {
		return nil, err
	}
	// Names count at every object, as they would be written out again.
	if err := st.spendBytes(len(t.class)); err != nil {
		return nil, err
	}
	start := len(st.props)
	for _, name := range t.names {
		if err := st.spendBytes(len(name)); err != nil {
			return nil, err
		}
		e, err := st.amf3Value()
		if err != nil {
			return nil, err
		}
		st.props = append(st.props, Property{Key: name, Value: e})
	}
	if t.dynamic {
		if err := st.amf3Pairs(); err != nil {
			return nil, err
		}
	}
	var v any
	if props := st.takeProps(start); t.class == "" {
		v = Object(props)
	} else {
		v = &TypedObject{Class: t.class, Props: props}
	}
	st.closeContainer(st.objs, c, v)
	return v, nil
}

// amf3NumberVector reads a Vector.<int>, Vector.<uint> or Vector.<Number>.
func (st *decodeState) amf3NumberVector(m byte) (any, error) {
	n, v, isRef, err := st.amf3Head()
	if err != nil || isRef {
		return v, err
	}
	fixed, err := st.u8("AMF3 vector fixed flag")
	if err != nil {
		return nil, err
	}
	size := 4
	if m == amf3VectorDouble {
		size = 8
	}
	p, err := st.take(int(n)*size, "AMF3 vector items")
	if err != nil {
		return nil, err
	}
	if err := st.spend(int(n)); err != nil {
		return nil, err
	}
	switch m {
	case amf3VectorInt:
		items := make([]int32, n)
		for i := range items {
			items[i] = int32(binary.BigEndian.Uint32(p[4*i:]))
		}
		v = &VectorInt{Fixed: fixed != 0, Items: items}
	case amf3VectorUint:
		items := make([]uint32, n)
		for i := range items {
			items[i] = binary.BigEndian.Uint32(p[4*i:])
		}
		v = &VectorUint{Fixed: fixed != 0, Items: items}
	default:
		items := make([]float64, n)
		for i := range items {
			items[i] = math.Float64frombits(binary.BigEndian.Uint64(p[8*i:]))
		}
		v = &VectorDouble{Fixed: fixed != 0, Items: items}
	}
	st.objs = append(st.objs, refEntry{v: v, size: int(n) + 1, done: true})
	return v, nil
}

// amf3ObjectVector reads a Vector.<T> of objects.
func (st *decodeState) amf3ObjectVector() (any, error) {
	n, v, isRef, err := st.amf3Head()
	if err != nil || isRef {
		return v, err
	}
	fixed, err := st.u8("AMF3 vector fixed flag")
	if err != nil {
		return nil, err
	}
	class, err := st.amf3String()
	if err != nil {
		return nil, err
	}
	if err := st.spendBytes(len(class)); err != nil {
		return nil, err
	}
	c, err := st.openContainer(&st.objs)
	if err != nil {
		return nil, err
	}
	items := make([]any, 0, st.capHint(uint64(n), 1))
	for range n {
		e, err := st.amf3Value()
		if err != nil {
			return nil, err
		}
		items = append(items, e)
	}
	v = &VectorObject{Fixed: fixed != 0, Class: class, Items: items}
	st.closeContainer(st.objs, c, v)
	return v, nil
}

// amf3Dictionary reads a dictionary: count, weak-keys flag, key/value pairs.
func (st *decodeState) amf3Dictionary() (any, error) {
	n, v, isRef, err := st.amf3Head()
	if err != nil || isRef {
		return v, err
	}
	weak, err := st.u8("AMF3 dictionary weak-keys flag")
	if err != nil {
		return nil, err
	}
	c, err := st.openContainer(&st.objs)
	if err != nil {
		return nil, err
	}
	entries := make([]DictEntry, 0, st.capHint(uint64(n), 2))
	for range n {
		k, err := st.amf3Value()
		if err != nil {
			return nil, err
		}
		e, err := st.amf3Value()
		if err != nil {
			return nil, err
		}
		entries = append(entries, DictEntry{Key: k, Value: e})
	}
	v = &Dictionary{Weak: weak != 0, Entries: entries}
	st.closeContainer(st.objs, c, v)
	return v, nil
}

// AppendAMF3 appends the AMF3 encoding of v to dst, with fresh reference
// tables.
//
// v may be any type of the value model, a Go integer or float kind,
// time.Time, []any, map[string]any (sorted keys) or a pointer to Object,
// ECMAArray, TypedObject, Array3, a vector or Dictionary (nil is null); an
// [AVMPlus] writes its Value. Integers within −2^28..2^28−1 (int32 and the
// other Go integer kinds) are written as AMF3 integers and all others as
// doubles; float64 is always a double. Repeated strings, keys and class
// names are written as string references, and objects whose class and
// sealed member names match an earlier object's reuse its traits.
// Complex values are always written inline: the encoder never emits
// object references, so a value shared in several places is written
// several times. An [Object] is written as an anonymous dynamic object (or
// with sealed members if a key is empty, which the dynamic form cannot
// carry), a [*TypedObject] as an object of its class with all properties
// sealed, an [ECMAArray] as an array with only an associative part, and
// [XMLDocument] with the XMLDocument marker 0x07. [Unsupported] and other
// Go types are an error, and so is an empty key in an associative array.
//
// On error the returned slice holds what was appended before the failure.
func AppendAMF3(dst []byte, v any) ([]byte, error) {
	var e encoder
	return e.amf3(dst, v)
}

// encTraits is one entry of the encoder's traits table.
type encTraits struct {
	class   string
	dynamic bool
	props   []Property // names of the sealed members, for !dynamic
}

func (e *encoder) amf3(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, amf3Null), nil
	case Undefined:
		return append(dst, amf3Undefined), nil
	case bool:
		if x {
			return append(dst, amf3True), nil
		}
		return append(dst, amf3False), nil
	case float64:
		return appendAMF3Double(dst, x), nil
	case float32:
		return appendAMF3Double(dst, float64(x)), nil
	case int:
		return appendAMF3Int(dst, int64(x)), nil
	case int8:
		return appendAMF3Int(dst, int64(x)), nil
	case int16:
		return appendAMF3Int(dst, int64(x)), nil
	case int32:
		return appendAMF3Int(dst, int64(x)), nil
	case int64:
		return appendAMF3Int(dst, x), nil
	case uint:
		return appendAMF3Uint(dst, uint64(x)), nil
	case uint8:
		return appendAMF3Int(dst, int64(x)), nil
	case uint16:
		return appendAMF3Int(dst, int64(x)), nil
	case uint32:
		return appendAMF3Int(dst, int64(x)), nil
	case uint64:
		return appendAMF3Uint(dst, x), nil
	case string:
		return e.string3(append(dst, amf3String), x)
	case XMLDocument:
		return appendLengthBytes(append(dst, amf3XMLDocument), string(x))
	case []byte:
		return appendLengthBytes(append(dst, amf3ByteArray), x)
	case Date:
		dst = append(dst, amf3Date, 0x01)
		return binary.BigEndian.AppendUint64(dst, math.Float64bits(x.Millis)), nil
	case time.Time:
		return e.amf3(dst, Date{Millis: float64(x.UnixMilli())})
	case StrictArray:
		return e.array3(dst, nil, x)
	case []any:
		return e.array3(dst, nil, x)
	case ECMAArray:
		return e.array3(dst, x, nil)
	case *ECMAArray:
		if x == nil {
			return append(dst, amf3Null), nil
		}
		return e.array3(dst, *x, nil)
	case *Array3:
		if x == nil {
			return append(dst, amf3Null), nil
		}
		return e.array3(dst, x.Assoc, x.Dense)
	case Array3:
		return e.array3(dst, x.Assoc, x.Dense)
	case Object:
		return e.object3(dst, "", x, false)
	case *Object:
		if x == nil {
			return append(dst, amf3Null), nil
		}
		return e.object3(dst, "", *x, false)
	case map[string]any:
		return e.object3(dst, "", mapObject(x), false)
	case *TypedObject:
		if x == nil {
			return append(dst, amf3Null), nil
		}
		return e.object3(dst, x.Class, x.Props, true)
	case TypedObject:
		return e.object3(dst, x.Class, x.Props, true)
	case *VectorInt:
		if x == nil {
			return append(dst, amf3Null), nil
		}
		return appendVectorInt(dst, x)
	case VectorInt:
		return appendVectorInt(dst, &x)
	case *VectorUint:
		if x == nil {
			return append(dst, amf3Null), nil
		}
		return appendVectorUint(dst, x)
	case VectorUint:
		return appendVectorUint(dst, &x)
	case *VectorDouble:
		if x == nil {
			return append(dst, amf3Null), nil
		}
		return appendVectorDouble(dst, x)
	case VectorDouble:
		return appendVectorDouble(dst, &x)
	case *VectorObject:
		if x == nil {
			return append(dst, amf3Null), nil
		}
		return e.objectVector3(dst, x)
	case VectorObject:
		return e.objectVector3(dst, &x)
	case *Dictionary:
		if x == nil {
			return append(dst, amf3Null), nil
		}
		return e.dictionary3(dst, x)
	case Dictionary:
		return e.dictionary3(dst, &x)
	case AVMPlus:
		return e.amf3(dst, x.Value)
	case *AVMPlus:
		if x == nil {
			return append(dst, amf3Null), nil
		}
		return e.amf3(dst, x.Value)
	case Unsupported:
		return dst, fmt.Errorf("%w: AMF0 Unsupported has no AMF3 encoding", errUnsupported)
	}
	return dst, fmt.Errorf("%w: %T", errGoType, v)
}

func appendAMF3Double(dst []byte, f float64) []byte {
	dst = append(dst, amf3Double)
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(f))
}

// appendAMF3Int writes i as an AMF3 integer when it fits 29 signed bits and
// as a double otherwise.
func appendAMF3Int(dst []byte, i int64) []byte {
	if i < minInt29 || i > maxInt29 {
		return appendAMF3Double(dst, float64(i))
	}
	return appendU29(append(dst, amf3Integer), uint32(i)&maxU29)
}

func appendAMF3Uint(dst []byte, u uint64) []byte {
	if u > maxInt29 {
		return appendAMF3Double(dst, float64(u))
	}
	return appendAMF3Int(dst, int64(u))
}

// appendLengthBytes writes the inline U29 length header and the bytes of an
// XML document or ByteArray.
func appendLengthBytes[T string | []byte](dst []byte, p T) ([]byte, error) {
	if len(p) > maxLength {
		return dst, fmt.Errorf("%w: %d bytes for AMF3", errTooLong, len(p))
	}
	dst = appendU29(dst, uint32(len(p))<<1|1)
	return append(dst, p...), nil
}

// string3 writes a string body (no marker): a reference if it was written
// before in this call, inline otherwise.
func (e *encoder) string3(dst []byte, s string) ([]byte, error) {
	if s == "" {
		return append(dst, 0x01), nil
	}
	if idx, ok := e.strs[s]; ok {
		return appendU29(dst, uint32(idx)<<1), nil
	}
	if len(s) > maxLength {
		return dst, fmt.Errorf("%w: string of %d bytes for AMF3", errTooLong, len(s))
	}
	if e.strs == nil {
		e.strs = make(map[string]int)
	}
	if n := len(e.strs); n <= maxLength {
		e.strs[s] = n
	}
	dst = appendU29(dst, uint32(len(s))<<1|1)
	return append(dst, s...), nil
}

func (e *encoder) enter() error {
	if e.depth >= maxEncodeDepth {
		return fmt.Errorf("%w: more than %d levels (cyclic value?)", errDepth, maxEncodeDepth)
	}
	e.depth++
	return nil
}

func (e *encoder) array3(dst []byte, assoc []Property, dense []any) ([]byte, error) {
	if len(dense) > maxLength {
		return dst, fmt.Errorf("%w: array of %d values for AMF3", errTooLong, len(dense))
	}
	if err := e.enter(); err != nil {
		return dst, err
	}
	dst = appendU29(append(dst, amf3Array), uint32(len(dense))<<1|1)
	var err error
	for _, p := range assoc {
		if p.Key == "" {
			return dst, errEmptyKey
		}
		if dst, err = e.string3(dst, p.Key); err != nil {
			return dst, err
		}
		if dst, err = e.amf3(dst, p.Value); err != nil {
			return dst, err
		}
	}
	dst = append(dst, 0x01)
	for _, it := range dense {
		if dst, err = e.amf3(dst, it); err != nil {
			return dst, err
		}
	}
	e.depth--
	return dst, nil
}

// object3 writes an object. Anonymous objects are dynamic unless a key is
// empty (the empty name ends the dynamic members), typed objects sealed.
func (e *encoder) object3(dst []byte, class string, props []Property, typed bool) ([]byte, error) {
	dynamic := !typed
	for i := range props {
		if props[i].Key == "" {
			dynamic = false
			break
		}
	}
	if !dynamic && len(props) > maxU29>>4 {
		return dst, fmt.Errorf("%w: %d sealed members for AMF3", errTooLong, len(props))
	}
	if err := e.enter(); err != nil {
		return dst, err
	}
	dst = append(dst, amf3Object)
	var err error
	if idx, ok := e.findTraits(class, dynamic, props); ok {
		dst = appendU29(dst, uint32(idx)<<2|0x01)
	} else {
		sealed := len(props)
		flags := uint32(0x03)
		if dynamic {
			sealed = 0
			flags |= 0x08
		}
		dst = appendU29(dst, uint32(sealed)<<4|flags)
		if dst, err = e.string3(dst, class); err != nil {
			return dst, err
		}
		for _, p := range props[:sealed] {
			if dst, err = e.string3(dst, p.Key); err != nil {
				return dst, err
			}
		}
		if len(e.traits) < maxU29>>2 {
			e.traits = append(e.traits, encTraits{class: class, dynamic: dynamic, props: props[:sealed]})
		}
	}
	for _, p := range props {
		if dynamic {
			if dst, err = e.string3(dst, p.Key); err != nil {
				return dst, err
			}
		}
		if dst, err = e.amf3(dst, p.Value); err != nil {
			return dst, err
		}
	}
	if dynamic {
		dst = append(dst, 0x01)
	}
	e.depth--
	return dst, nil
}

// findTraits returns the index of earlier traits with the same class,
// kind and sealed member names.
func (e *encoder) findTraits(class string, dynamic bool, props []Property) (int, bool) {
	for i, t := range e.traits {
		if t.class != class || t.dynamic != dynamic {
			continue
		}
		if dynamic {
			return i, true
		}
		if len(t.props) != len(props) {
			continue
		}
		same := true
		for j := range props {
			if t.props[j].Key != props[j].Key {
				same = false
				break
			}
		}
		if same {
			return i, true
		}
	}
	return 0, false
}

// appendVectorHeader writes a vector's marker, count and fixed flag.
func appendVectorHeader(dst []byte, marker byte, n int, fixed bool) ([]byte, error) {
	if n > maxLength {
		return dst, fmt.Errorf("%w: vector of %d items for AMF3", errTooLong, n)
	}
	dst = appendU29(append(dst, marker), uint32(n)<<1|1)
	return append(dst, boolByte(fixed)), nil
}

func appendVectorInt(dst []byte, x *VectorInt) ([]byte, error) {
	dst, err := appendVectorHeader(dst, amf3VectorInt, len(x.Items), x.Fixed)
	if err != nil {
		return dst, err
	}
	for _, it := range x.Items {
		dst = binary.BigEndian.AppendUint32(dst, uint32(it))
	}
	return dst, nil
}

func appendVectorUint(dst []byte, x *VectorUint) ([]byte, error) {
	dst, err := appendVectorHeader(dst, amf3VectorUint, len(x.Items), x.Fixed)
	if err != nil {
		return dst, err
	}
	for _, it := range x.Items {
		dst = binary.BigEndian.AppendUint32(dst, it)
	}
	return dst, nil
}

func appendVectorDouble(dst []byte, x *VectorDouble) ([]byte, error) {
	dst, err := appendVectorHeader(dst, amf3VectorDouble, len(x.Items), x.Fixed)
	if err != nil {
		return dst, err
	}
	for _, it := range x.Items {
		dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(it))
	}
	return dst, nil
}

func (e *encoder) objectVector3(dst []byte, x *VectorObject) ([]byte, error) {
	if err := e.enter(); err != nil {
		return dst, err
	}
	dst, err := appendVectorHeader(dst, amf3VectorObject, len(x.Items), x.Fixed)
	if err != nil {
		return dst, err
	}
	if dst, err = e.string3(dst, x.Class); err != nil {
		return dst, err
	}
	for _, it := range x.Items {
		if dst, err = e.amf3(dst, it); err != nil {
			return dst, err
		}
	}
	e.depth--
	return dst, nil
}

func (e *encoder) dictionary3(dst []byte, x *Dictionary) ([]byte, error) {
	if len(x.Entries) > maxLength {
		return dst, fmt.Errorf("%w: dictionary of %d entries for AMF3", errTooLong, len(x.Entries))
	}
	if err := e.enter(); err != nil {
		return dst, err
	}
	dst = appendU29(append(dst, amf3Dictionary), uint32(len(x.Entries))<<1|1)
	dst = append(dst, boolByte(x.Weak))
	var err error
	for _, en := range x.Entries {
		if dst, err = e.amf3(dst, en.Key); err != nil {
			return dst, err
		}
		if dst, err = e.amf3(dst, en.Value); err != nil {
			return dst, err
		}
	}
	e.depth--
	return dst, nil
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// amf3Pairs reads (name, value) pairs up to the empty name that ends them,
// the associative part of an array or the dynamic members of an object,
// appending them to st.props.
func (st *decodeState) amf3Pairs() error {
	for {
		key, err := st.amf3String()
		if err != nil {
			return err
		}
		if key == "" {
			return nil
		}
		if err := st.spendBytes(len(key)); err != nil {
			return err
		}
		e, err := st.amf3Value()
		if err != nil {
			return err
		}
		st.props = append(st.props, Property{Key: key, Value: e})
	}
}
