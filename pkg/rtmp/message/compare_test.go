package message_test

import (
	"fmt"
	"math"
	"reflect"
)

// equivalent reports whether two decoded values say the same thing: nil
// and empty slices are equal, an AMF3 integer (int32) equals the AMF0
// number (float64) it re-encodes as, and NaN equals NaN. It returns a path
// to the first difference.
func equivalent(a, b any) (bool, string) {
	return equalValue(reflect.ValueOf(a), reflect.ValueOf(b), "")
}

func number(v reflect.Value) (float64, bool) {
	switch v.Kind() {
	case reflect.Float64:
		return v.Float(), true
	case reflect.Int32:
		return float64(v.Int()), true
	}
	return 0, false
}

func equalValue(a, b reflect.Value, path string) (bool, string) {
	for a.IsValid() && a.Kind() == reflect.Interface {
		if a.IsNil() {
			a = reflect.Value{}
			break
		}
		a = a.Elem()
	}
	for b.IsValid() && b.Kind() == reflect.Interface {
		if b.IsNil() {
			b = reflect.Value{}
			break
		}
		b = b.Elem()
	}
	if !a.IsValid() || !b.IsValid() {
		if a.IsValid() == b.IsValid() {
			return true, ""
		}
		return false, fmt.Sprintf("%s: %v vs %v", path, a, b)
	}
	if fa, ok := number(a); ok {
		if fb, ok := number(b); ok {
			if fa == fb || (math.IsNaN(fa) && math.IsNaN(fb)) {
				return true, ""
			}
			return false, fmt.Sprintf("%s: %v vs %v", path, fa, fb)
		}
	}
	if a.Type() != b.Type() {
		return false, fmt.Sprintf("%s: type %v vs %v", path, a.Type(), b.Type())
	}
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil(), path + ": nil pointer"
		}
		return equalValue(a.Elem(), b.Elem(), path)
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return false, fmt.Sprintf("%s: length %d vs %d", path, a.Len(), b.Len())
		}
		for i := range a.Len() {
			if ok, d := equalValue(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i)); !ok {
				return false, d
			}
		}
		return true, ""
	case reflect.Struct:
		for i := range a.NumField() {
			if ok, d := equalValue(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); !ok {
				return false, d
			}
		}
		return true, ""
	case reflect.Map:
		if a.Len() != b.Len() {
			return false, path + ": map length"
		}
		for _, k := range a.MapKeys() {
			if ok, d := equalValue(a.MapIndex(k), b.MapIndex(k), fmt.Sprintf("%s[%v]", path, k)); !ok {
				return false, d
			}
		}
		return true, ""
	case reflect.Float32, reflect.Float64:
		fa, fb := a.Float(), b.Float()
		if fa == fb || (math.IsNaN(fa) && math.IsNaN(fb)) {
			return true, ""
		}
		return false, fmt.Sprintf("%s: %v vs %v", path, fa, fb)
	case reflect.Bool:
		return a.Bool() == b.Bool(), path
	case reflect.String:
		if a.String() == b.String() {
			return true, ""
		}
		return false, fmt.Sprintf("%s: %q vs %q", path, a.String(), b.String())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if a.Int() == b.Int() {
			return true, ""
		}
		return false, fmt.Sprintf("%s: %d vs %d", path, a.Int(), b.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if a.Uint() == b.Uint() {
			return true, ""
		}
		return false, fmt.Sprintf("%s: %d vs %d", path, a.Uint(), b.Uint())
	}
	return false, fmt.Sprintf("%s: cannot compare kind %v", path, a.Kind())
}

// cat concatenates byte slices into a new slice.
func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// amfStr is an AMF0 string: marker 0x02, u16 length, bytes.
func amfStr(s string) []byte {
	return cat([]byte{0x02, byte(len(s) >> 8), byte(len(s))}, []byte(s))
}

// amfNum is an AMF0 number: marker 0x00 and a big-endian double.
func amfNum(f float64) []byte {
	u := math.Float64bits(f)
	return []byte{0x00, byte(u >> 56), byte(u >> 48), byte(u >> 40), byte(u >> 32), byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)}
}

// amfKey is an AMF0 property name: u16 length and bytes.
func amfKey(s string) []byte {
	return cat([]byte{byte(len(s) >> 8), byte(len(s))}, []byte(s))
}
