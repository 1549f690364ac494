package gso

import (
	"golang.org/x/net/ipv4"
)

// Outbox sends the bursts of many peers together: what each peer's writer
// ends into it during a turn goes out at Flush in one sendmmsg per socket
// (each burst's runs GSO messages, as Send makes them), instead of a
// system call per peer. A frame's end wakes every viewer at once, and a
// writer drains them in turn (fanout.Writers): a turn's thirty-odd bursts
// are then one system call, whose fixed cost (entry and exit, the socket's
// lookup, a softirq round and, on a VM, the IPIs that hand the datagrams
// to other cores) is paid once. Each burst is still counted as the
// Batcher counts its sends. An Outbox is one goroutine's.
type Outbox struct {
	b     *Batcher
	items []outItem
	free  []*Burst
	msgs  []ipv4.Message
	mm    mmsgScratch
}

type outItem struct {
	c *Conn
	b *Burst
}

// Outbox makes an Outbox of b's sockets.
func (b *Batcher) Outbox() *Outbox { return &Outbox{b: b} }

// Take takes burst, from c to burst.To, to send at Flush, and gives back
// an empty Burst for the caller to go on with (the Outbox keeps the
// emptied ones, so a steady state allocates nothing).
func (o *Outbox) Take(c *Conn, burst *Burst) *Burst {
	if burst.Len() == 0 {
		return burst
	}
	o.items = append(o.items, outItem{c, burst})
	if n := len(o.free); n > 0 {
		next := o.free[n-1]
		o.free = o.free[:n-1]
		return next
	}
	return &Burst{}
}

// Pending is how many bursts wait for Flush.
func (o *Outbox) Pending() int { return len(o.items) }

// Flush sends what was taken, each socket's bursts in one sendmmsg (more
// when past the kernel's UIO_MAXIOV messages), in the order taken.
func (o *Outbox) Flush() {
	for i := 0; i < len(o.items); {
		c, k := o.items[i].c, i
		o.msgs = o.msgs[:0]
		for ; k < len(o.items) && o.items[k].c == c && len(o.msgs) < maxBatch; k++ {
			c.prepare(o.items[k].b)
			o.msgs = append(o.msgs, o.items[k].b.msgs...)
		}
		if err := o.send(c, o.items[i:k]); err != nil {
			o.b.SendErrors.Add(1)
		}
		for _, it := range o.items[i:k] {
			o.b.Bursts.Add(1)
			o.b.Datagrams.Add(int64(it.b.Len()))
			it.b.Reset()
			it.b.msgs, it.b.oob = it.b.msgs[:0], it.b.oob[:0]
			o.free = append(o.free, it.b)
		}
		i = k
	}
	clear(o.items)
	o.items = o.items[:0]
	clear(o.msgs) // the bursts' buffers are theirs again
	o.msgs = o.msgs[:0]
}

// maxBatch bounds the messages of one sendmmsg (the kernel takes at most
// UIO_MAXIOV, 1024).
const maxBatch = 1024

// send sends o.msgs, the messages of items in order. A failure at a GSO
// message leaves the rest to each burst's own flushBatch, which sends it
// again without GSO and turns GSO off for the socket.
func (o *Outbox) send(c *Conn, items []outItem) error {
	sent, err := c.write(o.msgs, &o.mm)
	if err != nil && refusedGSO(o.msgs, sent) {
		return o.rest(c, items, sent)
	}
	return err
}

// rest sends the messages from the sent-th on, burst by burst: the
// failed one's flushBatch sends its GSO message again as datagrams and
// turns GSO off for the socket, and the later bursts are made again
// without it.
func (o *Outbox) rest(c *Conn, items []outItem, sent int) error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	at := 0
	for _, it := range items {
		m := len(it.b.msgs)
		switch {
		case at+m <= sent: // gone already
		case at <= sent:
			skip := sent - at
			it.b.msgs, it.b.runs = it.b.msgs[skip:], it.b.runs[skip:]
			keep(c.flushBatch(it.b))
		default:
			c.prepare(it.b)
			keep(c.flushBatch(it.b))
		}
		at += m
	}
	return first
}
