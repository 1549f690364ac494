package rtc

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// fakeSTUN answers Binding requests on loopback as a server outside a NAT
// would, with mapped as the reflexive address.
func fakeSTUN(t *testing.T, mapped net.IP) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var req stun.Message
			if stun.Decode(buf[:n], &req) != nil {
				continue
			}
			res := stun.MustBuild(&req, stun.BindingSuccess, &stun.XORMappedAddress{IP: mapped, Port: 40000}, stun.Fingerprint)
			_, _ = pc.WriteTo(res.Raw, from)
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return pc.LocalAddr().String()
}

func TestDiscoverPublicIP(t *testing.T) {
	server := fakeSTUN(t, net.ParseIP("203.0.113.7"))
	dead, _ := net.ListenPacket("udp4", "127.0.0.1:0") // a server that never answers
	defer dead.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ip, err := DiscoverPublicIP(ctx, []string{"stun:" + dead.LocalAddr().String(), server})
	if err != nil || ip != "203.0.113.7" {
		t.Fatalf("discovered %q, %v; want 203.0.113.7 from the second server", ip, err)
	}
	if _, err := DiscoverPublicIP(ctx, []string{dead.LocalAddr().String()}); err == nil {
		t.Fatal("no error when no server answers")
	}
}
