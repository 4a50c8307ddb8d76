// Command castmutate is castkv's mutation testing: it applies one-line
// defects to the protocol, one at a time, and checks that the tests or the
// simulator catch each. The working tree is never modified: a mutated file
// is handed to the Go toolchain with -overlay.
//
//	go run ./cmd/castmutate [--file testdata/mutations.txt] [--seeds 1-200] [--parallel P] [NAME...]
//
// Each mutation in the file names a file, a line fragment that must occur
// exactly once in it, its replacement, and how it must be caught:
//
//	test PKG REGEXP   go test PKG -run REGEXP must fail (a regression test
//	                  catches its hole coming back)
//	sweep             a castsim sweep over --seeds must fail at least once
//
// It prints one line per mutation and a summary; the exit status is 1 when
// a mutant survived, 0 when every one was caught. Rerun it after every
// protocol change.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

type mutation struct {
	name, why string
	file      string
	old, new  string
	check     []string // "test PKG REGEXP" or "sweep"
	line      int      // where it was defined, for error messages
}

func main() {
	file := flag.String("file", "testdata/mutations.txt", "mutations to apply")
	seeds := flag.String("seeds", "1-200", "seeds of each sweep check")
	parallel := flag.Int("parallel", 0, "seeds a sweep runs at once (0: castsim's default)")
	flag.Parse()
	muts, err := parse(*file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "castmutate:", err)
		os.Exit(2)
	}
	if want := flag.Args(); len(want) > 0 {
		muts = slices.DeleteFunc(muts, func(m mutation) bool { return !slices.Contains(want, m.name) })
		if len(muts) != len(want) {
			fmt.Fprintf(os.Stderr, "castmutate: %d of the names %v are not in %s\n", len(want)-len(muts), want, *file)
			os.Exit(2)
		}
	}
	tmp, err := os.MkdirTemp("", "castmutate")
	if err != nil {
		fmt.Fprintln(os.Stderr, "castmutate:", err)
		os.Exit(2)
	}
	defer os.RemoveAll(tmp)
	survived := 0
	for _, m := range muts {
		start := time.Now()
		caught, detail, err := run(m, tmp, *seeds, *parallel)
		verdict := "CAUGHT"
		switch {
		case err != nil:
			verdict, detail = "ERROR", err.Error()
			survived++
		case !caught:
			verdict = "SURVIVED"
			survived++
		}
		fmt.Printf("%-8s %-32s %-40s %s (%.0fs)\n", verdict, m.name, strings.Join(m.check, " "), detail, time.Since(start).Seconds())
	}
	fmt.Printf("%d of %d mutants caught\n", len(muts)-survived, len(muts))
	if survived > 0 {
		os.Exit(1)
	}
}

// parse reads the mutation file: blocks of "key: value" lines separated by
// blank lines; lines starting with # are comments.
func parse(path string) ([]mutation, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mutation
	var cur *mutation
	flush := func() error {
		if cur == nil {
			return nil
		}
		m := *cur
		cur = nil
		if m.name == "" || m.file == "" || m.old == "" || len(m.check) == 0 {
			return fmt.Errorf("%s:%d: a mutation needs name, file, old and check", path, m.line)
		}
		out = append(out, m)
		return nil
	}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if strings.TrimSpace(line) == "" {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%s:%d: %q is not \"key: value\"", path, n, line)
		}
		val = strings.TrimPrefix(val, " ")
		if cur == nil {
			cur = &mutation{line: n}
		}
		switch key {
		case "name":
			cur.name = val
		case "why":
			cur.why = val
		case "file":
			cur.file = val
		case "old":
			cur.old = val
		case "new":
			cur.new = val
		case "check":
			cur.check = strings.Fields(val)
		default:
			return nil, fmt.Errorf("%s:%d: unknown key %q", path, n, key)
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, sc.Err()
}

// run applies m through an overlay and runs its check; caught reports
// whether the check failed, as it must.
func run(m mutation, tmp string, seeds string, parallel int) (caught bool, detail string, err error) {
	src, err := os.ReadFile(m.file)
	if err != nil {
		return false, "", err
	}
	if c := strings.Count(string(src), m.old); c != 1 {
		return false, "", fmt.Errorf("%s: %q occurs %d times, want exactly once (the code moved: update the mutation)", m.file, m.old, c)
	}
	abs, err := filepath.Abs(m.file)
	if err != nil {
		return false, "", err
	}
	mutated := filepath.Join(tmp, m.name+".go")
	if err := os.WriteFile(mutated, []byte(strings.Replace(string(src), m.old, m.new, 1)), 0o644); err != nil {
		return false, "", err
	}
	overlay := filepath.Join(tmp, m.name+".json")
	ov, _ := json.Marshal(map[string]map[string]string{"Replace": {abs: mutated}})
	if err := os.WriteFile(overlay, ov, 0o644); err != nil {
		return false, "", err
	}
	switch m.check[0] {
	case "test":
		if len(m.check) != 3 {
			return false, "", errors.New("check: want \"test PKG REGEXP\"")
		}
		out, err := exec.Command("go", "test", "-count=1", "-overlay="+overlay, m.check[1], "-run", m.check[2]).CombinedOutput()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return false, "tests passed", nil
		case errors.As(err, &exit) && strings.Contains(string(out), "--- FAIL"):
			return true, "test failed: " + firstFail(string(out)), nil
		default:
			return false, "", fmt.Errorf("go test did not run: %v\n%s", err, out)
		}
	case "sweep":
		bin := filepath.Join(tmp, "castsim-"+m.name)
		if out, err := exec.Command("go", "build", "-overlay="+overlay, "-o", bin, "./cmd/castsim").CombinedOutput(); err != nil {
			return false, "", fmt.Errorf("build: %v\n%s", err, out)
		}
		defer os.Remove(bin)
		args := []string{"sweep", "--seeds", seeds, "--json"}
		if parallel > 0 {
			args = append(args, "--parallel", fmt.Sprint(parallel))
		}
		cmd := exec.Command(bin, args...)
		cmd.Dir = tmp // failing seeds leave their pictures here
		out, err := cmd.Output()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			return false, "", err
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		var sum struct {
			Seeds  uint64   `json:"seeds"`
			Failed []uint64 `json:"failed"`
		}
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
			return false, "", fmt.Errorf("castsim sweep printed no JSON summary: %v", err)
		}
		detail = fmt.Sprintf("%d of %d seeds failed", len(sum.Failed), sum.Seeds)
		if len(sum.Failed) > 0 {
			detail += fmt.Sprintf(" (first: %d)", sum.Failed[0])
		}
		return len(sum.Failed) > 0, detail, nil
	}
	return false, "", fmt.Errorf("check: unknown kind %q", m.check[0])
}

func firstFail(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "--- FAIL") {
			return strings.TrimSpace(strings.TrimPrefix(l, "--- FAIL:"))
		}
	}
	return ""
}
