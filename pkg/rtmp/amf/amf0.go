package amf

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// AMF0 markers.
const (
	amf0Number      = 0x00
	amf0Boolean     = 0x01
	amf0String      = 0x02
	amf0Object      = 0x03
	amf0MovieClip   = 0x04
	amf0Null        = 0x05
	amf0Undefined   = 0x06
	amf0Reference   = 0x07
	amf0ECMAArray   = 0x08
	amf0ObjectEnd   = 0x09
	amf0StrictArray = 0x0A
	amf0Date        = 0x0B
	amf0LongString  = 0x0C
	amf0Unsupported = 0x0D
	amf0RecordSet   = 0x0E
	amf0XMLDocument = 0x0F
	amf0TypedObject = 0x10
	amf0AVMPlus     = 0x11
)

// maxEncodeDepth caps container nesting in encoders; it also stops
// encoding of cyclic values.
const maxEncodeDepth = 4096

// amf0Value decodes one AMF0 value.
func (st *decodeState) amf0Value() (any, error) {
	if st.off >= len(st.b) {
		return nil, truncatedAt(st.off, "AMF0 marker")
	}
	st.mark = st.off
	m := st.b[st.off]
	st.off++
	if m == amf0AVMPlus {
		// Exactly one AMF3 value, with fresh AMF3 reference tables; the
		// switch itself is not a value of its own.
		st.strs, st.objs, st.traits = st.strs[:0], st.objs[:0], st.traits[:0]
		return st.amf3Value()
	}
	if err := st.spend(1); err != nil {
		return nil, err
	}
	switch m {
	case amf0Number:
		f, err := st.f64("AMF0 number")
		if err != nil {
			return nil, err
		}
		return boxNumber(f), nil
	case amf0Boolean:
		c, err := st.u8("AMF0 boolean")
		if err != nil {
			return nil, err
		}
		return c != 0, nil
	case amf0String:
		n, err := st.u16("AMF0 string length")
		if err != nil {
			return nil, err
		}
		p, err := st.take(n, "AMF0 string")
		if err != nil {
			return nil, err
		}
		if err := st.spendBytes(n); err != nil {
			return nil, err
		}
		return boxString(p), nil
	case amf0LongString:
		p, err := st.long0("AMF0 long string")
		if err != nil {
			return nil, err
		}
		return boxString(p), nil
	case amf0Object:
		c, err := st.openContainer(&st.refs0)
		if err != nil {
			return nil, err
		}
		props, err := st.amf0Props(false, 0)
		if err != nil {
			return nil, err
		}
		v := any(Object(props))
		st.closeContainer(st.refs0, c, v)
		return v, nil
	case amf0ECMAArray:
		count, err := st.u32("AMF0 ECMA array count")
		if err != nil {
			return nil, err
		}
		c, err := st.openContainer(&st.refs0)
		if err != nil {
			return nil, err
		}
		props, err := st.amf0Props(true, count)
		if err != nil {
			return nil, err
		}
		v := any(ECMAArray(props))
		st.closeContainer(st.refs0, c, v)
		return v, nil
	case amf0TypedObject:
		n, err := st.u16("AMF0 typed object class length")
		if err != nil {
			return nil, err
		}
		p, err := st.take(n, "AMF0 typed object class")
		if err != nil {
			return nil, err
		}
		if err := st.spendBytes(n); err != nil {
			return nil, err
		}
		class := internString(p)
		c, err := st.openContainer(&st.refs0)
		if err != nil {
			return nil, err
		}
		props, err := st.amf0Props(false, 0)
		if err != nil {
			return nil, err
		}
		v := any(&TypedObject{Class: class, Props: props})
		st.closeContainer(st.refs0, c, v)
		return v, nil
	case amf0StrictArray:
		count, err := st.u32("AMF0 strict array count")
		if err != nil {
			return nil, err
		}
		c, err := st.openContainer(&st.refs0)
		if err != nil {
			return nil, err
		}
		arr := make(StrictArray, 0, st.capHint(uint64(count), 1))
		for range count {
			e, err := st.amf0Value()
			if err != nil {
				return nil, err
			}
			arr = append(arr, e)
		}
		v := any(arr)
		st.closeContainer(st.refs0, c, v)
		return v, nil
	case amf0Reference:
		idx, err := st.u16("AMF0 reference")
		if err != nil {
			return nil, err
		}
		return st.ref(st.refs0, idx)
	case amf0Date:
		ms, err := st.f64("AMF0 date")
		if err != nil {
			return nil, err
		}
		tz, err := st.u16("AMF0 date time zone")
		if err != nil {
			return nil, err
		}
		return Date{Millis: ms, TimeZone: int16(tz)}, nil
	case amf0XMLDocument:
		p, err := st.long0("AMF0 XML document")
		if err != nil {
			return nil, err
		}
		return XMLDocument(p), nil
	case amf0Null:
		return nil, nil
	case amf0Undefined:
		return Undefined{}, nil
	case amf0Unsupported:
		return Unsupported{}, nil
	case amf0MovieClip:
		return nil, fmt.Errorf("%w: AMF0 MovieClip (marker 0x04) at offset %d", errUnsupported, st.off-1)
	case amf0RecordSet:
		return nil, fmt.Errorf("%w: AMF0 RecordSet (marker 0x0e) at offset %d", errUnsupported, st.off-1)
	case amf0ObjectEnd:
		return nil, fmt.Errorf("%w: offset %d", errObjectEnd, st.off-1)
	}
	return nil, fmt.Errorf("%w: AMF0 marker 0x%02x at offset %d", errMarker, m, st.off-1)
}

// amf0Props decodes the properties of an object, ECMA array or typed
// object up to and including the empty name + object-end terminator. An
// empty name followed by anything but the object-end marker is an ordinary
// property. An ECMA array may also end at the end of input once it has
// its declared number of properties (some FLV writers omit the
// terminator); its count is otherwise only a hint.
func (st *decodeState) amf0Props(ecma bool, count uint32) ([]Property, error) {
	start := len(st.props)
	for {
		rest := len(st.b) - st.off
		if ecma && rest == 0 && uint64(len(st.props)-start) >= uint64(count) {
			break
		}
		if rest < 2 {
			return nil, truncatedAt(st.off, "AMF0 property name")
		}
		n := int(binary.BigEndian.Uint16(st.b[st.off:]))
		if n == 0 {
			if rest < 3 {
				return nil, truncatedAt(st.off, "AMF0 object end")
			}
			if st.b[st.off+2] == amf0ObjectEnd {
				st.off += 3
				break
			}
		}
		if rest-2 < n {
			return nil, truncatedAt(st.off, "AMF0 property name")
		}
		if err := st.spendBytes(n); err != nil {
			return nil, err
		}
		key := internString(st.b[st.off+2 : st.off+2+n])
		st.off += 2 + n
		v, err := st.amf0Value()
		if err != nil {
			return nil, err
		}
		st.props = append(st.props, Property{Key: key, Value: v})
	}
	return st.takeProps(start), nil
}

// AppendAMF0 appends the AMF0 encoding of v to dst.
//
// v may be any type of the value model (see the package documentation),
// [AVMPlus], a Go integer or float kind or time.Time (written as Number or
// Date), []any (Strict array), map[string]any (Object with sorted keys), or
// a pointer to Object, ECMAArray, TypedObject or AVMPlus (nil is Null).
// Strings longer than 65535 bytes are written as Long String. Values AMF0
// cannot express — AMF3-only types ([]byte, *Array3, vectors,
// dictionaries) and objects with a name longer than 65535 bytes — are
// written as an AVM+ (0x11) AMF3 value. Other Go types are an error.
//
// On error the returned slice holds what was appended before the failure.
func AppendAMF0(dst []byte, v any) ([]byte, error) {
	var e encoder
	return e.amf0(dst, v)
}

// encoder is the state of one encode call. The AMF3 tables are created on
// first use.
type encoder struct {
	depth  int
	strs   map[string]int
	traits []encTraits
}

func (e *encoder) amf0(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, amf0Null), nil
	case float64:
		return appendAMF0Number(dst, x), nil
	case bool:
		if x {
			return append(dst, amf0Boolean, 1), nil
		}
		return append(dst, amf0Boolean, 0), nil
	case string:
		return appendAMF0String(dst, x)
	case Object:
		return e.amf0Object(dst, amf0Object, "", x, v)
	case *Object:
		if x == nil {
			return append(dst, amf0Null), nil
		}
		return e.amf0Object(dst, amf0Object, "", *x, v)
	case ECMAArray:
		return e.amf0Object(dst, amf0ECMAArray, "", x, v)
	case *ECMAArray:
		if x == nil {
			return append(dst, amf0Null), nil
		}
		return e.amf0Object(dst, amf0ECMAArray, "", *x, v)
	case *TypedObject:
		if x == nil {
			return append(dst, amf0Null), nil
		}
		return e.amf0Object(dst, amf0TypedObject, x.Class, x.Props, v)
	case TypedObject:
		return e.amf0Object(dst, amf0TypedObject, x.Class, x.Props, v)
	case map[string]any:
		return e.amf0Object(dst, amf0Object, "", mapObject(x), v)
	case StrictArray:
		return e.amf0Array(dst, x)
	case []any:
		return e.amf0Array(dst, x)
	case Date:
		dst = append(dst, amf0Date)
		dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(x.Millis))
		return binary.BigEndian.AppendUint16(dst, uint16(x.TimeZone)), nil
	case time.Time:
		return e.amf0(dst, Date{Millis: float64(x.UnixMilli())})
	case XMLDocument:
		if uint64(len(x)) > math.MaxUint32 {
			return dst, fmt.Errorf("%w: XML document of %d bytes", errTooLong, len(x))
		}
		dst = append(dst, amf0XMLDocument)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(x)))
		return append(dst, x...), nil
	case Undefined:
		return append(dst, amf0Undefined), nil
	case Unsupported:
		return append(dst, amf0Unsupported), nil
	case AVMPlus:
		return e.avmPlus(dst, x.Value)
	case *AVMPlus:
		if x == nil {
			return append(dst, amf0Null), nil
		}
		return e.avmPlus(dst, x.Value)
	case []byte, *Array3, Array3, *VectorInt, VectorInt, *VectorUint, VectorUint,
		*VectorDouble, VectorDouble, *VectorObject, VectorObject, *Dictionary, Dictionary:
		return e.avmPlus(dst, v)
	}
	if f, ok := goNumber(v); ok {
		return appendAMF0Number(dst, f), nil
	}
	return dst, fmt.Errorf("%w: %T", errGoType, v)
}

// avmPlus writes v as an AMF3 value after the AVM+ marker, with fresh AMF3
// tables.
func (e *encoder) avmPlus(dst []byte, v any) ([]byte, error) {
	e3 := encoder{depth: e.depth}
	return e3.amf3(append(dst, amf0AVMPlus), v)
}

func appendAMF0Number(dst []byte, f float64) []byte {
	dst = append(dst, amf0Number)
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(f))
}

func appendAMF0String(dst []byte, s string) ([]byte, error) {
	if len(s) <= math.MaxUint16 {
		dst = append(dst, amf0String)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
		return append(dst, s...), nil
	}
	if uint64(len(s)) > math.MaxUint32 {
		return dst, fmt.Errorf("%w: string of %d bytes", errTooLong, len(s))
	}
	dst = append(dst, amf0LongString)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...), nil
}

// amf0Object writes an object, ECMA array or typed object; orig is the
// value as given, written as AVM+ instead when a name does not fit AMF0.
func (e *encoder) amf0Object(dst []byte, marker byte, class string, props []Property, orig any) ([]byte, error) {
	if len(class) > math.MaxUint16 || !namesFitAMF0(props) {
		return e.avmPlus(dst, orig)
	}
	if e.depth >= maxEncodeDepth {
		return dst, fmt.Errorf("%w: more than %d levels (cyclic value?)", errDepth, maxEncodeDepth)
	}
	e.depth++
	dst = append(dst, marker)
	switch marker {
	case amf0ECMAArray:
		if uint64(len(props)) > math.MaxUint32 {
			return dst, fmt.Errorf("%w: ECMA array of %d properties", errTooLong, len(props))
		}
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(props)))
	case amf0TypedObject:
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(class)))
		dst = append(dst, class...)
	}
	var err error
	for _, p := range props {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(p.Key)))
		dst = append(dst, p.Key...)
		if dst, err = e.amf0(dst, p.Value); err != nil {
			return dst, err
		}
	}
	e.depth--
	return append(dst, 0, 0, amf0ObjectEnd), nil
}

func namesFitAMF0(props []Property) bool {
	for i := range props {
		if len(props[i].Key) > math.MaxUint16 {
			return false
		}
	}
	return true
}

func (e *encoder) amf0Array(dst []byte, items []any) ([]byte, error) {
	if e.depth >= maxEncodeDepth {
		return dst, fmt.Errorf("%w: more than %d levels (cyclic value?)", errDepth, maxEncodeDepth)
	}
	if uint64(len(items)) > math.MaxUint32 {
		return dst, fmt.Errorf("%w: strict array of %d values", errTooLong, len(items))
	}
	e.depth++
	dst = append(dst, amf0StrictArray)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(items)))
	var err error
	for _, it := range items {
		if dst, err = e.amf0(dst, it); err != nil {
			return dst, err
		}
	}
	e.depth--
	return dst, nil
}

// mapObject turns a map into an Object with keys in sorted order.
func mapObject(m map[string]any) Object {
	o := make(Object, 0, len(m))
	for k, v := range m {
		o = append(o, Property{Key: k, Value: v})
	}
	slices.SortFunc(o, func(a, b Property) int { return strings.Compare(a.Key, b.Key) })
	return o
}

// goNumber converts the Go integer and float kinds the encoders accept.
func goNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int8:
		return float64(n), true
	case int16:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint8:
		return float64(n), true
	case uint16:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float32:
		return float64(n), true
	}
	return 0, false
}

// long0 reads the u32 length and the bytes of an AMF0 long string or XML
// document, counting them against the decode budget.
func (st *decodeState) long0(what string) ([]byte, error) {
	n, err := st.u32(what + " length")
	if err != nil {
		return nil, err
	}
	p, err := st.take(int(min(n, math.MaxInt32)), what)
	if err != nil {
		return nil, err
	}
	if err := st.spendBytes(len(p)); err != nil {
		return nil, err
	}
	return p, nil
}
