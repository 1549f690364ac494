package node

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// collector reads the fanout counters at scrape time, so the packet path
// pays for no metric updates beyond its own atomic counters.
type collector struct {
	n *Node

	publishers, viewers, streams                            *prometheus.Desc
	packetsIn, bytesIn, packetsOut, bytesOut                *prometheus.Desc
	dropped, nacksServed, nacksMissed, nacksRefused, kfSent *prometheus.Desc
	recActive, recBytes, recErrors                          *prometheus.Desc
	bursts, burstDatagrams, egressSessions                  *prometheus.Desc
}

func newMetrics(n *Node) *prometheus.Registry {
	labels := []string{"stream", "track"}
	d := func(name, help string, l []string) *prometheus.Desc {
		return prometheus.NewDesc("relaymesh_"+name, help, l, prometheus.Labels{"node": n.cfg.NodeID})
	}
	c := &collector{n: n,
		publishers:     d("publishers", "WHIP publisher sessions on this node.", nil),
		viewers:        d("viewers", "WHEP viewer sessions on this node.", nil),
		streams:        d("streams", "Streams on this node, live or waiting for their publisher.", nil),
		packetsIn:      d("packets_in_total", "RTP packets received from publishers.", labels),
		bytesIn:        d("bytes_in_total", "RTP payload bytes received from publishers.", labels),
		packetsOut:     d("packets_out_total", "RTP packets sent to subscribers.", labels),
		bytesOut:       d("bytes_out_total", "RTP payload bytes sent to subscribers.", labels),
		dropped:        d("dropped_packets_total", "Packets dropped because a subscriber could not keep up.", labels),
		nacksServed:    d("nacks_served_total", "Retransmissions served from the shared packet cache.", labels),
		nacksMissed:    d("nacks_missed_total", "NACKed packets the cache no longer held.", labels),
		nacksRefused:   d("nacks_refused_total", "NACKed packets not resent: asked again within 100 ms, or past the viewer's retransmission budget.", labels),
		kfSent:         d("keyframe_requests_upstream_total", "Keyframe requests sent to the publisher after coalescing.", labels),
		recActive:      d("recordings_active", "Recordings being written on this node.", nil),
		recBytes:       d("recording_bytes_total", "Bytes of recording segments written.", nil),
		recErrors:      d("recording_errors_total", "Recordings stopped by an error (a full disk, say); the live stream is not affected.", nil),
		bursts:         d("egress_bursts_total", "Bursts of datagrams sent to one viewer in one GSO send or sendmmsg (-gso).", nil),
		burstDatagrams: d("egress_burst_datagrams_total", "Datagrams those bursts carried; divided by the bursts, the mean burst.", nil),
		egressSessions: d("egress_sessions_total", "Viewer sessions, counted as DTLS connects (-gso), whose RTP the node encrypts and sends itself (sender=\"node\") or leaves to pion (sender=\"pion\": the viewer made the node the DTLS client, or was not heard on a UDP socket).", []string{"sender"}),
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	g := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	cnt := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	pubs := 0
	if c.n.whipEP != nil {
		pubs = c.n.whipEP.Sessions()
	}
	g(c.publishers, float64(pubs))
	g(c.viewers, float64(c.n.whepEP.Sessions()))
	if c.n.rec != nil {
		st := c.n.rec.Stats()
		g(c.recActive, float64(st.Active.Load()))
		cnt(c.recBytes, st.Bytes.Load())
		cnt(c.recErrors, st.Errors.Load())
	}
	bursts, datagrams := c.n.engine.BatchStats()
	cnt(c.bursts, uint64(bursts))
	own, pion := c.n.engine.EgressStats()
	cnt(c.egressSessions, uint64(own), "node")
	cnt(c.egressSessions, uint64(pion), "pion")
	cnt(c.burstDatagrams, uint64(datagrams))
	streams := c.n.reg.Streams()
	g(c.streams, float64(len(streams)))
	for _, s := range streams {
		for _, t := range s.Tracks() {
			st, o := t.Stats(), t.Out()
			l := []string{s.Name(), t.ID()}
			cnt(c.packetsIn, st.PacketsIn.Load(), l...)
			cnt(c.bytesIn, st.BytesIn.Load(), l...)
			cnt(c.packetsOut, o.Packets, l...)
			cnt(c.bytesOut, o.Bytes, l...)
			cnt(c.dropped, o.Dropped, l...)
			cnt(c.nacksServed, st.NACKsServed.Load(), l...)
			cnt(c.nacksMissed, st.NACKsMissed.Load(), l...)
			cnt(c.nacksRefused, st.NACKsRefused.Load(), l...)
			cnt(c.kfSent, st.KeyframeRequests.Load(), l...)
		}
	}
}

func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
