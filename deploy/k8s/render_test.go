// Package k8s holds the Kubernetes manifests' tests: no cluster runs here,
// so they render every overlay with kustomize's Go API, decode every
// object strictly into k8s.io/api's types, check the invariants an
// operator relies on, and run the real binaries' -check-config on the
// configuration each container would receive.
package k8s

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// overlays are the kustomizations an operator applies.
var overlays = []string{"base", "overlays/hostport", "overlays/hostnetwork", "overlays/redirect"}

// rendered is one overlay's objects, decoded.
type rendered struct {
	statefulSets []*appsv1.StatefulSet
	deployments  []*appsv1.Deployment
	services     []*corev1.Service
	configMaps   map[string]*corev1.ConfigMap
	secrets      map[string]*corev1.Secret
	pdbs         []*policyv1.PodDisruptionBudget
	hpas         []*autoscalingv2.HorizontalPodAutoscaler
	policies     []*networkingv1.NetworkPolicy
}

// workload is a pod template with its owner's name and selector.
type workload struct {
	kind, name string
	selector   map[string]string
	pod        *corev1.PodTemplateSpec
}

func (r *rendered) workloads() []workload {
	var out []workload
	for _, s := range r.statefulSets {
		out = append(out, workload{"StatefulSet", s.Name, s.Spec.Selector.MatchLabels, &s.Spec.Template})
	}
	for _, d := range r.deployments {
		out = append(out, workload{"Deployment", d.Name, d.Spec.Selector.MatchLabels, &d.Spec.Template})
	}
	return out
}

// render runs kustomize on an overlay and decodes each object into its
// typed struct, refusing unknown fields: a misspelt key fails here, not
// in the cluster.
func render(t *testing.T, dir string) *rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	r := &rendered{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for _, res := range m.Resources() {
		raw, err := res.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var into any
		switch res.GetKind() {
		case "StatefulSet":
			o := &appsv1.StatefulSet{}
			r.statefulSets, into = append(r.statefulSets, o), o
		case "Deployment":
			o := &appsv1.Deployment{}
			r.deployments, into = append(r.deployments, o), o
		case "Service":
			o := &corev1.Service{}
			r.services, into = append(r.services, o), o
		case "ConfigMap":
			o := &corev1.ConfigMap{}
			r.configMaps[res.GetName()], into = o, o
		case "Secret":
			o := &corev1.Secret{}
			r.secrets[res.GetName()], into = o, o
		case "PodDisruptionBudget":
			o := &policyv1.PodDisruptionBudget{}
			r.pdbs, into = append(r.pdbs, o), o
		case "HorizontalPodAutoscaler":
			o := &autoscalingv2.HorizontalPodAutoscaler{}
			r.hpas, into = append(r.hpas, o), o
		case "NetworkPolicy":
			o := &networkingv1.NetworkPolicy{}
			r.policies, into = append(r.policies, o), o
		default:
			t.Fatalf("%s: %s %s has no typed check; add one", dir, res.GetKind(), res.GetName())
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(into); err != nil {
			t.Fatalf("%s: %s %s does not decode strictly: %v", dir, res.GetKind(), res.GetName(), err)
		}
	}
	return r
}

func TestEveryOverlayRendersAndDecodesStrictly(t *testing.T) {
	for _, dir := range overlays {
		r := render(t, dir)
		if len(r.statefulSets) != 2 || len(r.deployments) != 2 || len(r.hpas) != 1 || len(r.pdbs) != 3 || len(r.policies) != 2 {
			t.Fatalf("%s: %d statefulsets, %d deployments, %d HPAs, %d PDBs, %d network policies", dir,
				len(r.statefulSets), len(r.deployments), len(r.hpas), len(r.pdbs), len(r.policies))
		}
	}
}

func fail(t *testing.T, dir string, w workload, format string, args ...any) {
	t.Helper()
	t.Errorf("%s: %s %s: %s", dir, w.kind, w.name, fmt.Sprintf(format, args...))
}
