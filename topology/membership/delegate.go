package membership

import (
	"bytes"
	"context"
	"log/slog"

	"github.com/hashicorp/memberlist"
)

// delegate gives memberlist this node's metadata and reports membership
// changes. memberlist calls it from its own goroutines (see its Delegate and
// EventDelegate contracts): every method returns quickly.
type delegate struct{ c *Cluster }

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*delegate)(nil)
)

func (d *delegate) NodeMeta(limit int) []byte {
	d.c.mu.Lock()
	defer d.c.mu.Unlock()
	if len(d.c.meta) > limit {
		return nil
	}
	return append([]byte(nil), d.c.meta...)
}

func (d *delegate) NotifyMsg([]byte)                           {}
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

func (d *delegate) NotifyJoin(n *memberlist.Node)   { d.c.seen(n.Name, n.Meta); d.changed() }
func (d *delegate) NotifyUpdate(n *memberlist.Node) { d.c.seen(n.Name, n.Meta); d.changed() }
func (d *delegate) NotifyLeave(n *memberlist.Node)  { d.c.gone(n.Name); d.changed() }

func (d *delegate) changed() {
	if d.c.started.Load() {
		d.c.changes.fire()
	}
}

// slogWriter routes memberlist's log lines ("[DEBUG] memberlist: ...") into
// slog, at the level their prefix names.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	level := slog.LevelDebug
	switch {
	case bytes.Contains(p, []byte("use of closed network connection")):
		// memberlist's own goroutines racing its Shutdown: not a fault.
	case bytes.Contains(p, []byte("[ERR]")):
		level = slog.LevelError
	case bytes.Contains(p, []byte("[WARN]")):
		level = slog.LevelWarn
	case bytes.Contains(p, []byte("[INFO]")):
		level = slog.LevelInfo
	}
	w.l.Log(context.Background(), level, line, "plane", "membership")
	return len(p), nil
}
