package chunk_test

import (
	"bytes"
	"fmt"
	"io"

	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
)

// Writing messages: a Set Chunk Size switches the Writer's own chunk size
// right after it, and Flush hands the buffered chunks to the connection.
func ExampleWriter() {
	var conn bytes.Buffer // stands in for a net.Conn
	w := chunk.NewWriter(&conn, chunk.Config{})

	msgs := []chunk.Message{
		{CSID: 2, Type: 1, Payload: []byte{0, 0, 0x10, 0}},                         // Set Chunk Size 4096
		{CSID: 6, Timestamp: 40, Type: 9, StreamID: 1, Payload: make([]byte, 300)}, // video
	}
	for i := range msgs {
		if err := w.WriteMessage(&msgs[i]); err != nil {
			fmt.Println(err)
			return
		}
	}
	if err := w.Flush(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("chunk size:", w.ChunkSize())
	fmt.Println("bytes written:", conn.Len(), w.BytesWritten())
	// Output:
	// chunk size: 4096
	// bytes written: 328 328
}

// Reading messages: the Reader applies the peer's Set Chunk Size itself and
// still returns it; payloads are valid until the next ReadMessage.
func ExampleReader() {
	stream := []byte{
		0x02,             // fmt 0, csid 2
		0x00, 0x00, 0x00, // timestamp 0
		0x00, 0x00, 0x04, // length 4
		0x01,       // type 1: Set Chunk Size
		0, 0, 0, 0, // message stream 0
		0x00, 0x00, 0x10, 0x00, // 4096
		0x03,             // fmt 0, csid 3
		0x00, 0x00, 0x00, // timestamp 0
		0x00, 0x00, 0x05, // length 5
		0x14,       // type 20: AMF0 command
		0, 0, 0, 0, // message stream 0
		'h', 'e', 'l', 'l', 'o',
	}
	r := chunk.NewReader(bytes.NewReader(stream), chunk.Config{})
	var m chunk.Message
	for {
		err := r.ReadMessage(&m)
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("csid %d type %d payload % x\n", m.CSID, m.Type, m.Payload)
	}
	fmt.Println("chunk size:", r.ChunkSize(), "bytes read:", r.BytesRead())
	// Output:
	// csid 2 type 1 payload 00 00 10 00
	// csid 3 type 20 payload 68 65 6c 6c 6f
	// chunk size: 4096 bytes read: 33
}
