package node

import (
	"bytes"
	"strings"
	"testing"
)

// The banner an origin prints names every way in: WHIP, RTMP and RTSP at
// the addresses they listen on, and where to watch.
func TestWelcomeNamesEveryIngest(t *testing.T) {
	n, _ := startNode(t, "-rtsp", "127.0.0.1:0", "-rtsp-udp", "", "-rtmp", "127.0.0.1:0")
	var b bytes.Buffer
	printWelcome(&b, n, RoleOrigin)
	out := b.String()
	for _, want := range []string{
		"http://" + n.HTTPAddr().String() + "/whip/{stream}",
		"rtmp://" + n.rtmp.Addr().String() + "/live",
		"rtsp://" + n.rtsp.Addr().String() + "/{stream}",
		"http://" + n.HTTPAddr().String() + "/whep/{stream}",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the banner does not say %s:\n%s", want, out)
		}
	}
}
