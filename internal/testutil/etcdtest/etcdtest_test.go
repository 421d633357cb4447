package etcdtest_test

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tributary-media/tributary/internal/testutil/etcdtest"
)

func TestStartRestart(t *testing.T) {
	srv := etcdtest.Start(t, etcdtest.Options{})
	eps := srv.Endpoints()
	cli := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/k", "v1"); err != nil {
		t.Fatal(err)
	}
	wch := cli.Watch(ctx, "/k", clientv3.WithRev(1))
	if ev := <-wch; len(ev.Events) != 1 || string(ev.Events[0].Kv.Value) != "v1" {
		t.Fatalf("watch: %+v", ev)
	}

	srv.Restart()
	if got := srv.Endpoints(); got[0] != eps[0] {
		t.Fatalf("endpoints changed from %v to %v", eps, got)
	}
	// The same client reaches the restarted server and finds the data.
	resp, err := cli.Get(ctx, "/k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v1" {
		t.Fatalf("get after restart: %v, %v", resp, err)
	}
	if _, err := cli.Put(ctx, "/k", "v2"); err != nil {
		t.Fatal(err)
	}
	// The watch resumes and delivers the write made after the restart.
	for ev := range wch {
		if err := ev.Err(); err != nil {
			t.Fatalf("watch after restart: %v", err)
		}
		if len(ev.Events) > 0 {
			if got := string(ev.Events[0].Kv.Value); got != "v2" {
				t.Fatalf("watch after restart got %q", got)
			}
			break
		}
	}

	srv.Stop()
	srv.Stop() // idempotent
	short, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	if _, err := cli.Get(short, "/k"); err == nil {
		t.Fatal("get succeeded with the server stopped")
	}
}
