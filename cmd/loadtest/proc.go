package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, 100 on Linux on every architecture Go supports.
const clockTicks = 100

// cpuSeconds is the user+system CPU time of a process (proc(5) stat fields
// 14 and 15).
func cpuSeconds(pid int) (float64, error) {
	user, sys, err := cpuSplit(pid)
	return user + sys, err
}

// cpuSplit is a process's user and system CPU seconds apart: on loopback
// the system time holds the receivers' kernel work as well as the
// sender's (the receive path runs in the sending call).
func cpuSplit(pid int) (user, sys float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name may hold spaces; fields start after its ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return ut / clockTicks, st / clockTicks, nil
}

// rssBytes is a process's resident set size.
func rssBytes(pid int) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.Fields(v)[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// serverDrops reads relaymesh_dropped_packets_total from /metrics.
func serverDrops(base string) uint64 { return metricSum(base, "relaymesh_dropped_packets_total") }

// metricSum is the sum of a metric's series on a node's /metrics, of
// those whose labels include every one of labels (`sender="node"`).
func metricSum(base, name string, labels ...string) uint64 {
	res, err := http.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	var total uint64
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			if !hasAll(line, labels) {
				continue
			}
			v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			total += uint64(v)
		}
	}
	return total
}

func hasAll(line string, labels []string) bool {
	for _, l := range labels {
		if !strings.Contains(line, l) {
			return false
		}
	}
	return true
}
