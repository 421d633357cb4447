package message_test

import (
	"errors"
	"fmt"

	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
	"github.com/tributary-media/tributary/pkg/rtmp/message"
)

// The receive side of a connection: media goes straight through, control
// messages feed the acknowledgement and bandwidth state, malformed and
// unknown messages are skipped, and replies are built with ToChunk.
func ExampleDecoder() {
	var (
		dec  message.Decoder
		acks message.AckTracker
		bw   message.PeerBandwidth
		buf  []byte
	)
	incoming := []*chunk.Message{
		{CSID: 2, Type: message.TypeWindowAckSize, Payload: []byte{0x00, 0x00, 0x10, 0x00}},
		{CSID: 2, Type: message.TypeSetPeerBandwidth, Payload: []byte{0x00, 0x00, 0x10, 0x00, 0x00}},
		{CSID: 2, Type: message.TypeUserControl, Payload: []byte{0x00, 0x06, 0x00, 0x00, 0x03, 0xE8}},
		{CSID: 2, Type: message.TypeUserControl, Payload: []byte{0x00, 0x03, 0x00}}, // too short
		{CSID: 7, Type: message.TypeVideo, StreamID: 1, Payload: make([]byte, 3000)},
		{CSID: 3, Type: 13, Payload: []byte{1}}, // unknown type
	}
	received := uint64(0)
	send := func(m message.Message) {
		cm, err := message.ToChunk(m, 0, 0, buf)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("send type %d on csid %d: % x\n", cm.Type, cm.CSID, cm.Payload)
	}
	for _, m := range incoming {
		received += uint64(len(m.Payload)) + 12 // as chunk.Reader.BytesRead would count
		if m.Type == message.TypeVideo || m.Type == message.TypeAudio {
			fmt.Printf("media: %d bytes\n", len(m.Payload)) // m.Payload as is: no decoding
		} else {
			msg, err := dec.Decode(m)
			switch {
			case errors.Is(err, message.ErrMalformed):
				fmt.Println("skipped:", err)
			case err != nil:
				fmt.Println("error:", err)
			default:
				switch msg := msg.(type) {
				case *message.WindowAckSize:
					acks.SetWindow(msg.Size)
				case *message.SetPeerBandwidth:
					if ack, due := bw.Apply(msg); due {
						send(&ack)
					}
				case *message.UserControl:
					if pong, ok := message.PingResponse(msg); ok {
						send(&pong)
					}
				case *message.Unknown:
					fmt.Println("ignored type", msg.TypeID)
				}
			}
		}
		if ack, due := acks.Update(received); due {
			send(&ack)
		}
	}
	// Output:
	// send type 5 on csid 2: 00 00 10 00
	// send type 4 on csid 2: 00 07 00 00 03 e8
	// skipped: message: malformed payload: user control SetBufferLength: 3 bytes, want at least 10
	// media: 3000 bytes
	// send type 3 on csid 2: 00 00 0c 06
	// ignored type 13
}
