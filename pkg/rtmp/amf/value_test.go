package amf_test

import (
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
)

func TestString(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
		ok   bool
	}{
		{"live", "live", true},
		{"", "", true},
		{amf.XMLDocument("<a/>"), "", false},
		{1.0, "", false},
		{nil, "", false},
	} {
		if got, ok := amf.String(c.v); got != c.want || ok != c.ok {
			t.Errorf("String(%#v) = %q, %v; want %q, %v", c.v, got, ok, c.want, c.ok)
		}
	}
}

func TestNumber(t *testing.T) {
	for _, c := range []struct {
		v    any
		want float64
		ok   bool
	}{
		{1.5, 1.5, true},
		{int32(-7), -7, true},
		{"1", 0, false},
		{int(3), 0, false}, // decoders never produce int
		{nil, 0, false},
	} {
		if got, ok := amf.Number(c.v); got != c.want || ok != c.ok {
			t.Errorf("Number(%#v) = %v, %v; want %v, %v", c.v, got, ok, c.want, c.ok)
		}
	}
}

func TestBool(t *testing.T) {
	if b, ok := amf.Bool(true); !b || !ok {
		t.Errorf("Bool(true) = %v, %v", b, ok)
	}
	if b, ok := amf.Bool(1.0); b || ok {
		t.Errorf("Bool(1.0) = %v, %v", b, ok)
	}
}

func TestPropsAndLookup(t *testing.T) {
	props := []amf.Property{{Key: "app", Value: "live"}, {Key: "n", Value: 2.0}}
	for _, c := range []struct {
		name string
		v    any
		ok   bool
	}{
		{"object", amf.Object(props), true},
		{"ecma", amf.ECMAArray(props), true},
		{"typed", &amf.TypedObject{Class: "C", Props: props}, true},
		{"array3", &amf.Array3{Assoc: props, Dense: amf.StrictArray{1.0}}, true},
		{"nil-typed", (*amf.TypedObject)(nil), false},
		{"nil-array3", (*amf.Array3)(nil), false},
		{"strict-array", amf.StrictArray{"app"}, false},
		{"string", "app", false},
		{"nil", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := amf.Props(c.v)
			if ok != c.ok || (ok && len(got) != 2) {
				t.Fatalf("Props = %v, %v; want ok=%v with 2 properties", got, ok, c.ok)
			}
			v, found := amf.Lookup(c.v, "app")
			if found != c.ok || (found && v != "live") {
				t.Fatalf("Lookup(app) = %#v, %v", v, found)
			}
			if _, found := amf.Lookup(c.v, "missing"); found {
				t.Fatal("Lookup(missing) found something")
			}
		})
	}
}

func TestGet(t *testing.T) {
	o := amf.Object{{Key: "a", Value: nil}, {Key: "b", Value: 1.0}, {Key: "b", Value: 2.0}}
	if v, ok := o.Get("a"); !ok || v != nil {
		t.Errorf("Get(a) = %v, %v; want nil, true (present with a Null value)", v, ok)
	}
	if v, _ := o.Get("b"); v != 1.0 {
		t.Errorf("Get(b) = %v; want the first of duplicate keys", v)
	}
	if _, ok := (amf.ECMAArray{}).Get("x"); ok {
		t.Error("Get on an empty ECMA array found something")
	}
}
