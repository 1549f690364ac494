package rtmp

import (
	"errors"
	"testing"
)

func TestAVCConfig(t *testing.T) {
	rec := []byte{1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 3, 0x67, 1, 2, 1, 0, 2, 0x68, 3}
	sps, pps, ls, err := avcConfig(rec)
	if err != nil || string(sps) != "\x67\x01\x02" || string(pps) != "\x68\x03" || ls != 4 {
		t.Fatalf("%x %x %d %v", sps, pps, ls, err)
	}
	for _, bad := range [][]byte{nil, {1, 2, 3}, rec[:9], {1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 3, 0x67, 1, 2, 0}} {
		if _, _, _, err := avcConfig(bad); err == nil {
			t.Errorf("%x accepted", bad)
		}
	}
}

func TestHEVCConfig(t *testing.T) {
	rec := make([]byte, 23)
	rec[0], rec[21], rec[22] = 1, 0xf3, 3
	rec = append(rec, 0xa0, 0, 1, 0, 3, 0x40, 1, 0xc, // VPS
		0xa1, 0, 1, 0, 3, 0x42, 1, 1, // SPS
		0xa2, 0, 1, 0, 2, 0x44, 1) // PPS
	vps, sps, pps, ls, err := hevcConfig(rec)
	if err != nil || string(vps) != "\x40\x01\x0c" || string(sps) != "\x42\x01\x01" || string(pps) != "\x44\x01" || ls != 4 {
		t.Fatalf("%x %x %x %d %v", vps, sps, pps, ls, err)
	}
	for _, bad := range [][]byte{nil, rec[:22], rec[:30], rec[:len(rec)-8]} {
		if _, _, _, _, err := hevcConfig(bad); err == nil {
			t.Errorf("%x accepted", bad)
		}
	}
}

func TestParseTags(t *testing.T) {
	v, err := parseVideo([]byte{0x17, 1, 0xff, 0xff, 0xfe, 9})
	if err != nil || !v.keyframe || v.header || v.cts != -2 || len(v.data) != 1 {
		t.Fatalf("%+v %v", v, err)
	}
	if _, err := parseVideo([]byte{0x12, 0}); !errors.Is(err, errNotAVC) {
		t.Fatalf("Sorenson: %v", err)
	}
	if _, err := parseVideo([]byte{0x90, 'v', 'v', 'c', '1'}); !errors.Is(err, errNotAVC) {
		t.Fatalf("Enhanced VVC: %v", err)
	}
	if v, err := parseVideo([]byte{0x91, 'h', 'v', 'c', '1', 0xff, 0xff, 0xfd, 7, 7}); err != nil || v.codec != "hvc1" || !v.keyframe || v.cts != -3 || len(v.data) != 2 {
		t.Fatalf("Enhanced HEVC coded frames: %+v %v", v, err)
	}
	if v, err := parseVideo([]byte{0xa3, 'h', 'v', 'c', '1', 7}); err != nil || v.codec != "hvc1" || v.keyframe || v.cts != 0 || len(v.data) != 1 {
		t.Fatalf("Enhanced HEVC coded frames X: %+v %v", v, err)
	}
	if _, err := parseVideo([]byte{0x91, 'h', 'v', 'c', '1', 0}); err == nil {
		t.Fatal("a truncated HEVC frame was accepted")
	}
	if v, err := parseVideo([]byte{0x91, 'a', 'v', '0', '1', 7, 7}); err != nil || v.codec != "av01" || !v.keyframe || v.header || len(v.data) != 2 {
		t.Fatalf("Enhanced AV1 coded frames: %+v %v", v, err)
	}
	if v, err := parseVideo([]byte{0x90, 'v', 'p', '0', '9', 1}); err != nil || v.codec != "vp09" || !v.header {
		t.Fatalf("Enhanced VP9 sequence start: %+v %v", v, err)
	}
	if a, err := parseAudio([]byte{0x91, 'O', 'p', 'u', 's', 0xfc}); err != nil || !a.opus || a.header || len(a.data) != 1 {
		t.Fatalf("Enhanced Opus: %+v %v", a, err)
	}
	if _, err := parseAudio([]byte{0x91, 'a', 'c', '-', '3', 0}); !errors.Is(err, errNotAAC) {
		t.Fatalf("Enhanced AC-3: %v", err)
	}
	if _, err := parseAudio([]byte{0x2f, 0}); !errors.Is(err, errNotAAC) {
		t.Fatalf("MP3: %v", err)
	}
	if n, err := splitNALUs([]byte{0, 0, 0, 2, 9, 9, 0, 0, 0, 1, 5}, 4); err != nil || len(n) != 2 {
		t.Fatalf("%v %v", n, err)
	}
	if _, err := splitNALUs([]byte{0, 0, 0, 9, 1}, 4); err == nil {
		t.Fatal("an absurd NAL unit length was accepted")
	}
}

// The FLV/AVC and AAC readers never panic, whatever the bytes.
func FuzzFLVTags(f *testing.F) {
	f.Add([]byte{0x17, 0, 0, 0, 0, 1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 3, 0x67, 1, 2, 1, 0, 2, 0x68, 3})
	f.Add([]byte{0x27, 1, 0, 0, 0, 0, 0, 0, 2, 0x41, 1})
	f.Add([]byte{0xaf, 0, 0x12, 0x10})
	f.Add([]byte{0x91, 'h', 'v', 'c', '1', 0, 0, 0, 0, 0, 0, 2, 0x26, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := parseVideo(b); err == nil {
			if v.header {
				_, _, _, _ = avcConfig(v.data)
				_, _, _, _, _ = hevcConfig(v.data)
			} else {
				_, _ = splitNALUs(v.data, 4)
			}
		}
		_, _ = parseAudio(b)
	})
}
