package vod

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine a recorder starts (the loop, each session and its
// writer) is waited for by Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
