package rtmp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/amf"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// A server that accepts connections to the "live" application, accepts
// publishes and reads their media.
func ExampleServer() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	srv := &rtmp.Server{
		Logger:      slog.Default(),
		IdleTimeout: 30 * time.Second,
		Handler: func(ctx context.Context, c *rtmp.ServerConn) error {
			req, err := c.ReadConnect()
			if err != nil {
				return err
			}
			if req.App != "live" {
				return c.RejectConnect(rtmp.CodeConnectRejected, "unknown application")
			}
			if err := c.AcceptConnect(nil); err != nil {
				return err
			}
			for {
				m, err := c.ReadMessage()
				if err != nil {
					if errors.Is(err, io.EOF) {
						return nil
					}
					return err
				}
				switch m.Kind {
				case rtmp.KindPublish:
					if m.Publish.Query.Get("key") != "secret" {
						if err := c.RejectPublish(m.Publish, rtmp.CodePublishBadAuth, "bad key"); err != nil {
							return err
						}
						continue
					}
					if err := c.AcceptPublish(m.Publish); err != nil {
						return err
					}
				case rtmp.KindData:
					fmt.Println("metadata:", m.Data.Name, m.Data.Values)
				case rtmp.KindVideo:
					// m.Payload is valid until the next ReadMessage.
					if flv.IsKeyframe(flv.TagVideo, m.Payload) {
						fmt.Println("keyframe at", m.Timestamp)
					}
				case rtmp.KindAudio:
				case rtmp.KindUnpublish:
					fmt.Println("publish ended on stream", m.StreamID)
				}
			}
		},
	}
	if err := srv.ListenAndServe(ctx, ":1935"); err != nil {
		log.Fatal(err)
	}
}

// A publisher: connect, publish, send metadata, sequence headers and
// frames, then close.
func ExampleDial_publish() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := rtmp.Dial(ctx, "rtmp://127.0.0.1/live/stream?key=secret", rtmp.ClientConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close() // FCUnpublish, deleteStream, close
	if err := c.Connect(ctx); err != nil {
		log.Fatal(err)
	}
	if err := c.Publish(ctx, ""); err != nil {
		if errors.Is(err, rtmp.ErrBadName) {
			log.Fatal("the stream is already being published")
		}
		log.Fatal(err)
	}
	if err := c.WriteMetadata(amf.ECMAArray{{Key: "width", Value: 1280.0}, {Key: "height", Value: 720.0}}); err != nil {
		log.Fatal(err)
	}
	var sequenceHeader, keyframe []byte // FLV video tag bodies from an encoder
	if err := c.WriteVideo(0, sequenceHeader); err != nil {
		log.Fatal(err)
	}
	if err := c.WriteVideo(0, keyframe); err != nil {
		log.Fatal(err)
	}
}

// A player: connect, play and read media until the publisher leaves.
func ExampleDial_play() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := rtmp.Dial(ctx, "rtmps://example.com/live/stream", rtmp.ClientConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		log.Fatal(err)
	}
	if err := c.Play(ctx, ""); err != nil {
		log.Fatal(err)
	}
	for {
		m, err := c.ReadMessage()
		if err != nil {
			log.Fatal(err)
		}
		switch m.Kind {
		case rtmp.KindVideo, rtmp.KindAudio:
			fmt.Println(m.Kind, m.Timestamp, len(m.Payload))
		case rtmp.KindStatus:
			if m.Status.Code == rtmp.CodePlayUnpublishNotify || m.Status.Code == rtmp.CodePlayStop {
				return
			}
		}
	}
}
