package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Bounds of TestDevMemoryAfterLargeValue.
const (
	largeValueBytes = 60 << 20 // castkv issue 7's "60 MB SET"
	// rssOverBaseline is issue 7's bar: after DEL, RSS comes back within
	// this of what castd dev held before the SET.
	rssOverBaseline = 100 << 20
	// rssSettleBound is how long the test waits for RSS to come back. It
	// is a bound, not a timing claim: castd's heap returner (memory.go)
	// needs a few 5 s checks after the cluster's flushes and compactions
	// end; a loaded machine may take longer, and 60 s is ample.
	rssSettleBound = 60 * time.Second
	rssPollEvery   = 100 * time.Millisecond
	debugGetBound  = 5 * time.Second // one /debug request, for a failure's report
	// largeValueTimeout bounds the SET at the client, above the API's
	// request timeout in largeValueFlags.
	largeValueTimeout  = 40 * time.Second
	largeValueAttempts = 3
)

// largeValueFlags give failure detection time a 60 MB value may take on a
// loaded machine. The e2e flags were not enough in CI (the whole suite on
// 2 cores): the SET took over 30 s, the meta group lost its leader three
// times meanwhile (500 ms election timeout), the primary's lease lapsed
// and the secondary's ack came after --remove-after, so meta replaced the
// primary. The test is about memory and about a large value not being
// mistaken for a failure; these bounds leave only a process stuck for a
// minute to be one.
var largeValueFlags = []string{"--election-timeout", "3s", "--lease", "10s", "--fail-timeout", "60s",
	"--remove-after", "90s", "--request-timeout", "25s"}

// plainCastd is castd built without -race, once per test binary: the race
// detector's shadow memory, and pebble's race builds allocating half their
// manual memory on Go's heap, would make RSS measure the instrumentation.
var plainCastd = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "castd-e2e-plain-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "castd")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build -o %s . failed: %v\n%s", bin, err, out)
	}
	return bin, nil
})

// rssBytes is the resident set of process pid (VmRSS).
func rssBytes(pid int) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS line", pid)
}

func mb(b uint64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }

// TestDevMemoryAfterLargeValue is castkv issue 7's last "Done means" line:
// with `castd dev`, a 60 MB SET succeeds with no config change, and after
// DEL the process's RSS comes back within 100 MB of its baseline (the RSS
// of the ready, idle cluster). It logs the baseline, the peak (sampled
// every rssPollEvery from the SET to the end) and the RSS after DEL; when
// RSS does not come back it reports Go's MemStats and pebble's metrics
// from castd's --pprof, to say whose memory it is.
//
// The cluster runs with failure detection slower than the e2e timing
// flags (largeValueFlags), so a busy machine does not change its config; a
// config change during one SET with them is a failure all the more.
func TestDevMemoryAfterLargeValue(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads RSS from /proc")
	}
	bin, err := plainCastd()
	if err != nil {
		t.Fatal(err)
	}
	pprofAddr := loopback(freePorts(t, 1)[0])
	ps := newProcs(t, workDir(t))
	dc := startDevBin(t, ps, bin, append([]string{"--log-level", "info", "--pprof", pprofAddr}, largeValueFlags...)...)
	pid := dc.d.cmd.Process.Pid
	baseline, err := rssBytes(pid)
	if err != nil {
		t.Fatal(err)
	}

	var peak atomic.Uint64
	peak.Store(baseline)
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(rssPollEvery)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
				if rss, err := rssBytes(pid); err == nil && rss > peak.Load() {
					peak.Store(rss)
				}
			}
		}
	}()
	defer func() {
		close(stopSampling)
		<-sampled
	}()

	c := newClientWaiting(t, dc.clientAddr, largeValueTimeout)
	// Random bytes: pebble's snappy finds nothing to compress, so its
	// buffers are as large as they get.
	big := make([]byte, largeValueBytes)
	_, _ = rand.NewChaCha8([32]byte{7}).Read(big)
	// A client retries a SET that timed out (-UNCERTAIN) or was refused
	// (-TRYAGAIN), as users do; the same value again is harmless. Seen in
	// CI beside the rest of the suite and two simulator sweeps: the first
	// attempt outlived the API's 25 s request timeout.
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), largeValueTimeout)
		err = c.Set(ctx, "big", big, 0).Err()
		cancel()
		if err == nil {
			break
		}
		retry := strings.HasPrefix(err.Error(), "UNCERTAIN") || strings.HasPrefix(err.Error(), "TRYAGAIN")
		if !retry || attempt == largeValueAttempts {
			t.Fatalf("SET big (%d bytes), attempt %d of %d: %v", len(big), attempt, largeValueAttempts, err)
		}
		t.Logf("SET big, attempt %d: %v; again", attempt, err)
	}
	expect(t, c, int64(1), "DEL", "big")

	limit := baseline + rssOverBaseline
	start := time.Now()
	rss, err := rssBytes(pid)
	for err == nil && rss > limit && time.Since(start) < rssSettleBound {
		time.Sleep(rssPollEvery)
		rss, err = rssBytes(pid)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("castd dev RSS: baseline %s, peak %s, %s %v after DEL (bar: %s)",
		mb(baseline), mb(peak.Load()), mb(rss), time.Since(start).Round(100*time.Millisecond), mb(limit))
	if rss > limit {
		t.Errorf("RSS %s %v after DEL of a %d-byte value; want at most %s (baseline %s + %s)\n%s",
			mb(rss), rssSettleBound, largeValueBytes, mb(limit), mb(baseline), mb(rssOverBaseline), memoryReport(pprofAddr))
	}

	logged, err := os.ReadFile(dc.d.stderr)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(logged), "\n") {
		if strings.Contains(line, `msg="config change"`) {
			t.Errorf("config changed during the %d-byte SET and DEL: %s", largeValueBytes, line)
		}
	}
}

// memoryReport is what castd's --pprof says of its memory: Go's MemStats
// (the tail of the heap profile) and each store's pebble memory.
func memoryReport(pprofAddr string) string {
	get := func(path string) string {
		c := http.Client{Timeout: debugGetBound}
		resp, err := c.Get("http://" + pprofAddr + path)
		if err != nil {
			return fmt.Sprintf("(%v)", err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return fmt.Sprintf("(%v)", err)
		}
		return string(b)
	}
	var out strings.Builder
	heap := get("/debug/pprof/heap?debug=1") // debug=1 reads the stats without collecting
	if i := strings.Index(heap, "\n# runtime.MemStats"); i >= 0 {
		heap = heap[i+1:]
	}
	for _, line := range strings.Split(heap, "\n") {
		if strings.HasPrefix(line, "# ") && !strings.Contains(line, "PauseNs") && !strings.Contains(line, "BySize") {
			out.WriteString(line + "\n")
		}
	}
	for _, line := range strings.Split(get("/debug/pebble"), "\n") {
		if strings.HasPrefix(line, "# store") {
			out.WriteString(line + "\n")
		}
	}
	return out.String()
}
