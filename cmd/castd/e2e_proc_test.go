package main

// End-to-end tests: castd built once with the race detector, run as real
// processes on loopback, driven by go-redis, redis-cli and raw TCP. This
// file is the harness: the build, ports, processes and readiness.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	gonet "net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Bounds of the harness; every wait has one.
const (
	buildTimeout     = 5 * time.Minute   // go build -race of castd, cold cache
	readyTimeout     = 60 * time.Second  // a cluster answers PING and a SET/GET probe
	sigtermTimeout   = 30 * time.Second  // SIGTERM to exit (a hang, not a slow stop); then SIGKILL
	sigkillTimeout   = 5 * time.Second   // SIGKILL (or SIGQUIT) to exit
	slowStop         = 3 * time.Second   // a SIGTERM stop this slow is logged
	probeTimeout     = e2eCommandTimeout // one readiness probe command
	logTailBytes     = 6 << 10           // of each log printed on failure
	portSearchTries  = 200               // random port ranges tried before giving up
	portRangeLow     = 12000             // ports are picked below Linux's ephemeral
	portRangeHigh    = 32000             // range (32768-60999), so outgoing dials cannot take them
	readyProbeKey    = "e2e:ready-probe"
	readyPollEvery   = 100 * time.Millisecond
	keepArtifactsEnv = "CASTD_E2E_KEEP" // set to keep every test's directory, passing or not
)

// Timing flags of the clusters the tests start. The daemons' defaults
// (--fail-timeout 1s, --remove-after 1s, --request-timeout 8s) assume
// processes that run when they should; these tests run race-instrumented
// daemons on machines shared with other work (CI, the rest of the suite, a
// second copy of it), where a process can stall for seconds: with the
// defaults, a run beside another copy of the suite on 2 cores saw a primary
// declared failed and both secondaries removed right after a clean restart.
// The tests check protocol behaviour, not the scheduler, so they give every
// rule time. As with the defaults, a command outlives a replica removal and
// a failover (fail-timeout + lease): the API retries through them.
const (
	e2eFailTimeout    = 10 * time.Second
	e2eRemoveAfter    = 15 * time.Second
	e2eRequestTimeout = 20 * time.Second
	// e2eCommandTimeout bounds one command at the client: above the API's
	// request timeout, so the cluster's answer normally comes first.
	e2eCommandTimeout = e2eRequestTimeout + 5*time.Second
)

// castdBin is the race-enabled castd binary TestMain builds.
var castdBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("castd e2e: skipped in -short mode")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "castd-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "castd e2e:", err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		castdBin = filepath.Join(dir, "castd")
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		// "go" is found on PATH: go test puts $GOROOT/bin first.
		build := exec.CommandContext(ctx, "go", "build", "-race", "-o", castdBin, ".")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "castd e2e: go build -race -o %s . failed: %v\n%s", castdBin, err, out)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// workDir is a test's directory for data dirs, logs and the history's
// HTML. Unlike t.TempDir it is kept when the test fails (or when
// CASTD_E2E_KEEP is set), so the logs and the picture can be read after.
func workDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "castd-e2e-"+t.Name()+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv(keepArtifactsEnv) != "" {
			t.Logf("artifacts (data dirs, full logs) kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

// Ports handed out in this test binary, so tests never share one.
var (
	portsMu    sync.Mutex
	portsTaken = map[int]bool{}
)

// freePorts returns n consecutive loopback ports that were free a moment
// ago: it listens on each of a random range and closes them. The range
// lies below the ephemeral range, so a port cannot be taken by an outgoing
// connection between the check and the daemon's bind, nor while a killed
// daemon is down.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range portSearchTries {
		base := portRangeLow + rand.IntN(portRangeHigh-portRangeLow-n)
		var lns []gonet.Listener
		ok := true
		for i := range n {
			if portsTaken[base+i] {
				ok = false
				break
			}
			ln, err := gonet.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				ok = false
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		if ok {
			ports := make([]int, n)
			for i := range n {
				ports[i] = base + i
				portsTaken[base+i] = true
			}
			return ports
		}
	}
	t.Fatalf("no %d consecutive free loopback ports in [%d, %d) after %d tries", n, portRangeLow, portRangeHigh, portSearchTries)
	return nil
}

func loopback(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

// daemon is one castd process, restartable with the same arguments. Each
// run's stdout and stderr go to their own files in the test's directory.
type daemon struct {
	t    *testing.T
	name string
	bin  string // castd binary; castdBin (built with -race) when empty
	args []string
	dir  string

	runs    int
	cmd     *exec.Cmd
	done    chan struct{} // closed when the current run has exited
	waitErr error
	stderr  string   // current run's stderr file
	logs    []string // every run's stdout and stderr files
}

// procs owns a test's daemons: it stops them all when the test ends and,
// when it failed, prints the tail of every log.
type procs struct {
	t   *testing.T
	dir string
	all []*daemon
}

func newProcs(t *testing.T, dir string) *procs {
	p := &procs{t: t, dir: dir}
	t.Cleanup(func() {
		for i := len(p.all) - 1; i >= 0; i-- {
			if d := p.all[i]; d.running() {
				d.stop()
			}
		}
		if t.Failed() {
			for _, d := range p.all {
				d.dumpLogs()
			}
		}
	})
	return p
}

// start runs `castd args...` as a new daemon named name.
func (p *procs) start(name string, args ...string) *daemon {
	p.t.Helper()
	return p.startBin(name, "", args...)
}

// startBin is start with another castd binary (empty: castdBin).
func (p *procs) startBin(name, bin string, args ...string) *daemon {
	p.t.Helper()
	d := &daemon{t: p.t, name: name, bin: bin, args: args, dir: p.dir}
	p.all = append(p.all, d)
	d.start()
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	if d.running() {
		d.t.Fatalf("%s: start while already running", d.name)
	}
	d.runs++
	base := filepath.Join(d.dir, fmt.Sprintf("%s.run%d", d.name, d.runs))
	stdout, err := os.Create(base + ".stdout")
	if err != nil {
		d.t.Fatal(err)
	}
	stderr, err := os.Create(base + ".stderr")
	if err != nil {
		stdout.Close()
		d.t.Fatal(err)
	}
	d.stderr = stderr.Name()
	d.logs = append(d.logs, stdout.Name(), stderr.Name())
	bin := d.bin
	if bin == "" {
		bin = castdBin
	}
	cmd := exec.Command(bin, d.args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		stdout.Close()
		stderr.Close()
		d.t.Fatalf("%s: start castd %s: %v", d.name, strings.Join(d.args, " "), err)
	}
	d.cmd = cmd
	done := make(chan struct{})
	d.done = done
	go func() {
		err := cmd.Wait()
		stdout.Close()
		stderr.Close()
		d.waitErr = err // read only after done is closed
		close(done)
	}()
}

func (d *daemon) running() bool {
	if d.done == nil {
		return false
	}
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// exited reports, without waiting, whether the current run has ended and
// how.
func (d *daemon) exited() (bool, error) {
	if d.running() {
		return false, nil
	}
	return true, d.waitErr
}

func (d *daemon) waitExit(bound time.Duration) bool {
	select {
	case <-d.done:
		return true
	case <-time.After(bound):
		return false
	}
}

// stop sends SIGTERM and expects a clean exit (status 0) within
// sigtermTimeout; otherwise it reports an error and sends SIGKILL.
func (d *daemon) stop() {
	d.t.Helper()
	if !d.running() {
		return
	}
	begin := time.Now()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	if !d.waitExit(sigtermTimeout) {
		// SIGQUIT makes the Go runtime print every goroutine's stack to
		// stderr and exit: the evidence of what shutdown waits for.
		d.t.Errorf("%s (pid %d): still running %v after SIGTERM; sending SIGQUIT for a goroutine dump (in %s), then SIGKILL",
			d.name, d.cmd.Process.Pid, sigtermTimeout, d.stderr)
		_ = d.cmd.Process.Signal(syscall.SIGQUIT)
		if !d.waitExit(sigkillTimeout) {
			_ = d.cmd.Process.Kill()
			if !d.waitExit(sigkillTimeout) {
				d.t.Errorf("%s (pid %d): still running %v after SIGKILL", d.name, d.cmd.Process.Pid, sigkillTimeout)
				return
			}
		}
		d.checkLog(true)
		return
	} else if d.waitErr != nil {
		d.t.Errorf("%s: exit after SIGTERM: %v (want status 0); stderr tail:\n%s", d.name, d.waitErr, tail(d.stderr))
	} else if took := time.Since(begin); took > slowStop {
		d.t.Logf("%s: took %v to exit after SIGTERM", d.name, took.Round(time.Millisecond))
	}
	d.checkLog(false)
}

// kill sends SIGKILL: a crash, as far as the daemon can tell.
func (d *daemon) kill() {
	d.t.Helper()
	if !d.running() {
		d.t.Fatalf("%s: kill while not running", d.name)
	}
	_ = d.cmd.Process.Kill()
	if !d.waitExit(sigkillTimeout) {
		d.t.Fatalf("%s (pid %d): still running %v after SIGKILL", d.name, d.cmd.Process.Pid, sigkillTimeout)
	}
	d.checkLog(false)
}

// checkLog fails the test when the finished run's stderr shows a data race
// (the binary is built with -race), a panic or a fatal runtime error. After
// a SIGQUIT only races count: the goroutine dump is expected, and the
// runtime may report errors of its own while printing it.
func (d *daemon) checkLog(quit bool) {
	d.t.Helper()
	b, err := os.ReadFile(d.stderr)
	if err != nil {
		d.t.Errorf("%s: read stderr: %v", d.name, err)
		return
	}
	bads := []string{"WARNING: DATA RACE", "panic: ", "fatal error: "}
	if quit {
		bads = bads[:1]
	}
	for _, bad := range bads {
		if i := bytes.Index(b, []byte(bad)); i >= 0 {
			end := min(len(b), i+logTailBytes)
			d.t.Errorf("%s: %q in %s (run %d):\n%s", d.name, bad, d.stderr, d.runs, b[i:end])
		}
	}
}

func (d *daemon) dumpLogs() {
	for _, path := range d.logs {
		if s := tail(path); s != "" {
			d.t.Logf("--- tail of %s (castd %s) ---\n%s", filepath.Base(path), strings.Join(d.args, " "), s)
		}
	}
}

// tail returns the last logTailBytes of the file at path.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	if len(b) > logTailBytes {
		b = b[len(b)-logTailBytes:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
		return "…\n" + string(b)
	}
	return string(b)
}

// newClient is a go-redis client that never retries on its own (a retried
// write would corrupt the recorded history) and speaks RESP2.
func newClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	return newClientWaiting(t, addr, e2eCommandTimeout)
}

// newClientWaiting is newClient waiting up to wait for a reply (and a
// third of that to send a command).
func newClientWaiting(t *testing.T, addr string, wait time.Duration) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr:                  addr,
		Protocol:              2,
		MaxRetries:            -1,
		DialTimeout:           2 * time.Second,
		ReadTimeout:           wait, // callers bound each command with a context
		WriteTimeout:          max(5*time.Second, wait/3),
		ContextTimeoutEnabled: true,
		PoolSize:              4,
		DisableIdentity:       true,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// waitReady polls addr until PING answers and a SET/GET probe succeeds
// (writes need a primary holding a lease), then deletes the probe key. It
// fails at once if one of watch exits meanwhile.
func waitReady(t *testing.T, addr string, watch ...*daemon) {
	t.Helper()
	c := newClient(t, addr)
	defer c.Close()
	start := time.Now()
	var last error
	for time.Since(start) < readyTimeout {
		for _, d := range watch {
			if gone, err := d.exited(); gone {
				t.Fatalf("%s exited (%v) while waiting for %s to serve; stderr tail:\n%s", d.name, err, addr, tail(d.stderr))
			}
		}
		last = probe(c)
		if last == nil {
			t.Logf("%s ready after %v", addr, time.Since(start).Round(time.Millisecond))
			return
		}
		time.Sleep(readyPollEvery)
	}
	t.Fatalf("%s not ready within %v: last probe: %v", addr, readyTimeout, last)
}

func probe(c *redis.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("PING: %w", err)
	}
	val := fmt.Sprint(time.Now().UnixNano())
	if err := c.Set(ctx, readyProbeKey, val, 0).Err(); err != nil {
		return fmt.Errorf("SET %s: %w", readyProbeKey, err)
	}
	got, err := c.Get(ctx, readyProbeKey).Result()
	if err != nil {
		return fmt.Errorf("GET %s: %w", readyProbeKey, err)
	}
	if got != val {
		return fmt.Errorf("GET %s = %q right after SET %q", readyProbeKey, got, val)
	}
	if err := c.Del(ctx, readyProbeKey).Err(); err != nil {
		return fmt.Errorf("DEL %s: %w", readyProbeKey, err)
	}
	return nil
}

// isRedisError reports whether err is an error reply from the server (as
// opposed to a network error or timeout).
func isRedisError(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}
