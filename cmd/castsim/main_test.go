package main

// These tests build castsim once and run it as a real process, the way a
// user or CI does: exit status, stdout's last JSON line, stderr's usage.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// castsimBin is the binary TestMain built.
var castsimBin string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "castsim-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	castsimBin = filepath.Join(dir, "castsim")
	// go test puts its own go first on PATH.
	if out, err := exec.Command("go", "build", "-o", castsimBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building castsim: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// outcome is one finished castsim process.
type outcome struct {
	exit           int
	stdout, stderr string
}

// castsim runs the binary with args in a fresh directory, so the files a
// failing seed leaves stay out of the source tree.
func castsim(t *testing.T, args ...string) outcome {
	t.Helper()
	cmd := exec.Command(castsimBin, args...)
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	o := outcome{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		o.exit = exitErr.ExitCode()
	default:
		t.Fatalf("castsim %s: %v", strings.Join(args, " "), err)
	}
	return o
}

// lastJSON decodes the last line of stdout.
func (o outcome) lastJSON(t *testing.T) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimRight(o.stdout, "\n"), "\n")
	var v map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &v); err != nil {
		t.Fatalf("last line of stdout is not a JSON object: %v\nstdout:\n%s", err, o.stdout)
	}
	return v
}

func (o outcome) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", o.exit, o.stdout, o.stderr)
}

func TestBadUsageExits2(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"run"},
		{"run", "--seed", "x"},
		{"run", "--seed", "1", "extra"},
		{"run", "--seed", "1", "--no-such-flag"},
		{"run", "--seed", "1", "--canary", "no-such-canary"},
		{"run", "--seed", "1", "--faults", "loss,no-such-fault"},
		{"run", "--seed", "1", "--duration", "soon"},
		{"run", "--seed", "1", "--clients", "0"},
		{"sweep"},
		{"sweep", "--seeds", "5-1"},
		{"sweep", "--seeds", "a-b"},
		{"sweep", "--seeds", "1-3", "--parallel", "0"},
		{"canaries", "extra"},
	} {
		o := castsim(t, args...)
		if o.exit != exitUsage || !strings.Contains(o.stderr, "usage:") {
			t.Errorf("castsim %s: want exit %d and a usage message on stderr, got %v", strings.Join(args, " "), exitUsage, o)
		}
	}
}

func TestHelpExits0(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"help", "run"}, {"help", "sweep"}, {"help", "seeds"}} {
		if o := castsim(t, args...); o.exit != exitOK || !strings.Contains(o.stdout, "usage:") {
			t.Errorf("castsim %s: want exit 0 and usage on stdout, got %v", strings.Join(args, " "), o)
		}
	}
}

func TestCanariesListsEveryCanary(t *testing.T) {
	o := castsim(t, "canaries")
	want := []string{"1pc-without-max-ts", "abort-without-lookup", "ack-before-durable", "cached-tso", "commit-on-majority", "drop-old-primary", "expire-on-local-clock", "gc-ignores-locks", "ignore-lease",
		"keep-lock-writable", "lazy-apply", "learner-counts", "lease-from-old-leader", "lease-from-receive-time", "meta-grant-unconfirmed", "meta-no-wait", "move-without-fence", "mset-per-shard", "no-barrier", "no-dedup", "no-ts-floor",
		"promote-unpersisted", "read-secondary", "read-through-lock", "read-through-pending", "reply-by-request-id", "setnx-on-committed", "split-without-fence", "stale-version-cache",
		"truncate-unapplied", "tso-from-clock", "unprotected-rollback", "unsynced-truncate"}
	got := strings.Fields(o.stdout)
	if o.exit != exitOK || !slices.Equal(got, want) {
		t.Fatalf("castsim canaries: want exit 0 and %q, got %v", want, o)
	}
}

// runFaultFree runs one short, fault-free seed and returns its JSON line.
func runFaultFree(t *testing.T, seed string) map[string]any {
	t.Helper()
	o := castsim(t, "run", "--seed", seed, "--duration", "2s", "--faults", "none", "--json")
	if o.exit != exitOK {
		t.Fatalf("castsim run --seed %s: want exit 0, got %v", seed, o)
	}
	return o.lastJSON(t)
}

func TestRunJSON(t *testing.T) {
	v := runFaultFree(t, "1")
	for _, key := range []string{"seed", "ops", "acked_writes", "sim_seconds", "wall_seconds"} {
		if _, ok := v[key].(float64); !ok {
			t.Errorf("key %q: want a number, got %#v", key, v[key])
		}
	}
	for _, key := range []string{"linearizable", "durable", "live"} {
		if b, ok := v[key].(bool); !ok || !b {
			t.Errorf("key %q: want true, got %#v", key, v[key])
		}
	}
	if _, ok := v["faults"].(map[string]any); !ok {
		t.Errorf("key \"faults\": want an object, got %#v", v["faults"])
	}
	if tr, ok := v["trace"].(string); !ok || tr == "" || strings.Trim(tr, "0123456789abcdef") != "" {
		t.Errorf("key \"trace\": want a hex string, got %#v", v["trace"])
	}
	if v["seed"] != 1.0 {
		t.Errorf("key \"seed\": want 1, got %#v", v["seed"])
	}
}

func TestRunIsDeterministic(t *testing.T) {
	first, again, other := runFaultFree(t, "1")["trace"], runFaultFree(t, "1")["trace"], runFaultFree(t, "2")["trace"]
	if first != again {
		t.Errorf("seed 1 twice: traces %v and %v differ", first, again)
	}
	if first == other {
		t.Errorf("seeds 1 and 2: same trace %v", first)
	}
}

func TestSweepJSON(t *testing.T) {
	o := castsim(t, "sweep", "--seeds", "1-3", "--duration", "2s", "--faults", "none", "--json")
	if o.exit != exitOK {
		t.Fatalf("castsim sweep --seeds 1-3: want exit 0, got %v", o)
	}
	v := o.lastJSON(t)
	if v["seeds"] != 3.0 {
		t.Errorf("key \"seeds\": want 3, got %#v", v["seeds"])
	}
	if failed, ok := v["failed"].([]any); !ok || len(failed) != 0 {
		t.Errorf("key \"failed\": want [], got %#v", v["failed"])
	}
	for _, key := range []string{"ops", "sim_seconds", "wall_seconds"} {
		if _, ok := v[key].(float64); !ok {
			t.Errorf("key %q: want a number, got %#v", key, v[key])
		}
	}
	if _, ok := v["fault_runs"].(map[string]any); !ok {
		t.Errorf("key \"fault_runs\": want an object, got %#v", v["fault_runs"])
	}
	if !strings.Contains(o.stdout, "runs that drew each fault: ") {
		t.Errorf("the sweep does not say how many runs drew each fault:\n%s", o.stdout)
	}
}

// A seed the sweep could not decide within its budget (here: none) is run
// again alone, with ten minutes, and that verdict stands.
func TestSweepRechecksUndecidedSeeds(t *testing.T) {
	o := castsim(t, "sweep", "--seeds", "1-2", "--duration", "2s", "--faults", "none", "--check-budget", "1ns")
	if o.exit != exitOK {
		t.Fatalf("castsim sweep --check-budget 1ns: want exit 0 once the seeds are checked again, got %v", o)
	}
	for _, seed := range []string{"1", "2"} {
		if want := "seed " + seed + ": undecided in the sweep, passed when checked again alone"; !strings.Contains(o.stdout, want) {
			t.Errorf("the sweep does not say %q:\n%s", want, o.stdout)
		}
	}
}

// A run prints the knobs its seed drew, in text and in JSON; the seed
// alone replays it, and a flag set to the drawn value changes nothing.
func TestRunPrintsKnobsAndReplays(t *testing.T) {
	o := castsim(t, "run", "--seed", "4", "--duration", "2s", "--faults", "none", "--json")
	if o.exit != exitOK {
		t.Fatalf("castsim run --seed 4: want exit 0, got %v", o)
	}
	for _, want := range []string{"knobs:", "clients=", "lease=", "heartbeat=", "inline<="} {
		if !strings.Contains(o.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, o.stdout)
		}
	}
	v := o.lastJSON(t)
	knobs, ok := v["knobs"].(map[string]any)
	if !ok {
		t.Fatalf("key \"knobs\": want an object, got %#v", v["knobs"])
	}
	clients := knobs["workload"].(map[string]any)["clients"].(float64)
	if clients < 1 || knobs["meta"].(map[string]any)["lease_timeout_ns"].(float64) <= 0 {
		t.Fatalf("knobs: %v", knobs)
	}
	again := castsim(t, "run", "--seed", "4", "--duration", "2s", "--faults", "none", "--clients", fmt.Sprint(clients), "--json").lastJSON(t)
	if again["trace"] != v["trace"] {
		t.Errorf("--clients %v, the drawn count, changed the trace: %v, then %v", clients, v["trace"], again["trace"])
	}
}

// The replay command names the seed and only the flags that were set: the
// seed draws the rest again.
func TestReplayNamesOnlySetFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "go run ./cmd/castsim run --seed 9"},
		{[]string{"--clients", "3"}, "go run ./cmd/castsim run --seed 9 --clients 3"},
		{[]string{"--faults", "crash,loss", "--duration", "5s", "--canary", "ignore-lease"},
			"go run ./cmd/castsim run --seed 9 --duration 5s --faults crash,loss --canary ignore-lease"},
		{[]string{"--faults", "none"}, "go run ./cmd/castsim run --seed 9 --faults none"},
	} {
		fs, f := newRunFlags(io.Discard)
		if err := fs.Parse(append([]string{"--seed", "9"}, tc.args...)); err != nil {
			t.Fatal(err)
		}
		cfg, err := f.settings.resolve(fs)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.replay(9); got != tc.want {
			t.Errorf("flags %q: replay %q, want %q", tc.args, got, tc.want)
		}
	}
}

// castsim seeds rewrites one canary's catch lines and keeps every other
// line as it was.
func TestSeedsRegeneratesCatchLines(t *testing.T) {
	file := filepath.Join(t.TempDir(), "seeds.txt")
	old := "# header\n9 20s pass a bug it found\n77 20s catch read-secondary stale credit\n5 20s catch ignore-lease kept as it is\n"
	if err := os.WriteFile(file, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	o := castsim(t, "seeds", "--file", file, "--canary", "read-secondary", "--seeds", "1-4", "--first", "1", "--write")
	if o.exit != exitOK {
		t.Fatalf("castsim seeds: want exit 0, got %v", o)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(got), "\n"), "\n")
	if len(lines) != 4 || lines[0] != "# header" || lines[1] != "9 20s pass a bug it found" ||
		lines[2] != "5 20s catch ignore-lease kept as it is" || !strings.HasPrefix(lines[3], "1 13s catch read-secondary ") { // seed 1 draws a 13 s run
		t.Errorf("got\n%s\nwant the header, the pass line, the ignore-lease line, and seed 1 catching read-secondary", got)
	}
}
