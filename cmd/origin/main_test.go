package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

var binary string

// TestMain builds the real binary once: these tests run it as a user would.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "relaymesh-origin-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "origin")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestHelpAndConfigValidation(t *testing.T) {
	out, err := exec.Command(binary, "-h").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "RELAYMESH_WEBRTC_UDP") || !strings.Contains(string(out), "-publish-token") {
		t.Fatalf("-h: %v\n%s", err, out)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	_ = os.WriteFile(good, []byte("http: \"127.0.0.1:9999\"\nzone: eu-west\nlog-format: json\n"), 0o600)
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("webrtc_udp: \":1\"\n"), 0o600)
	cases := []struct {
		args []string
		env  []string
		code int
		says string
	}{
		{[]string{"-check-config", "-config", good}, nil, 0, "valid"},
		{[]string{"-check-config", "-config", bad}, nil, 2, "webrtc_udp"},
		{[]string{"-check-config"}, []string{"RELAYMESH_LOG_FORMAT=xml"}, 2, "-log-format"},
		{[]string{"-check-config", "-public-ip", "not-an-ip"}, nil, 2, "not an IP"},
		{[]string{"-check-config", "-no-such-flag"}, nil, 2, "no-such-flag"},
		{[]string{"-check-config", "-record-max-size", "12Q"}, nil, 2, "-record-max-size"},
		{[]string{"-check-config", "-record-dir", "/tmp/r", "-record-max-size", "20G", "-record-max-age", "720h"}, nil, 0, "valid"},
	}
	for _, c := range cases {
		cmd := exec.Command(binary, c.args...)
		cmd.Env = append(os.Environ(), c.env...)
		out, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() != c.code || !strings.Contains(string(out), c.says) {
			t.Errorf("%v %v: exit %d %q, want %d containing %q", c.args, c.env, cmd.ProcessState.ExitCode(), out, c.code, c.says)
		}
	}
}

// proc is a running origin with the one goroutine that waits for it.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// start runs the origin on loopback and returns its base URL once it is up.
func start(t *testing.T, args ...string) (*proc, string) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"-http", "127.0.0.1:0", "-webrtc-udp", "127.0.0.1:0", "-gossip", "127.0.0.1:0", "-rtsp", "", "-rtmp", "", "-log-level", "warn"}, args...)...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	var base string
	sc := bufio.NewScanner(stdout)
	re := regexp.MustCompile(`web page:\s+(http://\S+)/`)
	for base == "" && sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			base = m[1]
		}
	}
	// Wait reads stdout to the end after the process exits.
	go func() { _, _ = io.Copy(io.Discard, stdout); _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-p.done })
	if base == "" {
		t.Fatal("the origin printed no web page address")
	}
	return p, base
}

func (p *proc) exited(within time.Duration) (int, bool) {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode(), true
	case <-time.After(within):
		return 0, false
	}
}

func TestSignalWithNoSessionsExitsCleanly(t *testing.T) {
	p, base := start(t)
	res, err := http.Get(base + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("/healthz: %v %v", res, err)
	}
	res.Body.Close()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	code, ok := p.exited(10 * time.Second)
	if !ok || code != 0 {
		t.Fatalf("after SIGTERM: exited=%v code=%d, want a clean exit 0", ok, code)
	}
}

// The first signal drains: not ready, new sessions refused with 503, the
// process waits for the open session; the second signal exits at once.
func TestFirstSignalDrainsSecondExits(t *testing.T) {
	p, base := start(t, "-drain-timeout", "60s", "-connect-timeout", "60s")
	pc, _ := webrtc.NewPeerConnection(webrtc.Configuration{})
	defer pc.Close()
	_, _ = pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	offer, _ := pc.CreateOffer(nil)
	gathered := webrtc.GatheringCompletePromise(pc)
	_ = pc.SetLocalDescription(offer)
	<-gathered
	post := func() *http.Response {
		res, err := http.Post(base+"/whip/drain", "application/sdp", strings.NewReader(pc.LocalDescription().SDP))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := post(); res.StatusCode != 201 {
		t.Fatalf("publish: %d", res.StatusCode)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 503 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz still ready after SIGTERM")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if res := post(); res.StatusCode != 503 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("publish while draining: %d (Retry-After %q), want 503 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if _, gone := p.exited(time.Second); gone {
		t.Fatal("exited while a session was still open and the drain timeout far away")
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code, ok := p.exited(5 * time.Second); !ok || code == 0 {
		t.Fatalf("second signal: exited=%v code=%d, want a prompt non-zero exit", ok, code)
	}
}
