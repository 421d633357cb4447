// Package e2e tests the whole system as users run it: the edge and
// controller programs started as processes, with their embedded NATS and
// etcd, and ffmpeg as encoder and player. It holds tests only.
package e2e
