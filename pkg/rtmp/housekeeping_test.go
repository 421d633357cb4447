package rtmp_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/amf"
	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
	"github.com/tributary-media/tributary/pkg/rtmp/handshake"
	"github.com/tributary-media/tributary/pkg/rtmp/message"
)

// TestServerHousekeeping: a server conn answers PingRequest with the same
// timestamp, acknowledges per the client's Window Ack Size, answers a
// hard Set Peer Bandwidth with a Window Ack Size only when it changes,
// replies to AMF3 commands in AMF3, and the Server pings idle clients.
func TestServerHousekeeping(t *testing.T) {
	addr, _, _ := startHub(t, func(s *rtmp.Server, _ *hub) { s.PingInterval = 50 * time.Millisecond })
	p := dialRaw(t, addr)
	p.connect()

	// Ping.
	p.send(0, &message.UserControl{Event: message.EventPingRequest, Timestamp: 123456})
	for {
		_, msg := p.next()
		if uc, ok := msg.(*message.UserControl); ok && uc.Event == message.EventPingResponse {
			if uc.Timestamp != 123456 {
				t.Fatalf("PingResponse %d, want 123456", uc.Timestamp)
			}
			break
		}
	}

	// Set Peer Bandwidth: hard with the window the server announced
	// (2,500,000) needs no answer; a different one does.
	p.send(0, &message.SetPeerBandwidth{Window: 2_500_000, Limit: message.LimitHard},
		&message.SetPeerBandwidth{Window: 1_000_000, Limit: message.LimitHard})
	for {
		_, msg := p.next()
		if w, ok := msg.(*message.WindowAckSize); ok {
			if w.Size != 1_000_000 {
				t.Fatalf("Window Ack Size %d, want 1000000", w.Size)
			}
			break
		}
	}

	// The server pings on its own.
	deadline := time.Now().Add(2 * time.Second)
	for {
		_, msg := p.next()
		if uc, ok := msg.(*message.UserControl); ok && uc.Event == message.EventPingRequest {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no PingRequest from the server")
		}
	}

	// Acknowledgements: window 10,000 bytes, acks due every 5,000.
	id := p.createStream()
	p.send(0, &message.WindowAckSize{Size: 10_000})
	p.send(id, p.cmd("publish", "acks"))
	for {
		if _, c := p.nextCommand(); c.Name == "onStatus" {
			break
		}
	}
	for i := 0; i < 10; i++ {
		p.send(id, &message.Video{Payload: videoFrame(i, i == 0, 2000)})
	}
	sent := p.w.BytesWritten()
	var last uint32
	for last+5000 <= uint32(sent) {
		_, msg := p.next()
		if a, ok := msg.(*message.Acknowledgement); ok {
			if a.Sequence <= last || a.Sequence > uint32(sent) {
				t.Fatalf("acknowledgement %d after %d (sent %d)", a.Sequence, last, sent)
			}
			last = a.Sequence
		}
	}

	// AMF3 commands are answered as type 17.
	p.tx++
	p.send(0, &message.Command{AMF3: true, Name: "createStream", TransactionID: p.tx})
	for {
		cm, msg := p.next()
		if c, ok := msg.(*message.Command); ok {
			if cm.Type != message.TypeCommandAMF3 || c.Name != "_result" || c.TransactionID != p.tx {
				t.Fatalf("reply type %d %s %v", cm.Type, c.Name, c.TransactionID)
			}
			break
		}
	}
}

// TestClientHousekeeping: a playing client applies the server's Set Chunk
// Size, acknowledges per its Window Ack Size, answers pings, and sends
// SetBufferLength after play.
func TestClientHousekeeping(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	errs := make(chan error, 1)
	seen := make(chan string, 16)
	go func() {
		errs <- func() error {
			nc, err := ln.Accept()
			if err != nil {
				return err
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := handshake.Server(nc, handshake.ServerConfig{}); err != nil {
				return err
			}
			r, w := chunk.NewReader(nc, chunk.Config{}), chunk.NewWriter(nc, chunk.Config{})
			send := func(id uint32, msgs ...message.Message) error {
				for _, m := range msgs {
					cm, err := message.ToChunk(m, id, 0, nil)
					if err != nil {
						return err
					}
					if err := w.WriteMessage(&cm); err != nil {
						return err
					}
				}
				return w.Flush()
			}
			var cm chunk.Message
			for {
				if err := r.ReadMessage(&cm); err != nil {
					return nil
				}
				msg, err := message.Decode(&cm)
				if err != nil {
					return err
				}
				switch m := msg.(type) {
				case *message.Command:
					seen <- m.Name
					switch m.Name {
					case "connect":
						err = send(0, &message.WindowAckSize{Size: 8000}, &message.SetChunkSize{Size: 60000},
							message.Result(m.TransactionID, amf.Object{{Key: "fmsVer", Value: "x"}},
								message.StatusInfo("status", rtmp.CodeConnectSuccess, "")))
					case "createStream":
						err = send(0, message.CreateStreamResult(m.TransactionID, 1))
					case "play":
						err = send(1, message.OnStatus("status", rtmp.CodePlayStart, ""),
							&message.UserControl{Event: message.EventPingRequest, Timestamp: 77})
						for i := 0; i < 20 && err == nil; i++ {
							err = send(1, &message.Video{Payload: videoFrame(i, i == 0, 1000)})
						}
					}
				case *message.UserControl:
					seen <- m.Event.String()
				case *message.Acknowledgement:
					seen <- "ack"
				}
				if err != nil {
					return err
				}
			}
		}()
	}()
	c := dialPlay(t, "rtmp://"+ln.Addr().String()+"/live/s", rtmp.ClientConfig{})
	readFrames(t, c, 20)
	want := map[string]bool{"connect": false, "createStream": false, "play": false,
		"SetBufferLength": false, "PingResponse": false, "ack": false}
	timeout := time.After(5 * time.Second)
	for missing := len(want); missing > 0; {
		select {
		case s := <-seen:
			if done, ok := want[s]; ok && !done {
				want[s] = true
				missing--
			}
		case <-timeout:
			t.Fatalf("server saw %v", want)
		}
	}
	c.Close()
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// TestServerStreamCommands: getStreamLength gets "_result", txid, null, 0;
// pause and unpause get Pause.Notify + StreamEOF and Unpause.Notify +
// StreamBegin and reach the application; createStream beyond MaxStreams
// gets an _error, as does a play on a stream id never created, and the
// connection stays usable.
func TestServerStreamCommands(t *testing.T) {
	events := make(chan *rtmp.Message, 8)
	addr := startServer(t, &rtmp.Server{Config: rtmp.ServerConfig{MaxStreams: 2}, Handler: func(ctx context.Context, c *rtmp.ServerConn) error {
		if _, err := c.ReadConnect(); err != nil {
			return err
		}
		if err := c.AcceptConnect(nil); err != nil {
			return err
		}
		for {
			m, err := c.ReadMessage()
			if err != nil {
				return err
			}
			if m.Kind == rtmp.KindPlay {
				if err := c.AcceptPlay(m.Play); err != nil {
					return err
				}
			}
			events <- m.Clone()
		}
	}})
	p := dialRaw(t, addr)
	p.connect()
	gsl := p.cmd("getStreamLength", "s")
	p.send(0, gsl)
	if _, c := p.nextCommand(); c.Name != "_result" || c.TransactionID != gsl.TransactionID || c.Object != nil ||
		len(c.Args) != 1 || c.Args[0] != 0.0 {
		t.Fatalf("getStreamLength answered %s %v %v %v", c.Name, c.TransactionID, c.Object, c.Args)
	}
	id := p.createStream()
	p.send(id, p.cmd("play", "s"))
	if m := <-events; m.Kind != rtmp.KindPlay || m.Play.Name != "s" || m.Play.Start != -2 || !m.Play.Reset {
		t.Fatalf("got %v %+v", m.Kind, m.Play)
	}
	for {
		if _, c := p.nextCommand(); c.Name == "onStatus" && statusCode(c) == rtmp.CodePlayStart {
			break
		}
	}
	for _, tc := range []struct {
		paused bool
		code   string
		event  message.Event
	}{{true, rtmp.CodePauseNotify, message.EventStreamEOF}, {false, rtmp.CodeUnpauseNotify, message.EventStreamBegin}} {
		p.send(id, &message.Command{Name: "pause", Args: []any{tc.paused, 1500.0}})
		var gotStatus, gotEvent bool
		for !gotStatus || !gotEvent {
			cm, msg := p.next()
			switch m := msg.(type) {
			case *message.Command:
				if m.Name == "onStatus" && statusCode(m) == tc.code && cm.StreamID == id {
					gotStatus = true
				}
			case *message.UserControl:
				if m.Event == tc.event && m.StreamID == id {
					if !gotStatus {
						t.Error("user control event before the status")
					}
					gotEvent = true
				}
			}
		}
		if m := <-events; m.Kind != rtmp.KindPause || m.Paused != tc.paused || m.Timestamp != 1500 {
			t.Errorf("application got %v paused=%v ts=%d", m.Kind, m.Paused, m.Timestamp)
		}
	}
	// Stream limit: one more stream fits, the third fails.
	p.createStream()
	p.send(0, p.cmd("createStream"))
	if _, c := p.nextCommand(); c.Name != "_error" {
		t.Fatalf("createStream beyond the limit answered %s", c.Name)
	}
	p.send(0, p.cmd("deleteStream", float64(id)))
	if m := <-events; m.Kind != rtmp.KindCloseStream || m.StreamID != id {
		t.Errorf("deleteStream of a player gave %v on %d", m.Kind, m.StreamID)
	}
	if p.createStream() == 0 {
		t.Error("createStream after deleteStream failed")
	}
	// A play on a stream id never created counts against the limit too.
	p.send(77, p.cmd("play", "s"))
	for {
		cm, c := p.nextCommand()
		if c.Name != "onStatus" || cm.StreamID != 77 {
			continue
		}
		if code := statusCode(c); code != rtmp.CodePlayFailed && code != rtmp.CodePublishBadName {
			t.Fatalf("play on an uncreated stream beyond the limit answered %s", code)
		}
		break
	}
}
