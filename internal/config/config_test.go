package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

func newSet() (*flag.FlagSet, *string, *int, *string) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("config", "", "")
	a := fs.String("http", ":8080", "")
	b := fs.Int("max-children", 8, "")
	c := fs.String("public-ip", "", "")
	return fs, a, b, c
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestPrecedenceFlagsEnvFileDefaults(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(file, []byte("http: \":9000\"\nmax-children: 4\npublic-ip: [1.2.3.4, 5.6.7.8]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs, httpAddr, kids, ips := newSet()
	err := Load(fs, []string{"-config", file, "-http", ":7000"}, env(map[string]string{"RELAYMESH_MAX_CHILDREN": "16"}))
	if err != nil {
		t.Fatal(err)
	}
	if *httpAddr != ":7000" || *kids != 16 || *ips != "1.2.3.4,5.6.7.8" {
		t.Fatalf("http=%s max-children=%d public-ip=%s", *httpAddr, *kids, *ips)
	}

	fs, httpAddr, kids, _ = newSet()
	if err := Load(fs, nil, env(map[string]string{"RELAYMESH_CONFIG": file})); err != nil {
		t.Fatal(err)
	}
	if *httpAddr != ":9000" || *kids != 4 {
		t.Fatalf("from file via env: http=%s max-children=%d", *httpAddr, *kids)
	}
}

func TestUnknownKeysAndBadValuesFail(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	_ = os.WriteFile(file, []byte("htp: \":9000\"\n"), 0o600)
	fs, _, _, _ := newSet()
	if err := Load(fs, []string{"-config", file}, env(nil)); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("misspelled key: %v", err)
	}
	fs, _, _, _ = newSet()
	if err := Load(fs, nil, env(map[string]string{"RELAYMESH_MAX_CHILDREN": "many"})); err == nil {
		t.Fatal("non-numeric env value accepted")
	}
	fs, _, _, _ = newSet()
	if err := Load(fs, []string{"stray"}, env(nil)); err == nil {
		t.Fatal("stray argument accepted")
	}
}
