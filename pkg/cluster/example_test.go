package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tributary-media/tributary/internal/embedded"
	"github.com/tributary-media/tributary/pkg/cluster"
)

// Example shows an edge's life in the cluster: a session, a claim, a
// duplicate publisher told who owns the stream, and the release.
func Example() {
	etcd, err := embedded.StartEtcd(embedded.EtcdOptions{Addr: "127.0.0.1:0", Fast: true})
	if err != nil {
		log.Fatal(err)
	}
	defer etcd.Close(context.Background())
	cli, err := clientv3.New(clientv3.Config{Endpoints: etcd.Endpoints(), Logger: zap.NewNop()})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	s, err := cluster.NewSession(ctx, cluster.Config{Client: cli, EdgeID: "edge-a"})
	if err != nil {
		log.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- s.Run(ctx) }()
	defer func() {
		s.Close(ctx) // revokes the lease: every key of the edge goes at once
		<-runDone
	}()

	claim, err := s.Claim(ctx, "live", "cam 1", cluster.ClaimRequest{Remote: "203.0.113.7:50000"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("key:", cluster.StreamKey("", "live", "cam 1"))

	// A second publisher of the same stream learns who owns it.
	_, err = s.Claim(ctx, "live", "cam 1", cluster.ClaimRequest{})
	var claimed *cluster.ClaimedError
	if errors.As(err, &claimed) {
		fmt.Println("owner:", claimed.Owner.Edge, claimed.Owner.Epoch == claim.Epoch())
	}

	// The publisher stops publishing when the claim is lost.
	select {
	case <-claim.Lost():
		fmt.Println("lost:", claim.LostReason())
	default:
		fmt.Println("still the owner")
	}
	if err := claim.Release(ctx); err != nil {
		log.Fatal(err)
	}
	_, found, err := cluster.GetStream(ctx, cli, "", "live", "cam 1")
	fmt.Println("after release:", found, err)
	// Output:
	// key: /tributary/streams/live/cam%201
	// owner: edge-a true
	// still the owner
	// after release: false <nil>
}
