package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/relaymesh/relaymesh/internal/mediatest"
	"github.com/relaymesh/relaymesh/internal/nodeproc"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// failoverSetup is what the failover modes share: a folder for the nodes'
// logs (remove it when done) and the small test stream's H.264 access
// units, which a pion publisher plays with a keyframe a second.
func failoverSetup(name string) (logs string, aus [][]byte, err error) {
	if logs, err = os.MkdirTemp("", "relaymesh-"+name); err != nil {
		return "", nil, err
	}
	h264, _, err := mediatest.Files(mediatest.Small)
	if err == nil {
		aus, err = whipclient.AccessUnits(h264)
	}
	if err != nil {
		os.RemoveAll(logs)
		return "", nil, err
	}
	return logs, aus, nil
}

// fleet is one round's node processes, logging into logs with the flags
// every one of them takes; close kills those still running.
type fleet struct {
	ctx   context.Context
	logs  string
	args  []string
	procs []*nodeproc.Proc
}

func (f *fleet) start(bin, name string, o nodeproc.Options) (*nodeproc.Proc, error) {
	o.LogDir = f.logs
	o.Args = append(o.Args, f.args...)
	p, err := nodeproc.Start(f.ctx, bin, name, o)
	if err == nil {
		f.procs = append(f.procs, p)
	}
	return p, err
}

func (f *fleet) close() {
	for _, p := range f.procs {
		p.Kill()
	}
}

// origins are clustered origins as a user runs them: each with its NATS
// server exposed and clustered (-nats-cluster), routes found by gossip, so
// the control plane is theirs and survives any one of them. Their gossip
// and cluster addresses are fixed, so that one restarted rejoins.
type origins struct {
	f               *fleet
	bin             string
	extra           []string
	gossip, cluster map[string]string
}

func (f *fleet) origins(bin string, extra []string, names ...string) (*origins, error) {
	o := &origins{f: f, bin: bin, extra: extra, gossip: map[string]string{}, cluster: map[string]string{}}
	for _, n := range names {
		g, err := nodeproc.FreePort()
		if err != nil {
			return nil, err
		}
		c, err := nodeproc.FreePort()
		if err != nil {
			return nil, err
		}
		o.gossip[n], o.cluster[n] = fmt.Sprintf("127.0.0.1:%d", g), fmt.Sprintf("127.0.0.1:%d", c)
	}
	return o, nil
}

// join is -join for every origin.
func (o *origins) join() string {
	var all []string
	for _, g := range o.gossip {
		all = append(all, g)
	}
	sort.Strings(all)
	return strings.Join(all, ",")
}

func (o *origins) start(name string) (*nodeproc.Proc, error) {
	args := append([]string{"-gossip", o.gossip[name], "-join", o.join(), "-nats-cluster", o.cluster[name]}, o.extra...)
	return o.f.start(o.bin, name, nodeproc.Options{ExposeNATS: true, Args: args})
}
