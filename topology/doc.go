// Package topology is the cluster's shape: parent selection as a pure
// function of a membership snapshot, and the adapters that feed it —
// membership (memberlist) and control (NATS, in topology/control). It
// imports nothing of ours but internal.
package topology
