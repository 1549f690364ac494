package k8s

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/relaymesh/relaymesh/internal/nodeproc"
)

// downward stands in for what the kubelet fills in from the pod.
var downward = map[string]string{
	"metadata.name": "relaymesh-test-0", "status.hostIP": "10.0.0.7", "status.podIP": "10.1.0.7",
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// containerEnv is the environment the kubelet gives a container: envFrom
// first, then env in order, $(VAR) expanded from what came before.
func containerEnv(t *testing.T, r *rendered, w workload, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.EnvFrom {
		if e.ConfigMapRef != nil {
			for k, v := range r.configMaps[e.ConfigMapRef.Name].Data {
				env[k] = v
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = expand(e.Value, env)
		case e.ValueFrom.FieldRef != nil:
			v, ok := downward[e.ValueFrom.FieldRef.FieldPath]
			if !ok {
				t.Fatalf("%s %s: no test value for field %s", w.kind, w.name, e.ValueFrom.FieldRef.FieldPath)
			}
			env[e.Name] = v
		case e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = string(r.secrets[e.ValueFrom.SecretKeyRef.Name].Data[e.ValueFrom.SecretKeyRef.Key])
		case e.ValueFrom.ConfigMapKeyRef != nil:
			env[e.Name] = r.configMaps[e.ValueFrom.ConfigMapKeyRef.Name].Data[e.ValueFrom.ConfigMapKeyRef.Key]
		}
	}
	return env
}

func expand(s string, env map[string]string) string {
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := env[m[2:len(m)-1]]; ok {
			return v
		}
		return m // Kubernetes leaves unknown references as they are
	})
}

// The configuration each relaymesh container receives (its command, args
// and environment, with the ConfigMaps and Secrets applied) passes the
// real binary's own validation: a manifest cannot start a pod that exits
// on a bad setting.
func TestContainersPassTheBinariesCheckConfig(t *testing.T) {
	bins := t.TempDir()
	origin, relay, err := nodeproc.Build("../..", bins)
	if err != nil {
		t.Fatal(err)
	}
	ingest := filepath.Join(bins, "ingest")
	if out, err := exec.Command("go", "build", "-o", ingest, "../../cmd/ingest").CombinedOutput(); err != nil {
		t.Fatalf("go build ingest: %v %s", err, out)
	}
	binary := map[string]string{"/usr/local/bin/origin": origin, "/usr/local/bin/relay": relay, "/usr/local/bin/ingest": ingest}
	checked := 0
	for _, dir := range overlays {
		r := render(t, dir)
		for _, w := range r.workloads() {
			for _, c := range w.pod.Spec.Containers {
				if c.Name == "nats" {
					continue
				}
				if len(c.Command) == 0 || binary[c.Command[0]] == "" {
					fail(t, dir, w, "container %s runs %v, not a relaymesh binary", c.Name, c.Command)
					continue
				}
				env := containerEnv(t, r, w, c)
				var args []string
				for _, a := range append(c.Command[1:], c.Args...) {
					args = append(args, expand(a, env))
				}
				if out, err := checkConfig(binary[c.Command[0]], args, env); err != nil {
					fail(t, dir, w, "%s -check-config refuses the container's configuration: %v\n%s", filepath.Base(c.Command[0]), err, out)
				}
				checked++
				// The check can fail: the same container with one bad setting.
				env["RELAYMESH_HTTP"] = "no-port"
				if _, err := checkConfig(binary[c.Command[0]], args, env); err == nil {
					fail(t, dir, w, "-check-config accepted -http no-port")
				}
			}
		}
	}
	if checked != 3*len(overlays) {
		t.Fatalf("checked %d containers, want an origin, a relay and an ingest per overlay", checked)
	}
}

func checkConfig(bin string, args []string, env map[string]string) (string, error) {
	cmd := exec.Command(bin, append(args, "-check-config")...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
