package message_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
	"github.com/tributary-media/tributary/pkg/rtmp/message"
)

// split collects the sub-messages of an aggregate (cloned) and the error.
func split(m *chunk.Message) ([]*chunk.Message, error) {
	var subs []*chunk.Message
	err := message.SplitAggregate(m, func(sub *chunk.Message) error {
		subs = append(subs, sub.Clone())
		return nil
	})
	return subs, err
}

// Case 47: an aggregate with three sub-tags is split into three messages
// with rebased timestamps and the aggregate's msid.
func TestCase47Aggregate(t *testing.T) {
	agg := &chunk.Message{CSID: 7, Timestamp: 5000, Type: message.TypeAggregate, StreamID: 1, Payload: aggregateThree}
	subs, err := split(agg)
	if err != nil {
		t.Fatal(err)
	}
	// Sub-tag timestamps 1000, 1010, 1033 rebased to the aggregate's 5000;
	// sub-header stream id 5 replaced by the aggregate's 1.
	want := []*chunk.Message{
		{CSID: 7, Timestamp: 5000, Type: 9, StreamID: 1, Payload: []byte{0x17, 0x01}},
		{CSID: 7, Timestamp: 5010, Type: 8, StreamID: 1, Payload: []byte{0xAF, 0x01, 0x21}},
		{CSID: 7, Timestamp: 5033, Type: 9, StreamID: 1, Payload: []byte{0x27}},
	}
	if len(subs) != len(want) {
		t.Fatalf("%d sub-messages, want %d", len(subs), len(want))
	}
	for i := range want {
		if ok, diff := equivalent(subs[i], want[i]); !ok {
			t.Fatalf("sub-message %d = %+v, want %+v (%s)", i, subs[i], want[i], diff)
		}
	}
	// Each sub-message decodes as its own type.
	for i, s := range subs {
		msg, err := message.Decode(s)
		if err != nil || msg.Type() != want[i].Type {
			t.Fatalf("sub-message %d decodes to %T, %v", i, msg, err)
		}
	}
}

func TestSplitAggregateEdges(t *testing.T) {
	tag := func(typ uint8, ts uint32, data ...byte) []byte {
		b, err := message.AppendAggregateTag(nil, &chunk.Message{Type: typ, Timestamp: ts, StreamID: 1, Payload: data})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	two := cat(tag(9, 100, 1, 2), tag(8, 150, 3))
	cases := []struct {
		name    string
		payload []byte
		ts      uint32
		want    []uint32 // timestamps of the delivered sub-messages
		wantErr bool
	}{
		{"empty", nil, 0, nil, false},
		{"two", two, 10, []uint32{10, 60}, false},
		{"no-trailing-back-pointer", two[:len(two)-4], 10, []uint32{10, 60}, false},
		{"short-trailing-back-pointer", two[:len(two)-2], 10, []uint32{10, 60}, false},
		{"truncated-header", cat(two, []byte{0x09, 0x00, 0x00}), 10, []uint32{10, 60}, true},
		{"truncated-data", cat(two, tag(9, 200, 1, 2, 3, 4)[:13]), 10, []uint32{10, 60}, true},
		{"timestamp-high-byte", cat(tag(9, 0x01000000), tag(9, 0x01000010)), 0, []uint32{0, 0x10}, false},
		{"timestamps-wrap", cat(tag(9, 0xFFFFFFF0), tag(9, 0x10)), 0xFFFFFFF0, []uint32{0xFFFFFFF0, 0x10}, false},
		{"backwards-sub-timestamp", cat(tag(9, 100), tag(9, 90)), 1000, []uint32{1000, 990}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			subs, err := split(&chunk.Message{Timestamp: c.ts, Type: 22, StreamID: 3, Payload: c.payload})
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v", err, c.wantErr)
			}
			if err != nil && !errors.Is(err, message.ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if len(subs) != len(c.want) {
				t.Fatalf("%d sub-messages, want %d", len(subs), len(c.want))
			}
			for i, s := range subs {
				if s.Timestamp != c.want[i] || s.StreamID != 3 {
					t.Fatalf("sub-message %d: ts %d msid %d, want ts %d msid 3", i, s.Timestamp, s.StreamID, c.want[i])
				}
			}
		})
	}
	t.Run("callback-error-stops", func(t *testing.T) {
		stop := errors.New("stop")
		calls := 0
		err := message.SplitAggregate(&chunk.Message{Payload: aggregateThree}, func(*chunk.Message) error {
			calls++
			return stop
		})
		if !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("err %v after %d calls, want the callback's error after 1", err, calls)
		}
	})
	t.Run("append-round-trip", func(t *testing.T) {
		var b []byte
		var err error
		for _, s := range []chunk.Message{
			{Type: 9, Timestamp: 1000, StreamID: 5, Payload: []byte{0x17, 0x01}},
			{Type: 8, Timestamp: 1010, StreamID: 5, Payload: []byte{0xAF, 0x01, 0x21}},
			{Type: 9, Timestamp: 1033, StreamID: 5, Payload: []byte{0x27}},
		} {
			if b, err = message.AppendAggregateTag(b, &s); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(b, aggregateThree) {
			t.Fatalf("AppendAggregateTag built\n% x\nwant\n% x", b, aggregateThree)
		}
		if _, err := message.AppendAggregateTag(nil, &chunk.Message{Payload: make([]byte, 1<<24)}); err == nil {
			t.Fatal("16 MiB sub-message accepted")
		}
	})
}
