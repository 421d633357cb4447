// Package amf encodes and decodes Action Message Format, versions 0 and 3,
// as RTMP command, data and shared-object messages carry it.
//
// # Values
//
// Decoded values are plain Go values of these types:
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
//	AMF3 Vector.<int>                   *VectorInt
//	AMF3 Vector.<uint>                  *VectorUint
//	AMF3 Vector.<Number>                *VectorDouble
//	AMF3 Vector.<Object>                *VectorObject
//	AMF3 Dictionary                     *Dictionary
//
// [String], [Number], [Bool], [Props] and [Lookup] read them without type
// switches; [Props] treats Object, ECMA array, typed object and AMF3
// associative array alike, as peers use them interchangeably. AMF3 XML and
// XMLDocument both decode to [XMLDocument]; dates decoded from AMF3 have a
// zero TimeZone.
//
// An AMF0 stream switches to AMF3 for one value with the AVM+ marker 0x11.
// Decoders return that value as it is, with AMF3 reference tables fresh for
// each such value; [AVMPlus] asks the AMF0 encoder to write one. The AMF0
// encoder also falls back to AVM+ by itself for values AMF0 cannot hold
// (AMF3-only types, names longer than 65535 bytes), so every decoded value
// can be encoded again.
//
// # References
//
// AMF0 Reference markers and AMF3 object references are resolved while
// decoding: the decoded value appears wherever it was referenced, and all
// those places share it, so treat decoded values as read-only. A
// reference to a value that is still being decoded (a cyclic value) is an
// error; decoded values are always trees. Encoders write AMF3 string and
// traits references but no object references, and no AMF0 references.
//
// # Limits
//
// A [Decoder] caps container nesting and the size of the decoded tree
// (values, plus string and byte data at one element per 64 bytes),
// counting a referenced subtree again at every reference. So neither deep
// nesting nor references that multiply a small input into a huge tree (or
// a huge re-encoding) get through, and recursion stays bounded. Declared counts and lengths are
// checked against the bytes actually left (every element takes at least
// one byte) before anything is allocated, so a count of 2^32 in a short
// input costs nothing. Encoders refuse values nested more than 4096 levels
// deep, which also stops cyclic Go values.
//
// # Buffers and concurrency
//
// Decoders never retain or alias their input: strings and byte arrays are
// copied, so the caller may reuse the buffer (for example a chunk reader's
// payload) as soon as a decode call returns. Append functions only append
// to dst and return it, in the manner of the standard library's Append
// functions; writing into a reused dst does not allocate for AMF0.
//
// All functions may be called concurrently. A [Decoder] holds only its
// limits and may be shared. Decoded values carry no synchronisation.
//
// # Errors
//
// Errors start with "amf: " and name what failed and where (marker, byte
// offset, length or Go type): truncated input, an unknown marker, a type
// the package does not handle (AMF0 MovieClip and RecordSet, AMF3
// externalizable objects, Go types outside the value model), an object-end
// marker outside an object, a bad or cyclic reference, nesting or element
// limits, and lengths beyond what the format can carry.
package amf
