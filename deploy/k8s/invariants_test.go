package k8s

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Every container has probes, requests and limits, runs as non-root on a
// read-only root file system with no added capability; relaymesh pods ask
// Prometheus to scrape them and give a drain time to SIGTERM.
func TestContainersAreHardenedAndProbed(t *testing.T) {
	for _, dir := range overlays {
		r := render(t, dir)
		for _, w := range r.workloads() {
			spec := w.pod.Spec
			podNonRoot := spec.SecurityContext != nil && spec.SecurityContext.RunAsNonRoot != nil && *spec.SecurityContext.RunAsNonRoot
			for _, c := range spec.Containers {
				if c.ReadinessProbe == nil || c.LivenessProbe == nil {
					fail(t, dir, w, "container %s lacks a readiness or liveness probe", c.Name)
				}
				for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
					if _, ok := c.Resources.Requests[res]; !ok {
						fail(t, dir, w, "container %s requests no %s", c.Name, res)
					}
					if _, ok := c.Resources.Limits[res]; !ok {
						fail(t, dir, w, "container %s has no %s limit", c.Name, res)
					}
				}
				sc := c.SecurityContext
				nonRoot := podNonRoot || (sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot)
				if !nonRoot || sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
					sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
					sc.Capabilities == nil || len(sc.Capabilities.Add) > 0 || !slices.Contains(sc.Capabilities.Drop, "ALL") {
					fail(t, dir, w, "container %s is not non-root, read-only, without privilege escalation and with every capability dropped", c.Name)
				}
			}
			if w.pod.Labels["app.kubernetes.io/name"] == "relaymesh" {
				a := w.pod.Annotations
				if a["prometheus.io/scrape"] != "true" || a["prometheus.io/path"] != "/metrics" || a["prometheus.io/port"] != strconv.Itoa(adminPort) {
					fail(t, dir, w, "no Prometheus scrape annotations: %v", a)
				}
				if g := spec.TerminationGracePeriodSeconds; g == nil || *g < 50 {
					fail(t, dir, w, "terminationGracePeriodSeconds %v leaves no time to drain (-drain-timeout 45s)", g)
				}
				if p := spec.Containers[0].ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
					fail(t, dir, w, "readiness is not /readyz")
				}
				if p := spec.Containers[0].LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
					fail(t, dir, w, "liveness is not /healthz")
				}
			}
		}
	}
}

// Every ConfigMap and Secret a pod refers to exists in the same render.
func TestReferencedConfigExists(t *testing.T) {
	for _, dir := range overlays {
		r := render(t, dir)
		for _, w := range r.workloads() {
			need := func(kind, name string) {
				_, cm := r.configMaps[name]
				_, sec := r.secrets[name]
				if (kind == "ConfigMap" && !cm) || (kind == "Secret" && !sec) {
					fail(t, dir, w, "refers to %s %q, which the render does not hold", kind, name)
				}
			}
			for _, v := range w.pod.Spec.Volumes {
				if v.ConfigMap != nil {
					need("ConfigMap", v.ConfigMap.Name)
				}
				if v.Secret != nil {
					need("Secret", v.Secret.SecretName)
				}
			}
			for _, c := range w.pod.Spec.Containers {
				for _, e := range c.EnvFrom {
					if e.ConfigMapRef != nil {
						need("ConfigMap", e.ConfigMapRef.Name)
					}
					if e.SecretRef != nil {
						need("Secret", e.SecretRef.Name)
					}
				}
				for _, e := range c.Env {
					if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
						need("ConfigMap", e.ValueFrom.ConfigMapKeyRef.Name)
					}
					if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
						need("Secret", e.ValueFrom.SecretKeyRef.Name)
						if _, ok := r.secrets[e.ValueFrom.SecretKeyRef.Name].Data[e.ValueFrom.SecretKeyRef.Key]; !ok {
							fail(t, dir, w, "secret %s has no key %s", e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
						}
					}
				}
			}
		}
	}
}

func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// Selectors match labels: each workload's own pods, each Service's and
// PDB's at least one workload, each Service port a named port of those
// pods, each HPA an existing Deployment; NATS and gossip are fenced off.
func TestSelectorsAndPortsLineUp(t *testing.T) {
	for _, dir := range overlays {
		r := render(t, dir)
		ws := r.workloads()
		for _, w := range ws {
			if !matches(w.selector, w.pod.Labels) {
				fail(t, dir, w, "selector %v does not match its pod labels %v", w.selector, w.pod.Labels)
			}
		}
		for _, s := range r.services {
			var pods []workload
			for _, w := range ws {
				if matches(s.Spec.Selector, w.pod.Labels) {
					pods = append(pods, w)
				}
			}
			if len(pods) == 0 {
				t.Errorf("%s: Service %s selects no pods (%v)", dir, s.Name, s.Spec.Selector)
			}
			for _, p := range s.Spec.Ports {
				for _, w := range pods {
					if !hasPort(w.pod.Spec.Containers, p.TargetPort, p.Protocol) {
						t.Errorf("%s: Service %s port %s targets %s/%s, which %s %s does not open", dir, s.Name, p.Name, p.TargetPort.String(), p.Protocol, w.kind, w.name)
					}
				}
			}
		}
		for _, p := range r.pdbs {
			found := false
			for _, w := range ws {
				found = found || matches(p.Spec.Selector.MatchLabels, w.pod.Labels)
			}
			if !found {
				t.Errorf("%s: PodDisruptionBudget %s selects no pods", dir, p.Name)
			}
		}
		for _, h := range r.hpas {
			found := false
			for _, d := range r.deployments {
				found = found || (h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == d.Name)
			}
			if !found {
				t.Errorf("%s: HPA %s scales %s %s, which does not exist", dir, h.Name, h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name)
			}
		}
		fenced := map[int32]bool{}
		for _, np := range r.policies {
			for _, in := range np.Spec.Ingress {
				if len(in.From) == 0 {
					continue
				}
				adminOnly := len(in.Ports) > 0
				for _, p := range in.Ports {
					adminOnly = adminOnly && p.Port.IntVal == adminPort
				}
				for _, f := range in.From {
					relaymesh := f.PodSelector != nil && f.NamespaceSelector == nil && f.PodSelector.MatchLabels["app.kubernetes.io/part-of"] == "relaymesh"
					// The admin port also answers the namespace's own pods
					// and the monitoring namespace (Prometheus), nothing else.
					namespace := f.PodSelector != nil && f.NamespaceSelector == nil && len(f.PodSelector.MatchLabels) == 0
					monitoring := f.PodSelector == nil && f.NamespaceSelector != nil && f.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "monitoring"
					if !relaymesh && !(adminOnly && (namespace || monitoring)) {
						t.Errorf("%s: NetworkPolicy %s lets in more than relaymesh pods (or, to the admin port, the namespace and monitoring)", dir, np.Name)
					}
				}
				for _, p := range in.Ports {
					fenced[p.Port.IntVal] = true
				}
			}
		}
		for _, port := range []int32{4222, 6222, 7946, adminPort} {
			if !fenced[port] {
				t.Errorf("%s: port %d is not limited to relaymesh pods by a NetworkPolicy", dir, port)
			}
		}
	}
}

// adminPort is -admin-http's port in the manifests: admin actions,
// /metrics and pprof.
const adminPort = 9090

func hasPort(cs []corev1.Container, target intstr.IntOrString, proto corev1.Protocol) bool {
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	for _, c := range cs {
		for _, p := range c.Ports {
			pp := p.Protocol
			if pp == "" {
				pp = corev1.ProtocolTCP
			}
			if pp == proto && ((target.Type == intstr.String && p.Name == target.StrVal) || (target.Type == intstr.Int && p.ContainerPort == target.IntVal)) {
				return true
			}
		}
	}
	return false
}

// portFlags names, for each container port of a relaymesh node, the
// setting that opens it.
var portFlags = map[string]string{
	"http": "RELAYMESH_HTTP", "webrtc-udp": "RELAYMESH_WEBRTC_UDP", "webrtc-tcp": "RELAYMESH_WEBRTC_TCP",
	"gossip-tcp": "RELAYMESH_GOSSIP", "gossip-udp": "RELAYMESH_GOSSIP",
	"rtmp": "RELAYMESH_RTMP", "rtsp": "RELAYMESH_RTSP", "rtsp-rtp": "RELAYMESH_RTSP_UDP", "rtsp-rtcp": "RELAYMESH_RTSP_UDP",
	"admin": "RELAYMESH_ADMIN_HTTP",
}

// Every port a container declares is one its configuration opens: the
// relaymesh flags for the nodes, nats.conf for NATS.
func TestDeclaredPortsAreOpened(t *testing.T) {
	for _, dir := range overlays {
		r := render(t, dir)
		for _, w := range r.workloads() {
			for _, c := range w.pod.Spec.Containers {
				if c.Name == "nats" {
					var conf string
					for _, cm := range r.configMaps {
						conf += cm.Data["nats.conf"]
					}
					for _, p := range c.Ports {
						if !strings.Contains(conf, "port: "+itoa(p.ContainerPort)) && !strings.Contains(conf, "http_port: "+itoa(p.ContainerPort)) {
							fail(t, dir, w, "NATS port %d is not in nats.conf", p.ContainerPort)
						}
					}
					continue
				}
				env := containerEnv(t, r, w, c)
				for _, p := range c.Ports {
					flag, ok := portFlags[p.Name]
					if !ok {
						fail(t, dir, w, "port %s has no flag that opens it", p.Name)
						continue
					}
					want := p.ContainerPort
					if p.Name == "rtsp-rtcp" {
						want-- // RTCP is on the port after RTP's
					}
					if v := env[flag]; !strings.HasSuffix(v, ":"+itoa(want)) {
						fail(t, dir, w, "port %s is %d but %s is %q", p.Name, p.ContainerPort, flag, v)
					}
					if p.HostPort != 0 && p.HostPort != p.ContainerPort {
						fail(t, dir, w, "port %s maps host %d to %d: ICE would advertise the wrong port", p.Name, p.HostPort, p.ContainerPort)
					}
				}
			}
		}
	}
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
