package amf

// Values decoded from AMF0 or AMF3 are plain Go values of these types:
//
//	AMF0 Number, AMF3 double            float64
//	AMF3 integer                        int32 (29-bit signed range)
//	Boolean, AMF3 true/false            bool
//	String, Long String, AMF3 string    string
//	Null                                nil
//	Undefined                           Undefined
//	Object, AMF3 anonymous object       Object
//	ECMA array                          ECMAArray
//	Strict array                        StrictArray
//	Typed object, AMF3 typed object     *TypedObject
//	Date                                Date
//	XML document                        XMLDocument
//	Unsupported                         Unsupported
//	AMF3 array with associative part    *Array3
//	AMF3 ByteArray                      []byte
//
// Encoders accept these types and, for convenience, other Go integer and
// float kinds (encoded as Number), []any (Strict array) and
// map[string]any (Object, keys sorted so output is deterministic).

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
