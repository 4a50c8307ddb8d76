package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Bounds of starting and stopping servers.
const (
	buildTimeout    = 5 * time.Minute  // go build of castd, cold cache
	readyTimeout    = 60 * time.Second // a fresh server answers a SET/GET probe
	stopTimeout     = 30 * time.Second // SIGTERM to exit; then SIGKILL
	killTimeout     = 5 * time.Second  // SIGKILL to exit
	probeTimeout    = 2 * time.Second  // one command of a readiness probe
	pollEvery       = 10 * time.Millisecond
	portSearchTries = 200
	portRangeLow    = 12000 // below Linux's ephemeral range (32768-60999), so
	portRangeHigh   = 32000 // no outgoing connection takes a port meanwhile
	logTailLines    = 40    // of a server's log, quoted when it fails
	probeKey        = "castbench:probe"
)

// buildCastd builds castd from the module castbench runs in, into dir.
func buildCastd(ctx context.Context, dir string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	root, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("find the castkv module (run castbench inside it, or pass --castd): go list -m: %v", err)
	}
	bin := filepath.Join(dir, "castd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/castd")
	cmd.Dir = strings.TrimSpace(string(root))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build -o %s ./cmd/castd in %s: %v\n%s", bin, cmd.Dir, err, out)
	}
	return bin, nil
}

// freePorts returns n consecutive loopback ports that were free a moment
// ago.
func freePorts(n int) (int, error) {
	for range portSearchTries {
		base := portRangeLow + rand.IntN(portRangeHigh-portRangeLow-n)
		var lns []net.Listener
		for i := range n {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		ok := len(lns) == n
		for _, ln := range lns {
			ln.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no %d consecutive free loopback ports in [%d, %d) after %d tries", n, portRangeLow, portRangeHigh, portSearchTries)
}

// server is one process castbench started.
type server struct {
	name    string
	cmd     *exec.Cmd
	started time.Time
	exited  chan struct{}
	waitErr error // set before exited is closed
	tail    *lineTail
	logPath string
}

func startServer(name, logPath string, cmd *exec.Cmd, logs func(io.Reader)) (*server, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	s := &server{name: name, cmd: cmd, exited: make(chan struct{}), tail: &lineTail{max: logTailLines}, logPath: logPath}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	setDeathSignal(cmd)
	s.started = time.Now()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		var w io.Writer = io.MultiWriter(f, s.tail)
		if logs != nil {
			lr, lw := io.Pipe()
			go logs(lr)
			defer lw.Close()
			w = io.MultiWriter(w, lw)
		}
		io.Copy(w, pr)
	}()
	go func() {
		err := cmd.Wait()
		pw.Close()
		<-copied
		f.Close()
		s.waitErr = err
		close(s.exited)
	}()
	return s, nil
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// exitedErr is nil while the server runs, and says how it ended otherwise.
func (s *server) exitedErr() error {
	select {
	case <-s.exited:
		return fmt.Errorf("%s exited (%v); last lines of %s:\n%s", s.name, s.waitErr, s.logPath, s.tail)
	default:
		return nil
	}
}

// stop sends SIGTERM and waits for a clean exit; after stopTimeout it
// sends SIGKILL and reports the hang.
func (s *server) stop() (time.Duration, error) {
	begin := time.Now()
	select {
	case <-s.exited:
		return 0, s.exitedErr()
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		took := time.Since(begin)
		if s.waitErr != nil {
			return took, fmt.Errorf("%s: exit after SIGTERM: %v; last lines of %s:\n%s", s.name, s.waitErr, s.logPath, s.tail)
		}
		return took, nil
	case <-time.After(stopTimeout):
	}
	s.cmd.Process.Kill()
	select {
	case <-s.exited:
	case <-time.After(killTimeout):
	}
	return time.Since(begin), fmt.Errorf("%s (pid %d) still running %v after SIGTERM; sent SIGKILL", s.name, s.pid(), stopTimeout)
}

// lineTail keeps the last max lines written to it.
type lineTail struct {
	mu      sync.Mutex
	max     int
	lines   []string
	partial []byte
}

func (t *lineTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		t.lines = append(t.lines, string(t.partial[:i]))
		t.partial = t.partial[i+1:]
		if len(t.lines) > t.max {
			t.lines = t.lines[len(t.lines)-t.max:]
		}
	}
	return len(p), nil
}

func (t *lineTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(append(t.lines, string(t.partial)), "\n")
}

// waitServing polls until check passes, the server (if any) exits, or
// timeout. It returns when check first passed.
func waitServing(ctx context.Context, s *server, timeout time.Duration, check func() error) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if last = check(); last == nil {
			return time.Now(), nil
		}
		if s != nil {
			if err := s.exitedErr(); err != nil {
				return time.Time{}, err
			}
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("not serving within %v: %v", timeout, last)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

// probe checks that addr answers PING and a SET then GET of probeKey:
// for castkv, that a primary holds a lease and its barrier committed.
func probe(ctx context.Context, addr string) error {
	c, err := dial(ctx, addr, probeTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.doOK(probeTimeout, "PING"); err != nil {
		return err
	}
	val := fmt.Sprint(time.Now().UnixNano())
	if err := c.doOK(probeTimeout, "SET", probeKey, val); err != nil {
		return err
	}
	r, err := c.do(probeTimeout, "GET", probeKey)
	if err != nil {
		return err
	}
	if string(r.str) != val {
		return fmt.Errorf("GET %s = %v right after SET %q", probeKey, r, val)
	}
	return nil
}

// devCluster is `castd dev` on one data directory; start may be called
// again after stop, on the same directory and ports.
type devCluster struct {
	bin, dataDir, logDir string
	peerBase             int
	listen               string
	extraArgs            []string
	runs                 int
	events               eventLog
}

// dataDirNames are the directories castd dev keeps each role's pebble
// store in, under --data-dir (cmd/castd runDev); data server i listens on
// --peer-base + 2 + i, after the three meta members.
var dataDirNames = []string{"meta1", "meta2", "meta3", "data1", "data2", "data3"}

func newDevCluster(bin, dataDir, logDir string, extraArgs []string) (*devCluster, error) {
	base, err := freePorts(8) // meta1-3, data1-3, api cluster ports; the client port
	if err != nil {
		return nil, err
	}
	return &devCluster{
		bin: bin, dataDir: dataDir, logDir: logDir, peerBase: base,
		listen: fmt.Sprintf("127.0.0.1:%d", base+7), extraArgs: extraArgs,
	}, nil
}

func (d *devCluster) start() (*server, error) {
	d.runs++
	args := append([]string{"dev", "--data-dir", d.dataDir, "--peer-base", fmt.Sprint(d.peerBase),
		"--listen", d.listen, "--log-format", "json"}, d.extraArgs...)
	cmd := exec.Command(d.bin, args...)
	logPath := filepath.Join(d.logDir, fmt.Sprintf("castd.run%d.log", d.runs))
	run := d.runs
	return startServer("castd dev", logPath, cmd, func(r io.Reader) { d.events.consume(r, run) })
}

// dataServerName is the directory name of the data server with a cluster
// address like 127.0.0.1:17381/data, or "" when it is not one of d's.
func (d *devCluster) dataServerName(addr string) string {
	for i := 1; i <= 3; i++ {
		if strings.HasPrefix(addr, fmt.Sprintf("127.0.0.1:%d/", d.peerBase+2+i)) {
			return fmt.Sprintf("data%d", i)
		}
	}
	return ""
}

// redisServer finds redis-server on PATH and its version line.
func redisServer(ctx context.Context) (path, version string, err error) {
	path, err = exec.LookPath("redis-server")
	if err != nil {
		return "", "", err
	}
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return path, "", fmt.Errorf("%s --version: %w", path, err)
	}
	return path, strings.TrimSpace(string(out)), nil
}

// redisArgs configure Redis as durable as castkv: the AOF synced before
// every reply. RDB snapshots are off so that no fork lands inside a row;
// AOF rewrites keep Redis's defaults.
var redisArgs = []string{"--appendonly", "yes", "--appendfsync", "always", "--save", ""}

func startRedis(path, dir string) (*server, string, error) {
	port, err := freePorts(1)
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args := append([]string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--dir", dir,
		"--daemonize", "no", "--protected-mode", "no"}, redisArgs...)
	s, err := startServer("redis-server", filepath.Join(dir, "redis.log"), exec.Command(path, args...), nil)
	return s, addr, err
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// tempDir makes a temporary directory named after prefix; cleanup removes
// it, or with keep says where it is.
func tempDir(prefix string, keep bool, progress func(string, ...any)) (dir string, cleanup func(), err error) {
	dir, err = os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	return dir, func() {
		if keep {
			progress("kept %s", dir)
		} else {
			os.RemoveAll(dir)
		}
	}, nil
}

// workspace makes a temporary directory named after prefix and, unless
// castd names a binary, builds castd into it.
func workspace(ctx context.Context, prefix, castd string, keep bool, progress func(string, ...any)) (dir, bin string, cleanup func(), err error) {
	dir, cleanup, err = tempDir(prefix, keep, progress)
	if err != nil {
		return "", "", nil, err
	}
	bin = castd
	if bin == "" {
		progress("building castd")
		if bin, err = buildCastd(ctx, dir); err != nil {
			cleanup()
			return "", "", nil, err
		}
	}
	return dir, bin, cleanup, nil
}
