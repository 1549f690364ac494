// Package nodeproc runs the real relaymesh binaries as child processes on
// loopback: what the multi-process tests and the load tool use to start a
// cluster, kill -9 one of its nodes and watch the rest heal.
package nodeproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Build compiles the origin and relay commands of the module rooted at
// root into dir and returns their paths.
func Build(root, dir string) (origin, relay string, err error) {
	origin, relay = filepath.Join(dir, "origin"), filepath.Join(dir, "relay")
	for bin, pkg := range map[string]string{origin: "./cmd/origin", relay: "./cmd/relay"} {
		cmd := exec.Command("go", "build", "-tags", Tags(), "-o", bin, pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("go build %s: %v: %s", pkg, err, out)
		}
	}
	return origin, relay, nil
}

// Proc is one node process. Kill ends it and waits for it.
type Proc struct {
	Name   string
	Base   string // http://127.0.0.1:PORT
	Gossip string // 127.0.0.1:PORT, for -join
	UDP    int    // the WebRTC media port on 127.0.0.1
	NATS   string // nats://127.0.0.1:PORT when started with NATS exposed
	PID    int
	Log    string // the process's stdout and stderr

	cmd  *exec.Cmd
	done chan struct{}
}

// Options says how to start a node.
type Options struct {
	// ExposeNATS starts an origin with -nats-listen on a free port.
	ExposeNATS bool
	// Args are more flags.
	Args []string
	// LogDir receives NAME.log (the system temp dir when empty).
	LogDir string
}

// Start runs bin as node name on free loopback ports and returns once its
// /readyz answers 200.
func Start(ctx context.Context, bin, name string, o Options) (*Proc, error) {
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	p := &Proc{Name: name, Base: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), Gossip: fmt.Sprintf("127.0.0.1:%d", ports[2]), UDP: ports[1], done: make(chan struct{})}
	// Load tests open hundreds of sessions a second from one address: no
	// per-client rate limit.
	args := []string{"-node-id", name, "-http", "127.0.0.1:" + strconv.Itoa(ports[0]), "-webrtc-udp", "127.0.0.1:" + strconv.Itoa(ports[1]),
		"-gossip", p.Gossip, "-log-level", "info", "-max-sessions", "5000", "-session-rate", "100000", "-rtsp", "", "-rtmp", ""}
	if o.ExposeNATS {
		args = append(args, "-nats-listen", "127.0.0.1:"+strconv.Itoa(ports[3]))
		p.NATS = fmt.Sprintf("nats://127.0.0.1:%d", ports[3])
	}
	if o.LogDir == "" {
		o.LogDir = os.TempDir()
	}
	p.Log = filepath.Join(o.LogDir, "relaymesh-"+name+".log")
	logf, err := os.Create(p.Log)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	p.cmd = exec.Command(bin, append(args, o.Args...)...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w (run make build first)", bin, err)
	}
	p.PID = p.cmd.Process.Pid
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	if err := p.waitReady(ctx); err != nil {
		p.Kill()
		log, _ := os.ReadFile(p.Log)
		return nil, fmt.Errorf("%s: %w\n%s", name, err, log)
	}
	return p, nil
}

func (p *Proc) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		res, err := http.Get(p.Base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return errors.New("exited before it was ready")
		case <-ctx.Done():
			return errors.New("not ready within 15 s")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Kill ends the process with SIGKILL, as a crash or an OOM kill would: no
// goodbye to the cluster, no DELETE to its parents.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// FreePort is a loopback port free for TCP and UDP, for a listener a test
// or the load tool hands to a child process.
func FreePort() (int, error) {
	ps, err := freePorts(1)
	if err != nil {
		return 0, err
	}
	return ps[0], nil
}

// freePorts finds n ports free for both TCP and UDP on 127.0.0.1 (gossip
// uses the same port number for both). The ports are released before the
// child binds them; on a quiet loopback nothing takes them in between.
func freePorts(n int) ([]int, error) {
	var out []int
	var hold []func() error
	defer func() {
		for _, c := range hold {
			_ = c()
		}
	}()
	for tries := 0; len(out) < n && tries < 100; tries++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			_ = l.Close()
			continue
		}
		hold = append(hold, l.Close, u.Close)
		out = append(out, port)
	}
	if len(out) < n {
		return nil, errors.New("no free loopback ports")
	}
	return out, nil
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Tags are the build tags for binaries under test: "transcode" when the
// test binary itself was built with it (tags_transcode.go), so the
// binaries transcode AAC like the test.
func Tags() string { return buildTags }
