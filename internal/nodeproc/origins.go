package nodeproc

import (
	"fmt"
	"sort"
	"strings"
)

// Origins are clustered origins as a user runs them: each with its NATS
// server exposed and clustered (-nats-cluster), the routes found through
// gossip, so the control plane is theirs and survives any one of them.
// Their gossip and cluster addresses are fixed, so that one restarted
// rejoins.
type Origins struct {
	gossip, cluster map[string]string
}

// NewOrigins picks the addresses of the origins named.
func NewOrigins(names ...string) (*Origins, error) {
	o := &Origins{gossip: map[string]string{}, cluster: map[string]string{}}
	for _, n := range names {
		ports, err := freePorts(2)
		if err != nil {
			return nil, err
		}
		o.gossip[n], o.cluster[n] = fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	}
	return o, nil
}

// Join is -join for every origin, for them and for relays.
func (o *Origins) Join() string {
	var all []string
	for _, g := range o.gossip {
		all = append(all, g)
	}
	sort.Strings(all)
	return strings.Join(all, ",")
}

// Options are the options that start origin name with more flags.
func (o *Origins) Options(name string, extra ...string) Options {
	args := append([]string{"-gossip", o.gossip[name], "-join", o.Join(), "-nats-cluster", o.cluster[name]}, extra...)
	return Options{ExposeNATS: true, Args: args}
}
