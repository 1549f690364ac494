package k8s

import "testing"

// In overlays/redirect every origin and relay answers WHEP POSTs with
// redirects to the node's own address (the kubelet's $(VAR) expansion of
// the node IP), where its HTTP port is mapped; the base, with one Service
// in front of every pod, keeps redirects off and sets no public URL.
func TestRedirectOverlayGivesEachPodItsOwnURL(t *testing.T) {
	for dir, want := range map[string]struct{ redirect, url string }{
		"base":              {"false", ""},
		"overlays/redirect": {"true", "http://" + downward["status.hostIP"] + ":8080"},
	} {
		r := render(t, dir)
		seen := 0
		for _, w := range r.workloads() {
			c := w.pod.Spec.Containers[0]
			if c.Name != "origin" && c.Name != "relay" {
				continue
			}
			seen++
			env := containerEnv(t, r, w, c)
			if env["RELAYMESH_WHEP_REDIRECT"] != want.redirect || env["RELAYMESH_PUBLIC_URL"] != want.url {
				fail(t, dir, w, "WHEP redirect %q to %q, want %q to %q", env["RELAYMESH_WHEP_REDIRECT"], env["RELAYMESH_PUBLIC_URL"], want.redirect, want.url)
			}
			if want.url == "" {
				continue
			}
			mapped := false
			for _, p := range c.Ports {
				mapped = mapped || (p.Name == "http" && p.HostPort == 8080)
			}
			if !mapped {
				fail(t, dir, w, "its public URL is on the node's port 8080, which is not mapped to the pod's http port")
			}
		}
		if seen != 2 {
			t.Fatalf("%s: %d origin and relay workloads, want 2", dir, seen)
		}
	}
}
