package rtmp

import "github.com/tributary-media/tributary/pkg/rtmp/message"

// SendStreamBegin sends the StreamBegin user control event for streamID:
// media follows on that stream. AcceptPlay sends it already; a server sends
// it again when a stream a player waits on is published anew.
func (c *ServerConn) SendStreamBegin(streamID uint32) error {
	return c.writeControl(userControl(message.EventStreamBegin, streamID))
}
