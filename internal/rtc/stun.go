package rtc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/pion/stun/v4"
)

// DiscoverPublicIP asks STUN servers (RFC 8489 Binding) for the address
// this host's UDP traffic leaves from, the first that answers winning. A
// node behind 1:1 NAT (a cloud VM, a Kubernetes pod with hostPort or
// hostNetwork) advertises that address as its host candidate, as
// -public-ip would, with its own media port: the mapping keeps ports.
func DiscoverPublicIP(ctx context.Context, servers []string) (string, error) {
	var errs []error
	for _, s := range servers {
		ip, err := bindingRequest(ctx, strings.TrimPrefix(s, "stun:"))
		if err == nil {
			return ip, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", s, err))
	}
	return "", errors.Join(errs...)
}

func bindingRequest(ctx context.Context, server string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp4", server)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	buf := make([]byte, 1500)
	// UDP may lose the request: three tries, 500 ms apart (RFC 8489 §6.2.1
	// retransmits; a LAN-side server answers well within that).
	for try := 0; try < 3; try++ {
		if _, err := conn.Write(req.Raw); err != nil {
			return "", err
		}
		deadline := time.Now().Add(500 * time.Millisecond)
		if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
			deadline = dl
		}
		_ = conn.SetReadDeadline(deadline)
		n, err := conn.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			continue
		}
		var res stun.Message
		if err := stun.Decode(buf[:n], &res); err != nil || res.TransactionID != req.TransactionID {
			continue
		}
		var addr stun.XORMappedAddress
		if err := addr.GetFrom(&res); err != nil {
			return "", fmt.Errorf("the answer has no XOR-MAPPED-ADDRESS: %w", err)
		}
		return addr.IP.String(), nil
	}
	return "", errors.New("no answer")
}
