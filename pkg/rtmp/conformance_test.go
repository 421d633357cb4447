package rtmp_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/amf"
	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
	"github.com/tributary-media/tributary/pkg/rtmp/message"
)

// TestCase40ConnectReplyOrder: PROTOCOL.md section 9 case 40. The connect
// reply is Window Ack Size, Set Peer Bandwidth, Set Chunk Size, then the
// _result with the client's transaction id; nothing longer than 128 bytes
// comes before Set Chunk Size.
func TestCase40ConnectReplyOrder(t *testing.T) {
	for _, tc := range []struct {
		name      string
		chunkSize uint32
		window    uint32
	}{
		{"defaults", 0, 0},
		{"configured", 8192, 5_000_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, _, _ := startHub(t, func(s *rtmp.Server, _ *hub) {
				s.Config.ChunkSize, s.Config.WindowAckSize = tc.chunkSize, tc.window
			})
			wantChunk, wantWin := cmpU32(tc.chunkSize, 4096), cmpU32(tc.window, 2_500_000)
			p := dialRaw(t, addr)
			p.tx = 4 // the client's transaction id is echoed, whatever it is
			// A long command object makes the _result echo long too.
			var got []chunk.Message
			var msgs []message.Message
			c := p.cmd("connect")
			c.Object = amf.Object{{Key: "app", Value: "live"}, {Key: "tcUrl", Value: "rtmp://127.0.0.1/live"},
				{Key: "objectEncoding", Value: 3.0}}
			p.send(0, c)
			for {
				cm, msg := p.next()
				got, msgs = append(got, cm), append(msgs, msg)
				if cmd, ok := msg.(*message.Command); ok && cmd.Name == "_result" {
					break
				}
			}
			// Order: 5, 6, 1, optional StreamBegin 0, then _result.
			if len(msgs) < 4 {
				t.Fatalf("got %d messages, want at least 4", len(msgs))
			}
			was, ok1 := msgs[0].(*message.WindowAckSize)
			spb, ok2 := msgs[1].(*message.SetPeerBandwidth)
			scs, ok3 := msgs[2].(*message.SetChunkSize)
			if !ok1 || !ok2 || !ok3 {
				t.Fatalf("first messages %T %T %T, want WindowAckSize, SetPeerBandwidth, SetChunkSize", msgs[0], msgs[1], msgs[2])
			}
			if was.Size != wantWin || spb.Window != wantWin || spb.Limit != message.LimitDynamic || scs.Size != wantChunk {
				t.Errorf("window %d, peer bandwidth %d/%v, chunk size %d", was.Size, spb.Window, spb.Limit, scs.Size)
			}
			for i := 3; i < len(msgs)-1; i++ {
				uc, ok := msgs[i].(*message.UserControl)
				if !ok || uc.Event != message.EventStreamBegin || uc.StreamID != 0 {
					t.Errorf("message %d before _result: %T %+v", i, msgs[i], msgs[i])
				}
			}
			for i := 0; i < 3; i++ {
				if len(got[i].Payload) > 128 {
					t.Errorf("message %d of %d bytes before Set Chunk Size", i, len(got[i].Payload))
				}
				if got[i].CSID != 2 || got[i].StreamID != 0 {
					t.Errorf("control message %d on csid %d msid %d", i, got[i].CSID, got[i].StreamID)
				}
			}
			res := msgs[len(msgs)-1].(*message.Command)
			if res.TransactionID != 5 {
				t.Errorf("_result transaction id %v, want 5", res.TransactionID)
			}
			for key, want := range map[string]any{"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0, "mode": 1.0} {
				if v, _ := amf.Lookup(res.Object, key); v != want {
					t.Errorf("properties %s = %v, want %v", key, v, want)
				}
			}
			if _, ok := amf.Lookup(res.Object, "capsEx"); ok {
				t.Error("capsEx advertised to a client without Enhanced RTMP properties")
			}
			for key, want := range map[string]any{"level": "status", "code": "NetConnection.Connect.Success",
				"description": "Connection succeeded.", "objectEncoding": 3.0} {
				if v, _ := amf.Lookup(res.Args[0], key); v != want {
					t.Errorf("information %s = %v, want %v", key, v, want)
				}
			}
		})
	}
}

func cmpU32(v, def uint32) uint32 {
	if v == 0 {
		return def
	}
	return v
}

// TestCase41ThreeCommandsOneSegment: case 41. releaseStream, FCPublish and
// createStream in one TCP write get three replies; the createStream
// _result is [txid, null, number].
func TestCase41ThreeCommandsOneSegment(t *testing.T) {
	addr, _, _ := startHub(t)
	p := dialRaw(t, addr)
	p.connect()
	rel, fcp, cs := p.cmd("releaseStream", "s"), p.cmd("FCPublish", "s"), p.cmd("createStream")
	p.send(0, rel, fcp, cs) // one flush: one write of all three
	results := map[float64]*message.Command{}
	var onFCPublish *message.Command
	for len(results) < 3 || onFCPublish == nil {
		_, c := p.nextCommand()
		switch c.Name {
		case "_result":
			results[c.TransactionID] = c
		case "onFCPublish":
			onFCPublish = c
		default:
			t.Fatalf("unexpected %s", c.Name)
		}
	}
	for _, c := range []*message.Command{rel, fcp, cs} {
		if results[c.TransactionID] == nil {
			t.Errorf("no _result for %s", c.Name)
		}
	}
	res := results[cs.TransactionID]
	if res.Object != nil || len(res.Args) != 1 {
		t.Fatalf("createStream result object %v args %v", res.Object, res.Args)
	}
	if id, ok := res.Args[0].(float64); !ok || id < 1 {
		t.Fatalf("createStream result %v, want a positive number", res.Args[0])
	}
	if code, _ := amf.Lookup(onFCPublish.Args[0], "code"); code != "NetStream.Publish.Start" {
		t.Errorf("onFCPublish code %v", code)
	}
}

// TestCase42PublishStart: case 42. publish is answered by onStatus
// NetStream.Publish.Start on the publish msid with a null command object;
// a second publish of the same name gets NetStream.Publish.BadName, level
// error.
func TestCase42PublishStart(t *testing.T) {
	addr, _, _ := startHub(t)
	publish := func(p *rawPeer) (chunk.Message, *message.Command, uint32) {
		p.connect()
		id := p.createStream()
		p.send(id, p.cmd("publish", "cam", "live"))
		for {
			cm, c := p.nextCommand()
			if c.Name == "onStatus" {
				return cm, c, id
			}
		}
	}
	cm, st, id := publish(dialRaw(t, addr))
	if cm.StreamID != id || st.Object != nil || st.TransactionID != 0 {
		t.Errorf("onStatus on msid %d (want %d), object %v, txid %v", cm.StreamID, id, st.Object, st.TransactionID)
	}
	if statusCode(st) != "NetStream.Publish.Start" || statusLevel(st) != "status" {
		t.Errorf("status %s/%s", statusLevel(st), statusCode(st))
	}
	_, st2, _ := publish(dialRaw(t, addr))
	if statusCode(st2) != "NetStream.Publish.BadName" || statusLevel(st2) != "error" {
		t.Errorf("duplicate publish: status %s/%s", statusLevel(st2), statusCode(st2))
	}
}

// rawPlayer connects a raw peer and plays name.
func rawPlayer(t *testing.T, addr, name string) (*rawPeer, uint32) {
	p := dialRaw(t, addr)
	p.connect()
	id := p.createStream()
	p.send(id, p.cmd("play", name, -2.0, -1.0, true))
	return p, id
}

// TestCase43SetDataFrame: case 43. The publisher's @setDataFrame onMetaData
// reaches the application as onMetaData (without @setDataFrame) and a
// player gets it before media.
func TestCase43SetDataFrame(t *testing.T) {
	addr, h, _ := startHub(t)
	pl, id := rawPlayer(t, addr, "meta")
	h.waitPlayers(t, "meta", 1)

	// A raw publisher sends exactly what encoders send.
	pub := dialRaw(t, addr)
	pub.connect()
	pid := pub.createStream()
	pub.send(pid, pub.cmd("publish", "meta"))
	for {
		if _, c := pub.nextCommand(); c.Name == "onStatus" {
			break
		}
	}
	meta := amf.ECMAArray{{Key: "width", Value: 640.0}, {Key: "encoder", Value: "x"}}
	pub.send(pid, &message.Data{Name: "@setDataFrame", Values: []any{"onMetaData", meta}},
		&message.Video{Payload: avcSeqHeader}, &message.Video{Payload: videoFrame(0, true, 50)})

	var order []string
	for len(order) < 6 {
		cm, msg := pl.next()
		switch m := msg.(type) {
		case *message.Data:
			if m.Name == "onMetaData" {
				if cm.StreamID != id || len(m.Values) != 1 {
					t.Errorf("onMetaData on msid %d with %d values", cm.StreamID, len(m.Values))
				}
				if !bytes.HasPrefix(cm.Payload, []byte("\x02\x00\x0aonMetaData\x08")) {
					t.Errorf("onMetaData payload starts % x", cm.Payload[:16])
				}
				if w, _ := amf.Lookup(m.Values[0], "width"); w != 640.0 {
					t.Errorf("width %v", w)
				}
			}
			order = append(order, "data:"+m.Name)
		case *message.Video:
			order = append(order, "video")
		case *message.Command:
			order = append(order, statusCode(m))
		case *message.UserControl:
			order = append(order, m.Event.String())
		}
	}
	want := []string{"StreamBegin", "NetStream.Play.Reset", "NetStream.Play.Start", "data:|RtmpSampleAccess", "data:onMetaData", "video"}
	if !equalStrings(order, want) {
		t.Errorf("player got %q, want %q", order, want)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCase44PlaySequence: case 44. A player joining a running stream gets
// StreamBegin(msid), Play.Reset, Play.Start, |RtmpSampleAccess, metadata,
// the AVC and AAC sequence headers, then media from a keyframe.
func TestCase44PlaySequence(t *testing.T) {
	addr, h, _ := startHub(t)
	pub := dialPublish(t, "rtmp://"+addr+"/live/running", rtmp.ClientConfig{})
	publishFrames(t, pub, 0, 13, 10, 200) // mid-GOP when the player joins
	h.waitVideo(t, "running", 12*40)

	pl, id := rawPlayer(t, addr, "running")
	h.waitPlayers(t, "running", 1)
	go func() {
		for i := 13; i < 40; i++ {
			ts := uint32(i * 40)
			if pub.WriteVideo(ts, videoFrame(i, i%10 == 0, 200)) != nil || pub.WriteAudio(ts, audioFrame(i)) != nil {
				return
			}
		}
	}()
	var order []string
	for len(order) < 9 {
		cm, msg := pl.next()
		if cm.Type != message.TypeUserControl && cm.Type != message.TypeSetChunkSize && cm.StreamID != id {
			t.Errorf("%T on msid %d, want %d", msg, cm.StreamID, id)
		}
		switch m := msg.(type) {
		case *message.UserControl:
			if m.Event == message.EventStreamBegin && m.StreamID != id {
				t.Errorf("StreamBegin for %d, want %d", m.StreamID, id)
			}
			order = append(order, m.Event.String())
		case *message.Command:
			order = append(order, statusCode(m))
		case *message.Data:
			order = append(order, m.Name)
		case *message.Video:
			switch {
			case bytes.Equal(m.Payload, avcSeqHeader):
				order = append(order, "avc-seq")
			case m.Payload[0] == 0x17:
				order = append(order, "key")
				if i := frameIndex(m.Payload); i != 20 {
					t.Errorf("first keyframe is frame %d, want 20", i)
				}
			default:
				order = append(order, "inter")
			}
		case *message.Audio:
			if bytes.Equal(m.Payload, aacSeqHeader) {
				order = append(order, "aac-seq")
			} else {
				order = append(order, "audio")
			}
		}
	}
	want := []string{"StreamBegin", "NetStream.Play.Reset", "NetStream.Play.Start", "|RtmpSampleAccess",
		"onMetaData", "avc-seq", "aac-seq", "key", "audio"}
	if !equalStrings(order, want) {
		t.Errorf("player got %q\nwant %q", order, want)
	}
}

// TestCase45UnknownCalls: case 45. _checkbw and unknown calls get
// "_result", txid, null, null and the connection stays open.
func TestCase45UnknownCalls(t *testing.T) {
	calls := make(chan string, 4)
	addr := startServer(t, &rtmp.Server{Handler: func(ctx context.Context, c *rtmp.ServerConn) error {
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
			if m.Kind == rtmp.KindCommand {
				calls <- m.Command.Name
			}
		}
	}})
	p := dialRaw(t, addr)
	p.connect()
	for _, name := range []string{"_checkbw", "someVendorCall", "FCSubscribe"} {
		c := p.cmd(name, "arg")
		p.send(0, c)
		_, res := p.nextCommand()
		if res.Name != "_result" || res.TransactionID != c.TransactionID || res.Object != nil ||
			len(res.Args) != 1 || res.Args[0] != nil {
			t.Errorf("%s answered %s %v %v %v", name, res.Name, res.TransactionID, res.Object, res.Args)
		}
	}
	if got := <-calls; got != "someVendorCall" {
		t.Errorf("application saw %q", got)
	}
	// Still open and working.
	if id := p.createStream(); id == 0 {
		t.Error("createStream after unknown calls failed")
	}
}

// TestCase46EndOfPublish: case 46. FCUnpublish, deleteStream and
// closeStream each end the publish: the publisher gets
// NetStream.Unpublish.Success and players NetStream.Play.UnpublishNotify.
func TestCase46EndOfPublish(t *testing.T) {
	for _, end := range []string{"FCUnpublish", "deleteStream", "closeStream"} {
		t.Run(end, func(t *testing.T) {
			addr, h, _ := startHub(t)
			player := dialPlay(t, "rtmp://"+addr+"/live/ending", rtmp.ClientConfig{})
			h.waitPlayers(t, "ending", 1)
			pub := dialRaw(t, addr)
			pub.connect()
			id := pub.createStream()
			pub.send(id, pub.cmd("publish", "ending", "live"))
			for {
				if _, c := pub.nextCommand(); c.Name == "onStatus" {
					break
				}
			}
			switch end {
			case "FCUnpublish":
				pub.send(0, pub.cmd("FCUnpublish", "ending"))
			case "deleteStream":
				pub.send(0, pub.cmd("deleteStream", float64(id)))
			case "closeStream":
				pub.send(id, pub.cmd("closeStream"))
			}
			var got []string
			for !containsString(got, "NetStream.Unpublish.Success") {
				cm, c := pub.nextCommand()
				got = append(got, c.Name+":"+statusCode(c))
				if c.Name == "onStatus" {
					got = append(got, statusCode(c))
					if cm.StreamID != id {
						t.Errorf("Unpublish.Success on msid %d, want %d", cm.StreamID, id)
					}
				}
			}
			if end == "FCUnpublish" && !containsString(got, "onFCUnpublish:NetStream.Unpublish.Success") {
				t.Errorf("publisher got %q, want onFCUnpublish", got)
			}
			for {
				m, err := player.ReadMessage()
				if err != nil {
					t.Fatal(err)
				}
				if m.Kind == rtmp.KindStatus && m.Status.Code == rtmp.CodePlayUnpublishNotify {
					break
				}
			}
		})
	}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestCase49EnhancedConnect: case 49. A connect with fourCcList
// ["hvc1","av01"] and videoFourCcInfoMap {"*": 4} is parsed, and the
// _result advertises the server's own maps and capsEx.
func TestCase49EnhancedConnect(t *testing.T) {
	addr, h, _ := startHub(t, func(s *rtmp.Server, _ *hub) {
		s.Config.VideoFourCCInfoMap = map[string]uint32{"hvc1": rtmp.FourCCCanForward, "av01": rtmp.FourCCCanForward}
	})
	p := dialRaw(t, addr)
	msgs := p.connect(
		amf.Property{Key: "fourCcList", Value: amf.StrictArray{"hvc1", "av01"}},
		amf.Property{Key: "videoFourCcInfoMap", Value: amf.Object{{Key: "*", Value: 4.0}}},
		amf.Property{Key: "capsEx", Value: 1.0},
	)
	h.mu.Lock()
	req := h.conns[0]
	h.mu.Unlock()
	if !req.Enhanced || !equalStrings(req.FourCCList, []string{"hvc1", "av01"}) ||
		len(req.VideoFourCCInfoMap) != 1 || req.VideoFourCCInfoMap["*"] != 4 || req.CapsEx != 1 {
		t.Errorf("parsed %+v", req)
	}
	res := msgs[len(msgs)-1].(*message.Command)
	video, _ := amf.Lookup(res.Object, "videoFourCcInfoMap")
	if v, _ := amf.Lookup(video, "hvc1"); v != 4.0 {
		t.Errorf("videoFourCcInfoMap %v", video)
	}
	audio, _ := amf.Lookup(res.Object, "audioFourCcInfoMap")
	if v, _ := amf.Lookup(audio, "*"); v != 4.0 {
		t.Errorf("audioFourCcInfoMap %v", audio)
	}
	if caps, _ := amf.Lookup(res.Object, "capsEx"); caps != float64(rtmp.CapsExReconnect|rtmp.CapsExMultitrack|rtmp.CapsExModEx|rtmp.CapsExTimestampNanoOffset) {
		t.Errorf("capsEx %v", caps)
	}

	// Our client sends the same properties and reads the server's.
	ctx := testCtx(t)
	c, err := rtmp.Dial(ctx, "rtmp://"+addr+"/live/x", rtmp.ClientConfig{
		FourCCList:         []string{"hvc1", "av01"},
		VideoFourCCInfoMap: map[string]uint32{"*": rtmp.FourCCCanForward},
		AudioFourCCInfoMap: map[string]uint32{"Opus": rtmp.FourCCCanDecode},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	req = h.conns[1]
	h.mu.Unlock()
	if !equalStrings(req.FourCCList, []string{"hvc1", "av01"}) || req.VideoFourCCInfoMap["*"] != 4 ||
		req.AudioFourCCInfoMap["Opus"] != 1 || req.CapsEx != rtmp.CapsExReconnect {
		t.Errorf("client connect parsed as %+v", req)
	}
	if caps, _ := c.Properties().Get("capsEx"); caps == nil {
		t.Error("client does not see the server's capsEx")
	}
}

// TestCase50ReconnectRequestServer: case 50, server half. RequestReconnect
// sends onStatus NetConnection.Connect.ReconnectRequest with the tcUrl to a
// client that advertised capsEx Reconnect, and fails for others.
func TestCase50ReconnectRequestServer(t *testing.T) {
	results := make(chan error, 2)
	addr, h, _ := startHub(t)
	h.onConnect = func(c *rtmp.ServerConn, req *rtmp.ConnectRequest) error {
		if err := c.AcceptConnect(nil); err != nil {
			return err
		}
		results <- c.RequestReconnect("rtmp://other.example/live", "draining")
		return errors.New("test: done")
	}
	p := dialRaw(t, addr)
	p.connect(amf.Property{Key: "capsEx", Value: 1.0})
	if err := <-results; err != nil {
		t.Fatalf("RequestReconnect: %v", err)
	}
	cm, c := p.nextCommand()
	if c.Name != "onStatus" || cm.StreamID != 0 || statusCode(c) != rtmp.CodeConnectReconnectRequest || statusLevel(c) != "status" {
		t.Fatalf("got %s on %d: %v", c.Name, cm.StreamID, c.Args)
	}
	if u, _ := amf.Lookup(c.Args[0], "tcUrl"); u != "rtmp://other.example/live" {
		t.Errorf("tcUrl %v", u)
	}
	if d, _ := amf.Lookup(c.Args[0], "description"); d != "draining" {
		t.Errorf("description %v", d)
	}

	p2 := dialRaw(t, addr)
	p2.connect()
	if err := <-results; err == nil {
		t.Fatal("RequestReconnect succeeded for a client without capsEx Reconnect")
	}
}
