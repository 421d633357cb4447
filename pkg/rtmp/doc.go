// Package rtmp implements RTMP connections on top of the handshake, chunk,
// message, amf and flv packages: the server side (ServerConn, Server) and
// the client side (Dial, ClientConn), over TCP or TLS (RTMPS).
//
// # Server flow
//
// A ServerConn is pull-style; the application drives it and decides:
//
//	c := rtmp.NewServerConn(netConn, cfg)     // or let Server create it
//	req, err := c.ReadConnect()               // handshake + connect request
//	err = c.AcceptConnect(nil)                // or c.RejectConnect(code, description)
//	for {
//		m, err := c.ReadMessage()
//		switch m.Kind {
//		case rtmp.KindPublish:                // c.AcceptPublish(m.Publish) or c.RejectPublish(...)
//		case rtmp.KindPlay:                   // c.AcceptPlay(m.Play), then write media to m.Play.StreamID
//		case rtmp.KindAudio, rtmp.KindVideo:  // m.Payload is an FLV tag body
//		case rtmp.KindData:                   // onMetaData (@setDataFrame removed)
//		case rtmp.KindUnpublish:              // the publisher is done
//		}
//	}
//
// The conn does the protocol housekeeping by itself: on accept it sends
// Window Acknowledgement Size, Set Peer Bandwidth and Set Chunk Size before
// the connect _result (so no message longer than 128 bytes precedes Set
// Chunk Size); it acknowledges received bytes per the client's window,
// answers pings, applies Set Peer Bandwidth, splits aggregate messages and
// answers releaseStream, FCPublish (_result and onFCPublish), createStream,
// FCUnpublish, getStreamLength, _checkbw, pause and unknown calls the way
// real servers do (PROTOCOL.md section 7.2). Clients that send commands
// as AMF3 (type 17) are answered in AMF3. Server adds what needs a network
// connection: handshake, idle and write timeouts, periodic pings,
// a connection limit, graceful shutdown and one log line per closed
// connection with the reason: at Info when the client or the application
// ended it normally (including a client that resets the connection or
// disconnects right after deleteStream), at Warn for timeouts, protocol
// errors and exceeded limits.
//
// Media (audio, video and data messages) is returned only for message
// streams whose publish was accepted. One exception keeps clients that
// ignore the stream id working: while a conn has exactly one accepted
// publish, media that arrives on message stream 0 is returned as that
// stream's, with Message.StreamID set to its id. node-media-server's RTMP
// client does this (it publishes on the stream createStream returned, then
// sends all media on stream 0), and nginx-rtmp and SRS accept it too. With
// no accepted publish, or several, media on stream 0 is dropped.
//
// # Client flow
//
//	c, err := rtmp.Dial(ctx, "rtmp://host/app/stream", rtmp.ClientConfig{})
//	err = c.Connect(ctx)
//	err = c.Publish(ctx, "")                  // then WriteMetadata, WriteVideo, WriteAudio
//	// or: err = c.Play(ctx, ""); then ReadMessage in a loop
//	c.Close()
//
// Errors the server reports with a status are *StatusError values that
// match the Err* sentinels by code (errors.Is(err, rtmp.ErrBadName)).
// A client made by Dial follows Enhanced RTMP reconnect requests unless
// ClientConfig.DisableReconnect is set.
//
// # Buffer ownership
//
// A Message returned by ReadMessage, and its Payload, belong to the conn
// and are valid until the next ReadMessage call: Payload aliases the
// conn's read buffer (no copy is made for media). Use Message.Clone or copy
// what must live longer. Decoded values (Data, Command, requests, Status)
// are never reused by the conn. Payloads passed to Write* methods are only
// read during the call.
//
// # Concurrency
//
// Exactly one goroutine reads a conn at a time (ReadConnect/ReadMessage on
// a server conn, Connect/Play/ReadMessage on a playing client conn; a
// parked handler hands the conn to the goroutine that resumes it). Any goroutine
// may write: writes are serialized inside, each one is flushed before the
// call returns, and the first write error ends the conn and is returned by
// every later write. Housekeeping writes (acknowledgements, ping answers,
// replies) are made from the reading goroutine under the same lock.
// Constructors start no goroutines: Server.Serve runs one goroutine per
// connection (or none while its handler is parked; pings use a timer), and a publishing ClientConn runs one
// reading goroutine from Publish until Close, which waits for it. Close
// may be called from any goroutine, also while another one is blocked in
// ReadMessage: the blocked call returns with an error.
//
// # Parking
//
// A server handler that mostly waits (a player's connection only sends
// acknowledgements and the odd command) can read with ReadOrPark instead
// of ReadMessage: when no input is buffered it returns ErrParked, the
// handler returns that, and its goroutine ends. When the socket is
// readable, the resume function the handler passed runs on a new goroutine;
// it continues the loop and may park again. Thousands of waiting
// connections then hold no handler stack and no input buffer. On Linux a
// parked connection holds no goroutine at all: its socket joins an epoll
// set that one goroutine of the package watches; elsewhere a goroutine
// with a short call chain (a 2 KiB stack) waits for it. Connections that
// are not plain TCP under a Server (RTMPS) never park.
//
//	var loop func() error
//	loop = func() error {
//		for {
//			m, err := c.ReadOrPark(loop)
//			if err != nil {
//				return err // rtmp.ErrParked included
//			}
//			// handle m
//		}
//	}
//	return loop()
//
// ServerConn and ClientConn made over an io.ReadWriter leave deadlines to
// the caller; Server sets them on the connections it accepts, and a
// ClientConn applies the context of Connect, Publish and Play to its
// connection when it supports deadlines (net.Conn).
package rtmp
