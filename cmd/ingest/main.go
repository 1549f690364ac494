// Command ingest is relaymesh's pull gateway: it pulls a source the mesh
// cannot receive by push (an RTSP camera or server, a file played in a
// loop) and publishes it into
// an origin over WHIP, reconnecting with backoff when either side drops,
// with a progress line (uptime, bitrate, reconnects) on the terminal.
//
//	ingest -source rtsp://camera.local/stream1 -whip http://origin:8080/whip/cam1
//	ingest -source loop.ivf -audio loop.ogg -whip http://origin:8080/whip/channel
//
// Every flag also reads RELAYMESH_<NAME> and the -config YAML file; -h lists
// them.
package main

import (
	"os"

	"github.com/relaymesh/relaymesh/cmd/ingest/app"
)

func main() { os.Exit(app.Main(os.Args[1:], os.Stdout, os.Stderr)) }
