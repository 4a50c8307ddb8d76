package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Bounds of perf's control protocol.
const (
	perfAckTimeout  = 10 * time.Second // perf acknowledges enable or disable
	perfExitTimeout = 10 * time.Second // perf writes its counts and exits after SIGINT
)

// fsyncCounter starts one perf session per row and server.
type fsyncCounter struct{ perf string }

// newFsyncCounter finds perf and checks that it may count the tracepoints;
// when it cannot, the counter is nil and why says so.
func newFsyncCounter(ctx context.Context) (c *fsyncCounter, why string) {
	perf, err := exec.LookPath("perf")
	if err != nil {
		return nil, "perf not found"
	}
	dir, err := os.MkdirTemp("", "castbench-perf-")
	if err != nil {
		return nil, err.Error()
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "out")
	cmd := exec.CommandContext(ctx, perf, "stat", "-x,", "-o", out, "-e", strings.Join(perfEvents, ","), "--", "true")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Sprintf("perf stat cannot count syscall tracepoints here: %v: %s", err, firstLine(b))
	}
	b, err := os.ReadFile(out)
	if err == nil {
		_, err = parsePerfStat(b)
	}
	if err != nil {
		return nil, fmt.Sprintf("perf stat cannot count syscall tracepoints here: %v", err)
	}
	return &fsyncCounter{perf: perf}, ""
}

// check attaches to pid and detaches again.
func (f *fsyncCounter) check(pid int) error {
	s, err := f.start(pid)
	if err != nil {
		return err
	}
	_, err = s.stop()
	return err
}

// fsyncSession counts one process's fsyncs between start and stop.
type fsyncSession struct {
	cmd      *exec.Cmd
	dir, out string
	ctl, ack *os.File
	stderr   bytes.Buffer
	exited   chan struct{}
}

// start attaches perf to pid and returns once perf says it is counting.
func (f *fsyncCounter) start(pid int) (*fsyncSession, error) {
	dir, err := os.MkdirTemp("", "castbench-perf-")
	if err != nil {
		return nil, err
	}
	s := &fsyncSession{dir: dir, out: filepath.Join(dir, "out"), exited: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			s.cleanup()
		}
	}()
	ctlPath, ackPath := filepath.Join(dir, "ctl"), filepath.Join(dir, "ack")
	for _, p := range []string{ctlPath, ackPath} {
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			return nil, fmt.Errorf("mkfifo %s: %w", p, err)
		}
	}
	// O_RDWR: opening a FIFO this way does not wait for perf to open the
	// other end.
	if s.ctl, err = os.OpenFile(ctlPath, os.O_RDWR, 0); err != nil {
		return nil, err
	}
	if s.ack, err = os.OpenFile(ackPath, os.O_RDWR, 0); err != nil {
		return nil, err
	}
	s.cmd = exec.Command(f.perf, "stat", "-x,", "-D", "-1", "--control", "fifo:"+ctlPath+","+ackPath,
		"-e", strings.Join(perfEvents, ","), "-p", fmt.Sprint(pid), "-o", s.out)
	s.cmd.Stderr = &s.stderr
	setDeathSignal(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	if err := s.control("enable"); err != nil {
		s.cleanup() // perf has exited once this returns: its stderr is complete
		return nil, fmt.Errorf("%w; perf said: %s", err, firstLine(s.stderr.Bytes()))
	}
	ok = true
	return s, nil
}

// control sends perf a command and waits for its "ack".
func (s *fsyncSession) control(command string) error {
	if _, err := s.ctl.WriteString(command + "\n"); err != nil {
		return fmt.Errorf("perf control %s: %w", command, err)
	}
	s.ack.SetReadDeadline(time.Now().Add(perfAckTimeout))
	buf := make([]byte, 16)
	n, err := s.ack.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "ack") {
		return fmt.Errorf("perf control %s: no ack within %v (%v, got %q)", command, perfAckTimeout, err, buf[:n])
	}
	return nil
}

// stop ends the session and returns the count.
func (s *fsyncSession) stop() (int64, error) {
	defer s.cleanup()
	if err := s.control("disable"); err != nil {
		return 0, err
	}
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(perfExitTimeout):
		return 0, fmt.Errorf("perf still running %v after SIGINT", perfExitTimeout)
	}
	b, err := os.ReadFile(s.out)
	if err != nil {
		return 0, err
	}
	return parsePerfStat(b)
}

func (s *fsyncSession) cleanup() {
	if s.cmd != nil && s.cmd.Process != nil {
		select {
		case <-s.exited:
		default:
			s.cmd.Process.Kill()
			<-s.exited
		}
	}
	if s.ctl != nil {
		s.ctl.Close()
	}
	if s.ack != nil {
		s.ack.Close()
	}
	os.RemoveAll(s.dir)
}
