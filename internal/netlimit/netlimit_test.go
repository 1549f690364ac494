package netlimit

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// Past Max, connections are closed at once; a closed one frees its place;
// an idle one is ended after Idle.
func TestCapAndIdle(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &CapListener{Listener: raw, Max: 2}
	defer l.Close()
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- &IdleConn{Conn: c, Idle: 200 * time.Millisecond}
		}
	}()
	closed := func(c net.Conn, d time.Duration) bool {
		_ = c.SetReadDeadline(time.Now().Add(d))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		return err != nil && !(errors.As(err, &ne) && ne.Timeout())
	}
	var clients []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	s1, s2 := <-accepted, <-accepted
	if !closed(clients[2], 2*time.Second) {
		t.Fatal("a third connection past Max 2 was kept")
	}
	// The server side reads: the idle deadline ends each after 200 ms.
	for _, s := range []net.Conn{s1, s2} {
		start := time.Now()
		if _, err := s.Read(make([]byte, 1)); err == nil || time.Since(start) > 2*time.Second {
			t.Fatalf("an idle connection read %v after %s", err, time.Since(start))
		}
		_ = s.Close()
	}
	c, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case <-accepted:
	case <-time.After(2 * time.Second):
		t.Fatal("no place was freed by closing")
	}
}

// DescriptorShare follows the process's limit, and never goes below floor.
func TestDescriptorShare(t *testing.T) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	if got, want := DescriptorShare(0.5, 1), int(r.Cur/2); r.Cur <= 1<<30 && got != want {
		t.Fatalf("half of a limit of %d: %d, want %d", r.Cur, got, want)
	}
	if got := DescriptorShare(0, 1024); got != 1024 {
		t.Fatalf("a share of nothing with a floor of 1024: %d", got)
	}
}
