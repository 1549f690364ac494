// Package recorder writes every stream a node carries (or the ones it is
// asked to) as segmented recordings: a fanout subscriber per track feeds a
// reorder buffer, access units are cut into fragmented-MP4 segments of
// about -record-segment at keyframes, and each finished segment is renamed
// into place, so a crash or kill -9 loses at most the open segment. An index
// per recording is rewritten after every segment and rebuilt from the files
// on start, so nothing written is ever unlisted.
//
// Layout: DIR/{stream}/{id}/init.mp4, DIR/{stream}/{id}/NNNNNNNN.m4s and
// DIR/{stream}/{id}/index.json; the id is the UTC start time.
package recorder

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// Meta describes one recording: the index.json of its folder.
type Meta struct {
	Stream    string    `json:"stream"`
	ID        string    `json:"id"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	DurationS float64   `json:"duration_s"`
	Size      int64     `json:"size"`
	Codecs    []string  `json:"codecs"`
	Segments  []Segment `json:"segments"`
	// Live is true while this node is still writing the recording.
	Live bool `json:"live"`
}

// Segment is one finished fragment file of a recording.
type Segment struct {
	Name      string  `json:"name"`
	StartS    float64 `json:"start_s"` // from the start of the recording
	DurationS float64 `json:"duration_s"`
	Size      int64   `json:"size"`
	// NoKeyframe: the segment was cut without one, its publisher not
	// answering keyframe requests (RTMP, RTSP): it plays on from the one
	// before, and a player seeking into it shows pictures from the next
	// keyframe on (HLS then has no EXT-X-INDEPENDENT-SEGMENTS).
	NoKeyframe bool `json:"no_keyframe,omitempty"`
}

// idLayout names a recording by its UTC start time, which sorts.
const idLayout = "20060102T150405Z"

var (
	validID     = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z(-[0-9]{1,4})?$`)
	validStream = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	validSeg    = regexp.MustCompile(`^[0-9]{8}\.m4s$`)
)

// ValidID reports whether id can name a recording. Everything that reaches
// the file system from a URL goes through it or ValidStream, which is what
// keeps "../" out.
func ValidID(id string) bool { return validID.MatchString(id) }

// ValidStream reports whether s can name a stream.
func ValidStream(s string) bool { return validStream.MatchString(s) }

// ValidSegment reports whether name can name a segment file.
func ValidSegment(name string) bool { return validSeg.MatchString(name) }

func segmentName(n int) string { return fmt.Sprintf("%08d.m4s", n) }

// partSuffix marks the segment being written: its complete fragments are
// kept by rebuild() after a crash.
const partSuffix = ".part"

// InitName is the initialization segment of a recording.
const InitName = "init.mp4"

const indexName = "index.json"

// writeIndex replaces dir/index.json atomically (write, sync, rename).
func writeIndex(fsys FS, dir string, m *Meta) error {
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	return writeFileAtomic(fsys, filepath.Join(dir, indexName), b)
}

func readIndex(dir string) (*Meta, error) {
	b, err := os.ReadFile(filepath.Join(dir, indexName))
	if err != nil {
		return nil, err
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// writeFileAtomic writes b to path.tmp, syncs it and renames it over path,
// then syncs the folder, so readers see the old file or the new one, never
// half of one, and the new one survives a power cut.
func writeFileAtomic(fsys FS, path string, b []byte) error {
	f, err := fsys.Create(path + ".tmp")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		_ = fsys.Remove(path + ".tmp")
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		_ = fsys.Remove(path + ".tmp")
		return err
	}
	if err := f.Close(); err != nil {
		_ = fsys.Remove(path + ".tmp")
		return err
	}
	if err := fsys.Rename(path+".tmp", path); err != nil {
		return err
	}
	return fsys.SyncDir(filepath.Dir(path))
}
