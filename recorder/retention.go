package recorder

import (
	"os"
	"path/filepath"
	"slices"
	"time"
)

// retain deletes finished recordings past MaxAge, then the oldest finished
// ones while the total is over MaxBytes. A recording being written is
// never deleted, whatever its age or size.
func (r *Recorder) retain() {
	if r.p.MaxAge <= 0 && r.p.MaxBytes <= 0 {
		return
	}
	all := r.List() // newest first
	slices.Reverse(all)
	var total int64
	for _, m := range all {
		total += m.Size
	}
	now := time.Now()
	for _, m := range all {
		if id, live := r.Recording(m.Stream); live && id == m.ID {
			continue
		}
		// Age counts from the last write of the recording (its index), on
		// this machine's clock.
		old := false
		if st, err := os.Stat(filepath.Join(r.p.Dir, m.Stream, m.ID, indexName)); err == nil {
			old = r.p.MaxAge > 0 && now.Sub(st.ModTime()) > r.p.MaxAge
		}
		big := r.p.MaxBytes > 0 && total > r.p.MaxBytes
		if !old && !big {
			continue
		}
		if err := os.RemoveAll(filepath.Join(r.p.Dir, m.Stream, m.ID)); err != nil {
			r.p.Log.Warn("retention: could not delete", "stream", m.Stream, "id", m.ID, "err", err)
			continue
		}
		total -= m.Size
		r.p.Log.Info("retention: deleted", "stream", m.Stream, "id", m.ID, "too_old", old, "size", m.Size)
	}
}
