package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"golang.org/x/sys/unix"
)

// On loopback a datagram's whole receive path (IP, UDP, the receiving
// socket's queue, waking its reader) runs inside the sender's system call
// and is charged to the sender: the origin pays its viewers' kernel work
// too, which on a real network is done by their machines. -veth measures
// the way a NIC would: the origin runs in a network namespace of its own,
// joined to the tool's by a veth pair, and receive packet steering
// (Documentation/networking/scaling.rst, RPS) hands what arrives on the
// tool's side to the tool's cores. The origin then pays for what it sends
// down to the device, as on a NIC, and for what it receives (its side's
// RPS keeps that on its own core), and not for its viewers' receive path.
// A UDP GSO burst crosses the pair whole (veth offers the feature) and is
// split on the receiving side, as a NIC with UDP segmentation offload
// splits it in hardware.

// benchNet is the namespace and veth pair of one -veth run.
type benchNet struct {
	name  string
	node  net.IP // the origin's address, in the namespace
	local net.IP // the tool's
}

const (
	vethTool = "rmbench0"
	vethNode = "rmbench1"
)

// newBenchNet makes the namespace and the pair, with the tool's side
// steered to the tool's CPUs and the origin's to CPU 0.
func newBenchNet() (*benchNet, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("-veth makes a network namespace and a veth pair: run it as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, errors.New("-veth needs ip (iproute2)")
	}
	// The tool's side is steered to the CPUs the tool runs on, CPU 0
	// (the origin's) aside.
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, err
	}
	var others uint64
	for cpu := 1; cpu < 64; cpu++ {
		if set.IsSet(cpu) {
			others |= 1 << cpu
		}
	}
	if others == 0 {
		return nil, errors.New("-veth steers the tool's side of the pair to the tool's CPUs other than 0: run it on others (taskset -c 1)")
	}
	n := &benchNet{name: fmt.Sprintf("relaymesh-bench-%d", os.Getpid()), node: net.IPv4(10, 201, 0, 2), local: net.IPv4(10, 201, 0, 1)}
	steps := [][]string{
		{"netns", "add", n.name},
		{"link", "add", vethTool, "type", "veth", "peer", "name", vethNode, "netns", n.name},
		{"addr", "add", n.local.String() + "/30", "dev", vethTool},
		{"link", "set", vethTool, "up"},
		{"-n", n.name, "addr", "add", n.node.String() + "/30", "dev", vethNode},
		{"-n", n.name, "link", "set", vethNode, "up"},
		{"-n", n.name, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			n.close()
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, strings.TrimSpace(string(out)))
		}
	}
	if err := os.WriteFile("/sys/class/net/"+vethTool+"/queues/rx-0/rps_cpus", fmt.Appendf(nil, "%x\n", others), 0); err != nil {
		n.close()
		return nil, fmt.Errorf("steer %s to the tool's CPUs: %w", vethTool, err)
	}
	// /sys shows the namespace's own devices only from inside it.
	steer := fmt.Sprintf("echo 1 > /sys/class/net/%s/queues/rx-0/rps_cpus", vethNode)
	if out, err := exec.Command("ip", "netns", "exec", n.name, "sh", "-c", steer).CombinedOutput(); err != nil {
		n.close()
		return nil, fmt.Errorf("steer %s to CPU 0: %v: %s", vethNode, err, strings.TrimSpace(string(out)))
	}
	return n, nil
}

// close removes the namespace, and the pair with it.
func (n *benchNet) close() {
	_ = exec.Command("ip", "netns", "del", n.name).Run()
	_ = exec.Command("ip", "link", "del", vethTool).Run() // if the namespace never got its end
}

// exec is bin args run inside the namespace.
func (n *benchNet) exec(bin string, args []string) (string, []string) {
	return "ip", append([]string{"netns", "exec", n.name, bin}, args...)
}

// settings is a SettingEngine whose candidates are the tool's veth
// address alone.
func (n *benchNet) settings() *webrtc.SettingEngine {
	var se webrtc.SettingEngine
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIPFilter(func(ip net.IP) bool { return ip.Equal(n.local) })
	return &se
}
