package node

import (
	"bytes"
	"strings"
	"testing"
)

// A second origin on one machine with a port the first holds (the default
// RTMP port, say) exits with a sentence naming the address and the flag
// to change; before, New's named result was nil when its deferred Close
// ran, and the node panicked.
func TestStartFailureNamesThePortAndTheFlag(t *testing.T) {
	first, _ := startNode(t, "-rtmp", "127.0.0.1:0", "-rtsp", "127.0.0.1:0", "-rtsp-udp", "")
	cases := []struct {
		flag, addr string
	}{
		{"-rtmp", first.rtmp.Addr().String()},
		{"-rtsp", first.rtsp.Addr().String()},
		{"-http", first.HTTPAddr().String()},
	}
	for _, c := range cases {
		args := []string{"-node-id", "second", "-http", "127.0.0.1:0", "-webrtc-udp", "127.0.0.1:0", "-gossip", "127.0.0.1:0",
			"-rtmp", "", "-rtsp", "", "-rtsp-udp", "", "-log-level", "warn", c.flag, c.addr}
		var stdout, stderr bytes.Buffer
		code := Main("origin", RoleOrigin, args, &stdout, &stderr)
		if code != 1 {
			t.Errorf("%s %s taken: exit %d, want 1\n%s", c.flag, c.addr, code, stderr.String())
		}
		out := stderr.String()
		if !strings.Contains(out, c.addr) || !strings.Contains(out, c.flag) || !strings.Contains(out, "already in use") {
			t.Errorf("%s %s taken: the log does not name the address, the flag and the cause:\n%s", c.flag, c.addr, out)
		}
	}
}

// flagCase is flags that must be refused at start, and a word the
// refusal must name.
type flagCase struct {
	args []string
	want string
}

// refusedAtStart checks that each case's flags make an origin refuse to
// start, naming what was wrong.
func refusedAtStart(t *testing.T, cases []flagCase) {
	t.Helper()
	base := []string{"-node-id", "o", "-http", "127.0.0.1:0", "-webrtc-udp", "127.0.0.1:0", "-gossip", "127.0.0.1:0",
		"-rtmp", "", "-rtsp", "", "-rtsp-udp", "", "-log-level", "warn"}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := Main("origin", RoleOrigin, append(append([]string{}, base...), c.args...), &stdout, &stderr)
		if code == 0 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, want a refusal naming %s:\n%s", c.args, code, c.want, stderr.String())
		}
	}
}

// The NATS cluster flags are checked before anything starts, and an
// embedded cluster listening beyond loopback with no token is refused.
func TestNATSClusterFlagsAreChecked(t *testing.T) {
	refusedAtStart(t, []flagCase{
		{[]string{"-nats-routes", "127.0.0.1:6222"}, "-nats-cluster"},
		{[]string{"-nats-cluster", "127.0.0.1"}, "-nats-cluster"},
		{[]string{"-nats", "nats://127.0.0.1:4222", "-nats-cluster", "127.0.0.1:6222", "-nats-routes", "127.0.0.1:6222"}, "does not run when -nats is set"},
		{[]string{"-nats-cluster", "127.0.0.1:6222", "-nats-routes", "nohost"}, "-nats-routes"},
		{[]string{"-nats-cluster", "0.0.0.0:6222", "-nats-routes", "10.0.0.1:6222"}, "-nats-token"},
	})
}

// The viewer placement flags are checked before anything starts: a
// -public-url must be a base URL viewers can be sent to.
func TestPlacementFlagsAreChecked(t *testing.T) {
	refusedAtStart(t, []flagCase{
		{[]string{"-max-viewers", "-1"}, "-max-viewers"},
		{[]string{"-public-url", "relay-3.example.com"}, "-public-url"},
		{[]string{"-public-url", "ftp://relay-3.example.com"}, "-public-url"},
		{[]string{"-public-url", "https://relay-3.example.com/whep"}, "-public-url"},
	})
}
