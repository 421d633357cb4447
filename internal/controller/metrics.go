package controller

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are a Controller's Prometheus metrics. A nil *metrics counts
// nothing.
type metrics struct {
	events *prometheus.CounterVec
	reaped prometheus.Counter
}

// newMetrics registers the metrics of c on reg.
func newMetrics(c *Controller, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_controller_events_published_total",
			Help: "Stream lifecycle events this replica published on the bus while leading, by type.",
		}, []string{"type"}),
		reaped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tributary_controller_claims_reaped_total",
			Help: "Stream claims of edges gone from the registry that this replica deleted while leading.",
		}),
	}
	// Every type is exported from the start, at 0.
	for _, typ := range []string{EventStarted, EventTakenOver, EventStopped} {
		m.events.WithLabelValues(typ)
	}
	cs := []prometheus.Collector{
		m.events,
		m.reaped,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tributary_controller_leader",
			Help: "1 while this replica leads, 0 otherwise.",
		}, func() float64 {
			if c.IsLeader() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tributary_controller_streams",
			Help: "Streams claimed in the cluster as the leader knows them; 0 on a replica that does not lead.",
		}, func() float64 { return float64(c.nStreams.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tributary_controller_edges",
			Help: "Edges registered in the cluster as the leader knows them; 0 on a replica that does not lead.",
		}, func() float64 { return float64(c.nEdges.Load()) }),
	}
	for i, col := range cs {
		if err := reg.Register(col); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("controller: register metrics: %w", err)
		}
	}
	return m, nil
}

// eventPublished counts an event of type typ published.
func (m *metrics) eventPublished(typ string) {
	if m != nil {
		m.events.WithLabelValues(typ).Inc()
	}
}

// claimReaped counts a claim reaped.
func (m *metrics) claimReaped() {
	if m != nil {
		m.reaped.Inc()
	}
}

// report publishes the size of the leader's view of the cluster to the
// streams and edges gauges.
func (st *leaderState) report() {
	st.c.nStreams.Store(int64(len(st.streams)))
	st.c.nEdges.Store(int64(len(st.edges)))
}
