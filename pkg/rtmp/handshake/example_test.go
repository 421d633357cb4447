package handshake_test

import (
	"fmt"
	"net"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp/handshake"
)

// A server and a client complete the digest handshake over an in-memory
// connection. Real code sets the deadlines on the accepted or dialed
// net.Conn the same way.
func Example() {
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	deadline := time.Now().Add(5 * time.Second)
	_ = c.SetDeadline(deadline)
	_ = s.SetDeadline(deadline)

	done := make(chan handshake.Result, 1)
	go func() {
		res, err := handshake.Server(s, handshake.ServerConfig{})
		if err != nil {
			fmt.Println("server:", err)
		}
		done <- res
	}()
	res, err := handshake.Client(c, handshake.ClientConfig{})
	if err != nil {
		fmt.Println("client:", err)
		return
	}
	srv := <-done
	fmt.Println("client:", res.Mode, res.Schema, res.PeerEchoOK)
	fmt.Println("server:", srv.Mode, srv.Schema, srv.PeerEchoOK)
	// Output:
	// client: digest schema1 true
	// server: digest schema1 true
}
