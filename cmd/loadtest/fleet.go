package main

import (
	"context"
	"os"

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
	// redirect leaves WHEP redirects on (the -redirect mode measures them).
	redirect bool
}

func (f *fleet) start(bin, name string, o nodeproc.Options) (*nodeproc.Proc, error) {
	o.LogDir = f.logs
	// The failover modes place viewers on chosen relays (depth 1, depth
	// 2): no WHEP redirects.
	o.Args = append(o.Args, f.args...)
	if !f.redirect {
		o.Args = append(o.Args, "-whep-redirect=false")
	}
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
