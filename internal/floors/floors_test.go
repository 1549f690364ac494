package floors

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/relaymesh/relaymesh/"

// floorOf is a package's floor, by its most specific prefix in the table
// of doc.go; -1 for a package the table does not place.
func floorOf(pkg string) int {
	floors := []struct {
		prefix string
		floor  int
	}{
		{"cmd/", 5}, {"deploy/", 5},
		{"ingest/gateway", 4}, {"vod", 4},
		{"ingest/whip", 3}, {"ingest/rtmp", 3}, {"ingest/rtsp", 3}, {"ingest/upstream", 3}, {"fanout/whep", 3}, {"recorder", 3},
		{"ingest/transcode", 2}, {"fanout/egress", 2}, {"ingest", 2}, {"topology", 2},
		{"fanout", 1},
		{"internal/", 0},
	}
	for _, f := range floors {
		if pkg == f.prefix || strings.HasPrefix(pkg, strings.TrimSuffix(f.prefix, "/")+"/") {
			return f.floor
		}
	}
	return -1
}

// Every import inside the module points to a lower floor (or, under
// internal/, beside it): none runs back up or sideways, so no package
// becomes a second top floor.
func TestImportsPointDown(t *testing.T) {
	out, err := exec.Command("go", "list", "-tags", "transcode", "-json=ImportPath,Imports", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	seen := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		from := strings.TrimPrefix(p.ImportPath, module)
		ff := floorOf(from)
		if ff < 0 {
			t.Errorf("%s has no floor: add it to doc.go and floorOf", from)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			to := strings.TrimPrefix(imp, module)
			tf := floorOf(to)
			sameHelpers := ff == 0 && tf == 0
			sameTop := ff == 5 && tf == 5
			if tf >= ff && !sameHelpers && !sameTop {
				t.Errorf("%s (floor %d) imports %s (floor %d): imports must point down", from, ff, to, tf)
			}
		}
	}
	if seen < 20 {
		t.Fatalf("go list showed %d packages; the module has more", seen)
	}
}
