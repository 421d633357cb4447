package controller

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Types of stream lifecycle events: the last token of the event subject.
const (
	// EventStarted: a stream was claimed while it had no owner and none
	// had just left it.
	EventStarted = "started"
	// EventTakenOver: the stream's owner changed (a new claim, with a new
	// epoch) while the stream was live: a takeover replaced the claim, or
	// a new claim followed the previous one within the reconnect grace.
	EventTakenOver = "taken-over"
	// EventStopped: the stream's claim disappeared and no new claim
	// followed within the reconnect grace.
	EventStopped = "stopped"
)

// Event is a stream lifecycle event, the JSON payload published on
// bus.EventSubject(prefix, Type).
type Event struct {
	// Type is EventStarted, EventTakenOver or EventStopped.
	Type string `json:"type"`
	// App and Name are the stream's RTMP application and name.
	App  string `json:"app"`
	Name string `json:"name"`
	// Edge is the owning edge: the new owner, or for stopped the last one.
	Edge string `json:"edge"`
	// Epoch is the claim's epoch: the new claim's, or for stopped the
	// last claim's. With Type it identifies the change.
	Epoch uint64 `json:"epoch"`
	// PreviousEdge and PreviousEpoch are the claim a taken-over replaced;
	// absent from other events.
	PreviousEdge  string `json:"previous_edge,omitempty"`
	PreviousEpoch uint64 `json:"previous_epoch,omitempty"`
	// Time is when the change happened: for started and taken-over the
	// new claim's start as the owner recorded it, for stopped when the
	// leader saw the claim disappear.
	Time time.Time `json:"time"`
}

// marshal encodes the event's payload.
func (e Event) marshal() ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("controller: encode %s event: %w", e.Type, err)
	}
	return b, nil
}

// id returns a message id that is the same for every publication of the
// same change, for consumers (and JetStream) that drop duplicates.
func (e Event) id(prefix string) string {
	return prefix + ":" + e.Type + ":" + strconv.FormatUint(e.Epoch, 10)
}
