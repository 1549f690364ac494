package node

import (
	"context"
	"time"

	"github.com/relaymesh/relaymesh/topology/control"
)

// Backup publishers (?priority=N). The gate keeps each stream's publishers
// on this origin; the directory holds which origin is live (the root of the
// stream's tree) and, for every origin with a publisher of the stream, its
// best priority. The hand-offs between origins are here:
//   - the live publisher ends here and a better backup is on another
//     origin: the name is released at once, and that origin takes it;
//   - this origin has a backup, and the live origin released the name or
//     died (gossip): the best backup origin alive claims it and its backup
//     goes live at its next keyframe;
//   - a publisher of a higher priority than the live one arrives anywhere:
//     its claim takes the name over (ingest.Gate.Publish).
// Relays follow the root (ingest/upstream: a relay whose parent was the old
// root moves, made before it breaks while the old root still serves).

// backupPoll is how often a backup origin looks at the names it backs up:
// with gossip's 0.75 s to notice a death, a backup takes over within 1 s.
const backupPoll = 250 * time.Millisecond

// publishers records this origin's best publisher of stream in the
// directory (or that it has none), for the other origins' backups to read.
func (n *Node) publishers(stream string, best int, ok bool) {
	select {
	case <-n.closing:
		return // the node is going: its records expire with its claims
	default:
	}
	if n.dir == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), directoryWait)
	defer cancel()
	var err error
	if ok {
		err = n.dir.SetPublisher(ctx, stream, best)
	} else {
		err = n.dir.ClearPublisher(ctx, stream)
	}
	if err != nil {
		n.log.Warn("stream directory: publisher record not written; it is refreshed", "stream", stream, "err", err)
	}
}

// handover decides, when the live publisher here has ended, where the
// stream goes on: to the best backup here (true) unless another origin has
// a better one, in which case the name is released now so that origin
// takes it within backupPoll rather than after -reconnect-grace.
func (n *Node) handover(stream string, next int, ok bool) bool {
	if n.dir == nil {
		return ok
	}
	ctx, cancel := context.WithTimeout(context.Background(), directoryWait)
	defer cancel()
	other, found := n.bestElsewhere(ctx, stream)
	if found && (!ok || other.Priority > next) {
		n.log.Info("live publisher gone; handing the stream to a backup on another origin", "stream", stream, "origin", other.Origin, "priority", other.Priority)
		if err := n.dir.Release(ctx, stream); err != nil {
			n.log.Warn("stream directory: release failed; the backup takes over when the claim expires", "stream", stream, "err", err)
		}
		return false
	}
	if !ok {
		return false // nobody to hand over to: the stream waits for its publisher (-reconnect-grace)
	}
	if _, err := n.dir.ClaimAt(ctx, stream, next); err != nil {
		n.log.Warn("stream directory: the claim keeps its old priority", "stream", stream, "err", err)
	}
	n.log.Info("live publisher gone; a backup here takes over", "stream", stream, "priority", next)
	return true
}

// bestElsewhere is the best publisher of stream on another origin that
// gossip has not seen depart.
func (n *Node) bestElsewhere(ctx context.Context, stream string) (control.Publisher, bool) {
	pubs, err := n.dir.Publishers(ctx, stream)
	if err != nil {
		return control.Publisher{}, false
	}
	for _, p := range pubs { // highest priority first
		if p.Origin != n.cfg.NodeID && !n.departed(p.Origin) {
			return p, true
		}
	}
	return control.Publisher{}, false
}

// departed says whether gossip has seen origin leave or die.
func (n *Node) departed(origin string) bool { return n.cluster != nil && n.cluster.Departed(origin) }

// watchBackups takes over, for each stream this origin backs up, when the
// live origin has released the name or died and this origin's backup is
// the best one left.
func (n *Node) watchBackups() {
	defer n.wg.Done()
	t := time.NewTicker(backupPoll)
	defer t.Stop()
	var changed <-chan struct{}
	if n.cluster != nil {
		changed = n.cluster.Changed()
	}
	for {
		select {
		case <-n.closing:
			return
		case <-t.C:
		case <-changed: // an origin died: look now, not at the next tick
			changed = n.cluster.Changed()
		}
		if !n.planeUp() {
			continue
		}
		for _, stream := range n.gate.Streams() {
			if n.dir.Owns(stream) {
				continue
			}
			n.maybeTakeOver(stream)
		}
	}
}

func (n *Node) maybeTakeOver(stream string) {
	mine, ok := n.gate.Best(stream)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), directoryWait)
	defer cancel()
	e, claimed, err := n.dir.Lookup(ctx, stream)
	if err != nil {
		return
	}
	if claimed && e.Origin != n.cfg.NodeID && !n.dir.Gone(e) {
		if mine > e.Priority {
			// A better publisher here than the live one elsewhere (a
			// claim lost to a race): take the name back by priority.
			if live, err := n.dir.ClaimAt(ctx, stream, mine); err == nil && live {
				n.log.Info("taking the stream back: the publisher here has the higher priority", "stream", stream, "priority", mine, "from", e.Origin)
				n.gate.TakeOver(stream)
			}
		}
		return // the live origin is alive: it hands over itself
	}
	if other, found := n.bestElsewhere(ctx, stream); found && (other.Priority > mine || other.Priority == mine && other.Origin < n.cfg.NodeID) {
		return // a better backup elsewhere takes it
	}
	live, err := n.dir.ClaimAt(ctx, stream, mine)
	if err != nil || !live {
		return
	}
	n.log.Info("taking the stream over: its live origin is gone", "stream", stream, "priority", mine, "from", e.Origin)
	n.gate.TakeOver(stream)
}
