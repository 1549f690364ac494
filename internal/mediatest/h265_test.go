package mediatest

import "testing"

// libx265's output splits into one access unit a frame, the first of
// each second a random access picture with its parameter sets.
func TestH265AccessUnits(t *testing.T) {
	path, err := H265(Small)
	if err != nil {
		t.Fatal(err)
	}
	aus, err := H265AccessUnits(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := Small.FPS * Small.Seconds; len(aus) != want {
		t.Fatalf("%d access units, want %d", len(aus), want)
	}
	for i, au := range aus {
		// Annex B: 00 00 00 01, then the first NAL unit's header.
		first := au[4] >> 1 & 0x3f
		if key := i%Small.FPS == 0; key != (first == 32) {
			t.Fatalf("access unit %d starts with NAL type %d", i, first)
		}
	}
}
