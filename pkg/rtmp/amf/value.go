package amf

// Property is one key/value pair of an Object, ECMA array or typed object.
// Order is kept: AMF objects are ordered on the wire and some peers care.
type Property struct {
	Key   string
	Value any
}

// Object is an AMF0 anonymous object (marker 0x03) or an AMF3 anonymous
// object, as an ordered list of properties.
type Object []Property

// ECMAArray is an AMF0 ECMA (associative) array (marker 0x08). Decoders
// accept it wherever an Object is expected and the other way round.
type ECMAArray []Property

// StrictArray is an AMF0 strict array (marker 0x0A) or the dense part of an
// AMF3 array.
type StrictArray []any

// Undefined is the AMF0/AMF3 undefined value.
type Undefined struct{}

// Unsupported is the AMF0 unsupported marker (0x0D).
type Unsupported struct{}

// XMLDocument is an AMF0 XML document (0x0F) or AMF3 XML/XMLDocument.
type XMLDocument string

// Date is an AMF0/AMF3 date: milliseconds since the Unix epoch (UTC) and,
// for AMF0, the reserved time-zone field kept as read.
type Date struct {
	Millis   float64
	TimeZone int16
}

// TypedObject is an AMF0 typed object (0x10) or an AMF3 object with a class
// name.
type TypedObject struct {
	Class string
	Props Object
}

// Array3 is an AMF3 array that has an associative part; AMF3 arrays with
// only a dense part decode to StrictArray.
type Array3 struct {
	Assoc Object
	Dense StrictArray
}

// Get returns the value stored under key and whether it was present.
func (o Object) Get(key string) (any, bool) { return get(o, key) }

// Get returns the value stored under key and whether it was present.
func (a ECMAArray) Get(key string) (any, bool) { return get(a, key) }

func get(props []Property, key string) (any, bool) {
	for i := range props {
		if props[i].Key == key {
			return props[i].Value, true
		}
	}
	return nil, false
}

// AVMPlus wraps a value that is to be written in AMF3 inside an AMF0 stream:
// [AppendAMF0] writes the AVM+ marker 0x11 followed by the AMF3 encoding of
// Value. Decoders never return AVMPlus; an AVM+ value decodes to the plain
// AMF3 value.
type AVMPlus struct {
	Value any
}

// VectorInt is an AMF3 Vector.<int> (marker 0x0D).
type VectorInt struct {
	// Fixed reports whether the vector has a fixed length.
	Fixed bool
	Items []int32
}

// VectorUint is an AMF3 Vector.<uint> (marker 0x0E).
type VectorUint struct {
	// Fixed reports whether the vector has a fixed length.
	Fixed bool
	Items []uint32
}

// VectorDouble is an AMF3 Vector.<Number> (marker 0x0F).
type VectorDouble struct {
	// Fixed reports whether the vector has a fixed length.
	Fixed bool
	Items []float64
}

// VectorObject is an AMF3 Vector.<T> of objects (marker 0x10).
type VectorObject struct {
	// Fixed reports whether the vector has a fixed length.
	Fixed bool
	// Class is the element type name; empty means any type ("*").
	Class string
	Items []any
}

// Dictionary is an AMF3 Dictionary (marker 0x11): an ordered list of
// entries whose keys may be any AMF3 value.
type Dictionary struct {
	// Weak reports whether the dictionary holds its keys weakly.
	Weak    bool
	Entries []DictEntry
}

// DictEntry is one key/value pair of a [Dictionary].
type DictEntry struct {
	Key   any
	Value any
}

// String returns v as a string if it is one (AMF0 String or Long String,
// AMF3 string).
func String(v any) (string, bool) {
	s, ok := v.(string)
	return s, ok
}

// Number returns v as a float64 if it is a number: an AMF0 Number or AMF3
// double (float64) or an AMF3 integer (int32).
func Number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int32:
		return float64(n), true
	}
	return 0, false
}

// Bool returns v as a bool if it is a Boolean.
func Bool(v any) (bool, bool) {
	b, ok := v.(bool)
	return b, ok
}

// Props returns the properties of any object-like value: an [Object], an
// [ECMAArray], a [*TypedObject] or the associative part of an [*Array3].
// Peers send Object and ECMA array interchangeably (and AMF3 peers send
// associative arrays), so code reading a command object or metadata should
// go through Props rather than a type switch on one of them.
func Props(v any) ([]Property, bool) {
	switch o := v.(type) {
	case Object:
		return o, true
	case ECMAArray:
		return o, true
	case *TypedObject:
		if o == nil {
			return nil, false
		}
		return o.Props, true
	case *Array3:
		if o == nil {
			return nil, false
		}
		return o.Assoc, true
	}
	return nil, false
}

// Lookup returns the value of the property key of the object-like value v
// (see [Props]) and whether v is object-like and has that property.
func Lookup(v any, key string) (any, bool) {
	props, ok := Props(v)
	if !ok {
		return nil, false
	}
	return get(props, key)
}
