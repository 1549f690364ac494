// Command relay serves viewers of streams published on origins elsewhere in
// the cluster: the first WHEP viewer of a stream makes it pull the stream
// from the stream's origin (found in the cluster's stream directory over
// NATS); with no viewers left it leaves after -idle-timeout. -h lists the
// settings.
package main

import (
	"os"

	"github.com/relaymesh/relaymesh/cmd/internal/node"
)

func main() {
	os.Exit(node.Main("relay", node.RoleRelay, os.Args[1:], os.Stdout, os.Stderr))
}
