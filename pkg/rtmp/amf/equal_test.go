package amf_test

import (
	"fmt"
	"math"
	"reflect"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
)

// sameValue reports whether a and b are the same AMF value, or describes
// the first difference. Floats compare by bit pattern (so NaN equals the
// same NaN and -0 differs from +0), nil and empty slices are equal, and
// pointers compare by what they point at. With looseNumbers an int32 equals
// a float64 of the same value: an AMF3 integer re-encoded as AMF0 becomes a
// Number.
func sameValue(a, b any, looseNumbers bool) error {
	return diff("value", a, b, looseNumbers)
}

func diff(path string, a, b any, loose bool) error {
	if loose {
		if fa, ok := asLooseNumber(a); ok {
			if fb, ok := asLooseNumber(b); ok && math.Float64bits(fa) == math.Float64bits(fb) {
				return nil
			}
			return fmt.Errorf("%s: %#v (%T) != %#v (%T)", path, a, a, b, b)
		}
	}
	if reflect.TypeOf(a) != reflect.TypeOf(b) {
		return fmt.Errorf("%s: type %T != %T (%#v vs %#v)", path, a, b, a, b)
	}
	switch x := a.(type) {
	case nil, bool, string, int32, amf.Undefined, amf.Unsupported, amf.XMLDocument:
		if a != b {
			return fmt.Errorf("%s: %#v != %#v", path, a, b)
		}
		return nil
	case float64:
		if math.Float64bits(x) != math.Float64bits(b.(float64)) {
			return fmt.Errorf("%s: %v != %v", path, x, b)
		}
		return nil
	case amf.Date:
		y := b.(amf.Date)
		if math.Float64bits(x.Millis) != math.Float64bits(y.Millis) || x.TimeZone != y.TimeZone {
			return fmt.Errorf("%s: %#v != %#v", path, x, y)
		}
		return nil
	case []byte:
		if string(x) != string(b.([]byte)) {
			return fmt.Errorf("%s: % x != % x", path, x, b)
		}
		return nil
	case amf.Object:
		return diffProps(path, x, b.(amf.Object), loose)
	case amf.ECMAArray:
		return diffProps(path, x, b.(amf.ECMAArray), loose)
	case amf.StrictArray:
		return diffList(path, x, b.(amf.StrictArray), loose)
	case *amf.TypedObject:
		y := b.(*amf.TypedObject)
		if x == nil || y == nil {
			return nilDiff(path, x == nil, y == nil)
		}
		if x.Class != y.Class {
			return fmt.Errorf("%s: class %q != %q", path, x.Class, y.Class)
		}
		return diffProps(path, x.Props, y.Props, loose)
	case *amf.Array3:
		y := b.(*amf.Array3)
		if x == nil || y == nil {
			return nilDiff(path, x == nil, y == nil)
		}
		if err := diffProps(path+".Assoc", x.Assoc, y.Assoc, loose); err != nil {
			return err
		}
		return diffList(path+".Dense", x.Dense, y.Dense, loose)
	case *amf.VectorInt:
		y := b.(*amf.VectorInt)
		if x.Fixed != y.Fixed || fmt.Sprint(x.Items) != fmt.Sprint(y.Items) {
			return fmt.Errorf("%s: %+v != %+v", path, *x, *y)
		}
		return nil
	case *amf.VectorUint:
		y := b.(*amf.VectorUint)
		if x.Fixed != y.Fixed || fmt.Sprint(x.Items) != fmt.Sprint(y.Items) {
			return fmt.Errorf("%s: %+v != %+v", path, *x, *y)
		}
		return nil
	case *amf.VectorDouble:
		y := b.(*amf.VectorDouble)
		if x.Fixed != y.Fixed || len(x.Items) != len(y.Items) {
			return fmt.Errorf("%s: %+v != %+v", path, *x, *y)
		}
		for i := range x.Items {
			if math.Float64bits(x.Items[i]) != math.Float64bits(y.Items[i]) {
				return fmt.Errorf("%s[%d]: %v != %v", path, i, x.Items[i], y.Items[i])
			}
		}
		return nil
	case *amf.VectorObject:
		y := b.(*amf.VectorObject)
		if x.Fixed != y.Fixed || x.Class != y.Class {
			return fmt.Errorf("%s: fixed/class %v/%q != %v/%q", path, x.Fixed, x.Class, y.Fixed, y.Class)
		}
		return diffList(path, x.Items, y.Items, loose)
	case *amf.Dictionary:
		y := b.(*amf.Dictionary)
		if x.Weak != y.Weak || len(x.Entries) != len(y.Entries) {
			return fmt.Errorf("%s: weak/len %v/%d != %v/%d", path, x.Weak, len(x.Entries), y.Weak, len(y.Entries))
		}
		for i := range x.Entries {
			p := fmt.Sprintf("%s[%d]", path, i)
			if err := diff(p+".Key", x.Entries[i].Key, y.Entries[i].Key, loose); err != nil {
				return err
			}
			if err := diff(p+".Value", x.Entries[i].Value, y.Entries[i].Value, loose); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("%s: unexpected type %T", path, a)
}

func asLooseNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int32:
		return float64(n), true
	}
	return 0, false
}

func nilDiff(path string, aNil, bNil bool) error {
	if aNil == bNil {
		return nil
	}
	return fmt.Errorf("%s: nil %v != nil %v", path, aNil, bNil)
}

func diffProps(path string, a, b []amf.Property, loose bool) error {
	if len(a) != len(b) {
		return fmt.Errorf("%s: %d properties != %d", path, len(a), len(b))
	}
	for i := range a {
		if a[i].Key != b[i].Key {
			return fmt.Errorf("%s: key %d %q != %q", path, i, a[i].Key, b[i].Key)
		}
		if err := diff(path+"."+a[i].Key, a[i].Value, b[i].Value, loose); err != nil {
			return err
		}
	}
	return nil
}

func diffList(path string, a, b []any, loose bool) error {
	if len(a) != len(b) {
		return fmt.Errorf("%s: %d items != %d", path, len(a), len(b))
	}
	for i := range a {
		if err := diff(fmt.Sprintf("%s[%d]", path, i), a[i], b[i], loose); err != nil {
			return err
		}
	}
	return nil
}
