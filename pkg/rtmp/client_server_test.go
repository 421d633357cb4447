package rtmp_test

import (
	"errors"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/handshake"
)

func TestPublishPlay(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  rtmp.ClientConfig
	}{
		{"digest", rtmp.ClientConfig{}},
		{"simple", rtmp.ClientConfig{Handshake: handshake.ClientConfig{Simple: true}}},
		{"amf3", rtmp.ClientConfig{AMF3: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, h, _ := startHub(t)
			play := dialPlay(t, "rtmp://"+addr+"/live/cam", tc.cfg)
			pub := dialPublish(t, "rtmp://"+addr+"/live/cam", tc.cfg)
			const n, gop, size = 100, 25, 3000
			go publishFrames(t, pub, 0, n, gop, size)
			got := readPlayer(t, play, n, size)
			for i, v := range got.video {
				if v != i || got.videoTS[i] != uint32(i*40) {
					t.Fatalf("frame %d: index %d ts %d", i, v, got.videoTS[i])
				}
			}
			if got.meta != 1 || got.seqV != 1 || got.seqA != 1 || got.sampleAcces != 1 {
				t.Errorf("meta %d seqV %d seqA %d sampleAccess %d", got.meta, got.seqV, got.seqA, got.sampleAcces)
			}
			h.mu.Lock()
			enc := h.conns[0].ObjectEncoding
			h.mu.Unlock()
			if want := map[bool]float64{true: 3, false: 0}[tc.cfg.AMF3]; enc != want {
				t.Errorf("objectEncoding %v, want %v", enc, want)
			}
			if err := pub.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			for {
				m, err := play.ReadMessage()
				if err != nil {
					t.Fatalf("ReadMessage: %v", err)
				}
				if m.Kind == rtmp.KindStatus && m.Status.Code == rtmp.CodePlayUnpublishNotify {
					break
				}
			}
		})
	}
}

func TestDuplicatePublishBadName(t *testing.T) {
	addr, _, _ := startHub(t)
	dialPublish(t, "rtmp://"+addr+"/live/dup", rtmp.ClientConfig{})
	ctx := testCtx(t)
	c, err := rtmp.Dial(ctx, "rtmp://"+addr+"/live/dup", rtmp.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	err = c.Publish(ctx, "")
	if !errors.Is(err, rtmp.ErrBadName) || !rtmp.IsStatus(err, rtmp.CodePublishBadName) {
		t.Fatalf("Publish = %v, want BadName", err)
	}
	var se *rtmp.StatusError
	if !errors.As(err, &se) || se.Level != rtmp.LevelError || se.Description != "already publishing" {
		t.Fatalf("status error %#v", se)
	}
	if errors.Is(err, rtmp.ErrConnectRejected) {
		t.Fatal("BadName matches ErrConnectRejected")
	}
}

func TestConnectRejected(t *testing.T) {
	addr, _, logs := startHub(t)
	ctx := testCtx(t)
	c, err := rtmp.Dial(ctx, "rtmp://"+addr+"/reject/x", rtmp.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Connect(ctx)
	if !errors.Is(err, rtmp.ErrConnectRejected) {
		t.Fatalf("Connect = %v, want ErrConnectRejected", err)
	}
	var se *rtmp.StatusError
	if !errors.As(err, &se) || se.Description != "application not found" || se.Command != "connect" {
		t.Fatalf("status error %#v", se)
	}
	logs.waitLog(t, 5*1e9, "connection closed", "NetConnection.Connect.Rejected")
}
