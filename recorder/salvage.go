package recorder

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
)

// salvage keeps what a crash left of the segment being written (NAME.part):
// its complete fragments (moof then mdat, ISO 14496-12 §8.8) become NAME,
// the torn one at its end is cut off. A kill -9 then loses only the
// fragment in memory (at most half a segment) and the one being written.
func salvage(fsys FS, dir, part string) {
	path := filepath.Join(dir, part)
	defer func() { _ = os.Remove(path) }()
	name := strings.TrimSuffix(part, partSuffix)
	if !ValidSegment(name) {
		return
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return
	}
	if n := completeFragments(raw); n > 0 {
		_ = writeFileAtomic(fsys, filepath.Join(dir, name), raw[:n])
	}
}

// completeFragments is the length of raw's leading run of whole boxes that
// ends with an mdat.
func completeFragments(raw []byte) int {
	end, at := 0, 0
	for len(raw)-at >= 8 {
		size := uint64(binary.BigEndian.Uint32(raw[at:]))
		typ := string(raw[at+4 : at+8])
		if size == 1 {
			if len(raw)-at < 16 {
				break
			}
			size = binary.BigEndian.Uint64(raw[at+8:])
		}
		if size < 8 || size > uint64(len(raw)-at) {
			break // torn, or size 0 (to the end): not trusted after a crash
		}
		at += int(size)
		if typ == "mdat" {
			end = at
		}
	}
	return end
}
