package config

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// A flood of one kind of line (the same message shape from one remote)
// is cut to the burst, and the next line let through says how many were
// left out; other kinds are not affected.
func TestLogsOfOneKindAreRateLimited(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(RateLimit(slog.NewTextHandler(&b, nil), 5, 1<<62))
	rtsp := log.With("via", "rtsp")
	for i := 0; i < 1000; i++ {
		rtsp.Warn("rtsp publish refused: bad packet 12"+strings.Repeat("3", i%7), "remote", "192.0.2.1:5000")
	}
	log.Error("another kind of error")
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d lines for 1,000 of one kind and 1 of another, want 5 + 1:\n%s", len(lines), b.String())
	}
	if !strings.Contains(lines[5], "another kind") {
		t.Fatalf("the other kind of line was held back: %q", lines[5])
	}
}
