// Command origin accepts publishers and serves viewers: the root of every
// tree for its streams. With no flags it is the single-machine default
// (embedded NATS, everything on one host). -h lists the settings.
package main

import (
	"os"

	"github.com/relaymesh/relaymesh/cmd/internal/node"
)

func main() {
	os.Exit(node.Main("origin", node.RoleOrigin, os.Args[1:], os.Stdout, os.Stderr))
}
