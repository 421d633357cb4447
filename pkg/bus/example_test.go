package bus_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/tributary-media/tributary/pkg/bus"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

func ExampleEscapeToken() {
	for _, name := range []string{"live", "my stream.v2", "café", "*", ""} {
		fmt.Printf("%q -> %s\n", name, bus.EscapeToken(name))
	}
	// Output:
	// "live" -> live
	// "my stream.v2" -> my~20stream~2Ev2
	// "café" -> caf~C3~A9
	// "*" -> ~2A
	// "" -> ~
}

func ExampleStreamSubject() {
	fmt.Println(bus.StreamSubject("", "live", "cam 1", bus.KindMedia))
	fmt.Println(bus.StreamSubject("", "live", "cam 1", bus.KindInit))
	fmt.Println(bus.AppWildcard("", "live", bus.KindMedia))
	app, name, kind, _ := bus.ParseStreamSubject("", "tributary.stream.live.cam~201.media")
	fmt.Printf("%q %q %q\n", app, name, kind)
	// Output:
	// tributary.stream.live.cam~201.media
	// tributary.stream.live.cam~201.init
	// tributary.stream.live.*.media
	// "live" "cam 1" "media"
}

// Example_publishAndPlay runs a NATS server in the process, publishes a
// short stream and plays it from the start of its GOP.
func Example_publishAndPlay() {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		log.Fatal(err)
	}
	srv.Start()
	defer srv.Shutdown()
	if !srv.ReadyForConnections(10 * time.Second) {
		log.Fatal("NATS server not ready")
	}
	nc, err := nats.Connect(srv.ClientURL(), bus.ReconnectOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// The edge that owns live/cam publishes with the epoch of its claim.
	pub, err := bus.NewPublisher(nc, bus.PublisherConfig{App: "live", Name: "cam", Epoch: 7})
	if err != nil {
		log.Fatal(err)
	}
	if err := pub.ServeInit(ctx); err != nil {
		log.Fatal(err)
	}
	video := func(ts uint32, body ...byte) {
		if _, err := pub.PublishFrame(flv.TagVideo, ts, body, time.Now()); err != nil {
			log.Fatal(err)
		}
	}
	video(0, 0x17, 0x00, 0, 0, 0, 0x01, 0x64, 0x00, 0x1f) // AVC sequence header
	video(0, 0x17, 0x01, 0, 0, 0, 0x65, 0x88)             // keyframe
	video(40, 0x27, 0x01, 0, 0, 0, 0x41, 0x9a)            // inter frame

	// A player joins: it gets the sequence header and the GOP at once,
	// then the live frames.
	frames := make(chan bus.Frame, 64) // the handler must not block
	sub, err := bus.NewSubscriber(nc, bus.SubscriberConfig{App: "live", Name: "cam", Handler: func(f bus.Frame) {
		select {
		case frames <- f:
		default: // a real player would drop to the next keyframe
		}
	}})
	if err != nil {
		log.Fatal(err)
	}
	if err := sub.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	video(80, 0x27, 0x01, 0, 0, 0, 0x41, 0x9b)
	if err := pub.End(); err != nil {
		log.Fatal(err)
	}

	for f := range frames {
		if f.Event == bus.EventEnd {
			fmt.Printf("seq %d: end of stream\n", f.Seq)
			break
		}
		tag, _ := f.ParseTag()
		fmt.Printf("seq %d: %d bytes at %d ms, init %v, keyframe %v\n", f.Seq, len(f.Tag), tag.Timestamp, f.Init, flv.IsKeyframe(tag.Type, tag.Body))
	}
	// Output:
	// seq 1: 24 bytes at 0 ms, init true, keyframe false
	// seq 2: 22 bytes at 0 ms, init true, keyframe true
	// seq 3: 22 bytes at 40 ms, init true, keyframe false
	// seq 4: 22 bytes at 80 ms, init false, keyframe false
	// seq 5: end of stream
}
