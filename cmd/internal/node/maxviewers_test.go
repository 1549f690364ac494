package node

import (
	"strings"
	"testing"

	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// -max-viewers holds on a node on its own (no cluster to redirect to):
// past it a viewer is told 503 with Retry-After.
func TestMaxViewersOnALoneNode(t *testing.T) {
	_, base := startNode(t, "-max-viewers", "2")
	hc := newHTTPClient(t)
	if _, err := publish(t, hc, base, "cam", whipclient.Options{}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := watch(t, hc, base, "cam"); err != nil {
			t.Fatalf("viewer %d of 2: %v", i, err)
		}
	}
	_, err := watch(t, hc, base, "cam")
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("a third viewer with -max-viewers 2: %v, want 503", err)
	}
}
