package main

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"

	"github.com/tributary-media/tributary/internal/fanout"
	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
	"github.com/tributary-media/tributary/pkg/rtmp/message"
)

// app is the server's rtmp.Handler: it connects RTMP connections to the hub.
type app struct {
	hub *fanout.Hub
	log *slog.Logger
}

// client is the state of one connection: the message streams it
// publishes and plays.
type client struct {
	app  *app
	conn *rtmp.ServerConn
	log  *slog.Logger
	pubs map[uint32]*publication
	// plays and the players' goroutines belong to the handler goroutine;
	// wg tracks the goroutines.
	plays map[uint32]*fanout.Player
	wg    sync.WaitGroup

	mu      sync.Mutex
	tooSlow bool // a player of this connection was disconnected for lagging
}

// publication is a stream published by a client.
type publication struct {
	key string
	pub *fanout.Publisher
}

// serve is the rtmp.Handler of the server: one call per connection.
func (a *app) serve(ctx context.Context, c *rtmp.ServerConn) error {
	// ReadMessage does not watch ctx: on shutdown, closing the connection
	// ends it.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	req, err := c.ReadConnect()
	if err != nil {
		return err
	}
	hs := c.HandshakeResult()
	log := a.log.With("remote", remoteString(c), "app", req.App, "handshake", hs.Mode.String())
	log.Info("client connected", "flash_ver", req.FlashVer, "tc_url", req.TCURL,
		"peer_version", hs.PeerVersion, "enhanced", req.Enhanced, "fourcc_list", req.FourCCList)
	if req.App == "" {
		log.Info("connect rejected", "reason", "empty application name")
		return c.RejectConnect(rtmp.CodeConnectRejected, "An application name is required.")
	}
	if err := c.AcceptConnect(nil); err != nil {
		return err
	}
	s := &client{app: a, conn: c, log: log, pubs: make(map[uint32]*publication), plays: make(map[uint32]*fanout.Player)}
	defer s.end()
	for {
		m, err := c.ReadMessage()
		if err != nil {
			s.mu.Lock()
			slow := s.tooSlow
			s.mu.Unlock()
			if slow {
				return fanout.ErrPlayerTooSlow
			}
			return err
		}
		if err := s.handle(ctx, m, req.App); err != nil {
			return err
		}
	}
}

// handle acts on one message of the connection.
func (s *client) handle(ctx context.Context, m *rtmp.Message, appName string) error {
	switch m.Kind {
	case rtmp.KindPublish:
		req := m.Publish
		key := appName + "/" + req.Name
		if req.Name == "" {
			return s.conn.RejectPublish(req, rtmp.CodePublishBadName, "A stream name is required.")
		}
		pub, err := s.app.hub.Publish(key)
		if err != nil {
			s.log.Info("publish rejected", "stream", key, "reason", err)
			return s.conn.RejectPublish(req, rtmp.CodePublishBadName, "Stream "+req.Name+" is already being published.")
		}
		if err := s.conn.AcceptPublish(req); err != nil {
			pub.Close()
			return err
		}
		s.pubs[req.StreamID] = &publication{key: key, pub: pub}
		s.log.Info("publish started", "stream", key, "msid", req.StreamID, "type", req.Type)

	case rtmp.KindAudio, rtmp.KindVideo, rtmp.KindData:
		p := s.pubs[m.StreamID]
		if p == nil {
			return nil
		}
		typ, isMeta := flv.TagAudio, false
		switch m.Kind {
		case rtmp.KindVideo:
			typ = flv.TagVideo
		case rtmp.KindData:
			typ = flv.TagScript
			isMeta = m.Data.Name == message.DataOnMetaData
		}
		// The publication may have ended by a concurrent path; frames
		// after that are dropped.
		_ = p.pub.Write(fanout.NewFrame(typ, m.Timestamp, slices.Clone(m.Payload), isMeta))

	case rtmp.KindUnpublish:
		s.unpublish(m.StreamID, "unpublished")

	case rtmp.KindPlay:
		req := m.Play
		key := appName + "/" + req.Name
		if req.Name == "" {
			return s.conn.RejectPlay(req, rtmp.CodePlayStreamNotFound, "A stream name is required.")
		}
		if old := s.plays[req.StreamID]; old != nil {
			old.Leave()
			delete(s.plays, req.StreamID)
		}
		if err := s.conn.AcceptPlay(req); err != nil {
			return err
		}
		pl := s.app.hub.Play(key, &connSink{s: s, streamID: req.StreamID})
		s.plays[req.StreamID] = pl
		log := s.log.With("stream", key, "msid", req.StreamID)
		log.Info("play started")
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			err := pl.Run(ctx)
			st := pl.Stats()
			attrs := []any{"sent", st.Sent, "dropped", st.Dropped, "drops", st.Drops}
			switch {
			case errors.Is(err, fanout.ErrPlayerTooSlow):
				log.Warn("play ended", append(attrs, "reason", err.Error())...)
			case errors.Is(err, fanout.ErrPlayerLeft), errors.Is(err, context.Canceled):
				log.Info("play ended", attrs...)
			default:
				log.Info("play ended", append(attrs, "reason", err.Error())...)
			}
		}()

	case rtmp.KindCloseStream:
		if pl := s.plays[m.StreamID]; pl != nil {
			pl.Leave()
			delete(s.plays, m.StreamID)
		}
		s.unpublish(m.StreamID, "stream closed")
	}
	return nil
}

// unpublish ends the publication on message stream id, if any.
func (s *client) unpublish(id uint32, why string) {
	p := s.pubs[id]
	if p == nil {
		return
	}
	p.pub.Close()
	delete(s.pubs, id)
	s.log.Info("publish ended", "stream", p.key, "reason", why, "frames", p.pub.Frames())
}

// end releases what the client holds when its connection ends: its
// publications end (their players get NetStream.Play.UnpublishNotify),
// its players leave, and their goroutines are waited for.
func (s *client) end() {
	for id := range s.pubs {
		s.unpublish(id, "connection closed")
	}
	for id, pl := range s.plays {
		pl.Leave()
		delete(s.plays, id)
	}
	// A player goroutine may be blocked writing to a stuck peer: closing
	// the connection makes the write return.
	s.conn.Close()
	s.wg.Wait()
}

// connSink writes a player's queue to its connection.
type connSink struct {
	s        *client
	streamID uint32
}

// WriteFrame writes f into the connection's buffer; Flush sends what
// was buffered (the hub writes everything queued, then flushes once).
func (k *connSink) WriteFrame(f *fanout.Frame) error {
	k.s.conn.Cork()
	switch f.Type {
	case flv.TagAudio:
		return k.s.conn.WriteAudio(k.streamID, f.Timestamp, f.Payload)
	case flv.TagVideo:
		return k.s.conn.WriteVideo(k.streamID, f.Timestamp, f.Payload)
	default:
		return k.s.conn.WriteData(k.streamID, f.Timestamp, f.Payload)
	}
}

func (k *connSink) Flush() error { return k.s.conn.Uncork() }

func (k *connSink) Notify(ev fanout.Event) error {
	switch ev {
	case fanout.EventUnpublished:
		if err := k.s.conn.SendStatus(k.streamID, rtmp.LevelStatus, rtmp.CodePlayUnpublishNotify, "The stream is no longer published."); err != nil {
			return err
		}
		return k.s.conn.SendStreamEOF(k.streamID)
	case fanout.EventPublished:
		if err := k.s.conn.SendStreamBegin(k.streamID); err != nil {
			return err
		}
		return k.s.conn.SendStatus(k.streamID, rtmp.LevelStatus, rtmp.CodePlayPublishNotify, "The stream is published.")
	}
	return nil
}

// close is how the hub disconnects a lagging player: the whole connection
// is closed, which also ends a write blocked on the peer.
func (k *connSink) Close() {
	k.s.mu.Lock()
	k.s.tooSlow = true
	k.s.mu.Unlock()
	k.s.conn.Close()
}

// remoteString returns the peer address of c for logs.
func remoteString(c *rtmp.ServerConn) string {
	if a := c.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}
