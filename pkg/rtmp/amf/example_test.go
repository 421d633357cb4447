package amf_test

import (
	"fmt"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
)

// A connect command is three AMF0 values: the command name, the
// transaction id and the command object.
func ExampleAppendAMF0() {
	command := []any{
		"connect",
		1, // Go integers are written as Number
		amf.Object{
			{Key: "app", Value: "live"},
			{Key: "tcUrl", Value: "rtmp://localhost/live"},
		},
	}
	var payload []byte
	for _, v := range command {
		var err error
		if payload, err = amf.AppendAMF0(payload, v); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Printf("% x\n", payload[:10])   // String "connect"
	fmt.Printf("% x\n", payload[10:19]) // Number 1
	fmt.Printf("% x\n", payload[19:])   // Object
	// Output:
	// 02 00 07 63 6f 6e 6e 65 63 74
	// 00 3f f0 00 00 00 00 00 00
	// 03 00 03 61 70 70 02 00 04 6c 69 76 65 00 05 74 63 55 72 6c 02 00 15 72 74 6d 70 3a 2f 2f 6c 6f 63 61 6c 68 6f 73 74 2f 6c 69 76 65 00 00 09
}

// The payload of an onMetaData data message: the name, then an ECMA array
// (some encoders send an Object instead; Props and Lookup accept both).
func ExampleDecodeAMF0All() {
	payload := []byte{
		0x02, 0x00, 0x0A, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a', // "onMetaData"
		0x08, 0x00, 0x00, 0x00, 0x03, // ECMA array, count 3
		0x00, 0x05, 'w', 'i', 'd', 't', 'h', // "width"
		0x00, 0x40, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 640
		0x00, 0x06, 'h', 'e', 'i', 'g', 'h', 't', // "height"
		0x00, 0x40, 0x7E, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 480
		0x00, 0x07, 'e', 'n', 'c', 'o', 'd', 'e', 'r', // "encoder"
		0x02, 0x00, 0x0D, 'L', 'a', 'v', 'f', '5', '9', '.', '2', '7', '.', '1', '0', '0', // "Lavf59.27.100"
		0x00, 0x00, 0x09, // end
	}
	vals, err := amf.DecodeAMF0All(payload)
	if err != nil {
		fmt.Println(err)
		return
	}
	name, _ := amf.String(vals[0])
	fmt.Println(name)
	props, _ := amf.Props(vals[1])
	for _, p := range props {
		fmt.Printf("%s = %v\n", p.Key, p.Value)
	}
	w, _ := amf.Lookup(vals[1], "width")
	width, _ := amf.Number(w)
	fmt.Println("width as a number:", width)
	// Output:
	// onMetaData
	// width = 640
	// height = 480
	// encoder = Lavf59.27.100
	// width as a number: 640
}

// A Decoder with tighter limits than the defaults, for input from
// untrusted peers.
func ExampleDecoder() {
	d := amf.Decoder{MaxDepth: 2}
	nested := []byte{
		0x0A, 0x00, 0x00, 0x00, 0x01, // Strict array of 1
		0x0A, 0x00, 0x00, 0x00, 0x01, // Strict array of 1
		0x0A, 0x00, 0x00, 0x00, 0x00, // Strict array of 0: a third level
	}
	_, _, err := d.DecodeAMF0(nested)
	fmt.Println(err)
	// Output:
	// amf: nesting too deep: more than 2 levels at offset 10
}
