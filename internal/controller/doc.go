// Package controller is Tributary's control plane: leader election among
// the controller replicas, the reaper of orphaned stream claims, the stream
// lifecycle events on the bus, and the admin HTTP API. docs/api.md
// describes the API and the events for users.
//
// # Leadership
//
// Every replica campaigns in an etcd election on
// "/<prefix>/controller/leader" with a lease of Config.LeaseTTL, its id as
// the value. Exactly one replica leads. It loses the leadership at once
// when its lease is lost or its election key disappears, stops its duties,
// and campaigns again; when Run's context ends it resigns, so that another
// replica leads within moments instead of a TTL.
//
// # Leader duties
//
// The leader follows the edges and stream claims in etcd (pkg/cluster
// Watch). It deletes a claim whose edge is not registered, or is registered
// under another lease, after Config.ReapGrace (cluster.DeleteStream with
// the revision it observed, so a newer claim is never deleted). It
// publishes stream lifecycle events (Event) on the bus subject
// bus.EventSubject(prefix, type): started, taken-over and, when a claim
// has disappeared and no new claim followed within Config.ReconnectGrace,
// stopped.
//
// The leader keeps an events cursor in etcd ("/<prefix>/controller/events":
// the last revision whose events it has published, and the streams waiting
// for their stopped event). A new leader resumes from the cursor, so each
// change is announced once across leader changes: the changes made while
// no replica led are announced late, not lost, and nothing is announced
// again, except the events of the last moments of a leader that died
// without resigning, which may be published twice (an event's type and
// epoch identify the change it announces). When the history since the cursor has been compacted away,
// the new leader starts from the current state and announces nothing for
// the gap.
//
// # Admin API
//
// Handler serves the admin API on every replica, leader or not: reads and
// writes (kick, drain) go to etcd directly, so any replica answers them.
//
// # Concurrency
//
// New starts nothing; Run blocks until its context ends. IsLeader, Leader,
// Ready and Handler are safe for concurrent use, during Run and without it.
// The etcd client and the NATS connection are the caller's.
package controller
