package auth

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"sigs.k8s.io/yaml"
)

// streamKeys are per-stream publish keys read from a YAML file of
// "stream: key" (a Kubernetes Secret mounted as a file), so one leaked key
// exposes one stream. The file is polled: a change is picked up within
// about two seconds, including Kubernetes' symlink swap of a Secret
// volume, which file-change notifications miss. A file that becomes
// unreadable keeps the last keys, with a log line.
type streamKeys struct {
	path string
	log  *slog.Logger

	mu    sync.RWMutex
	keys  map[string]string
	mtime time.Time
	size  int64

	stop chan struct{}
	wg   sync.WaitGroup
}

// keysPoll is how often the key file is checked for changes.
var keysPoll = 2 * time.Second

func newStreamKeys(path string, log *slog.Logger) (*streamKeys, error) {
	k := &streamKeys{path: path, log: log, stop: make(chan struct{})}
	if err := k.load(); err != nil {
		return nil, err
	}
	k.wg.Add(1)
	go k.watch()
	return k, nil
}

func (k *streamKeys) load() error {
	st, err := os.Stat(k.path)
	if err != nil {
		return fmt.Errorf("-stream-keys: %w", err)
	}
	b, err := os.ReadFile(k.path)
	if err != nil {
		return fmt.Errorf("-stream-keys: %w", err)
	}
	var keys map[string]string
	if err := yaml.UnmarshalStrict(b, &keys); err != nil {
		return fmt.Errorf("-stream-keys %s: want lines of \"stream: key\": %w", k.path, err)
	}
	for s, key := range keys {
		if key == "" {
			return fmt.Errorf("-stream-keys %s: stream %q has an empty key", k.path, s)
		}
	}
	k.mu.Lock()
	k.keys, k.mtime, k.size = keys, st.ModTime(), st.Size()
	k.mu.Unlock()
	return nil
}

func (k *streamKeys) watch() {
	defer k.wg.Done()
	t := time.NewTicker(keysPoll)
	defer t.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-t.C:
		}
		st, err := os.Stat(k.path)
		k.mu.RLock()
		same := err == nil && st.ModTime().Equal(k.mtime) && st.Size() == k.size
		k.mu.RUnlock()
		if same {
			continue
		}
		if err := k.load(); err != nil {
			k.log.Error("stream keys not reloaded; the previous keys stay in force", "err", err)
			continue
		}
		k.log.Info("stream keys reloaded", "file", k.path)
	}
}

// allows: ok when key is stream's key, known when it is another stream's.
func (k *streamKeys) allows(stream, key string) (ok, known bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	for s, want := range k.keys {
		if subtle.ConstantTimeCompare([]byte(key), []byte(want)) == 1 {
			if s == stream {
				return true, true
			}
			known = true
		}
	}
	return false, known
}

func (k *streamKeys) close() {
	close(k.stop)
	k.wg.Wait()
}
