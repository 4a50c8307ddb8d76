package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// With --profile DIR, castd dev serves Go's profiles (castd --pprof) and
// each castkv row's measured part is CPU-profiled into DIR/ROW.pprof (Go's
// profiles carry their symbols: `go tool pprof DIR/ROW.pprof`). The report then
// says where castd's CPU went in that row, by the categories below,
// through `go tool pprof` (so it needs the Go toolchain, as `go run` does).
//
// A category is the CPU time of samples whose stack holds a function
// matching its pattern; a sample may count in several (an apply inside
// the data role, a syscall inside the WAL writer), so the column does not
// sum to the total.

// profileCategory names where time goes, with the pprof -focus pattern
// that finds it.
type profileCategory struct{ name, focus string }

var profileCategories = []profileCategory{
	{"data role (every replica's Handle)", `data\.\(\*Server\)\.Handle$`},
	{"  evaluate and sequence commands (primary)", `data\.\(\*replica\)\.commit$`},
	{"  read the version a write replaces", `data\.\(\*replica\)\.replaces$`},
	{"  apply committed entries", `data\.\(\*replica\)\.apply$`},
	{"  append Prepares (secondaries)", `data\.\(\*replica\)\.prepare$`},
	{"api role", `api\.\(\*API\)\.Handle$`},
	{"RESP port (client connections)", `RESPServer|redcon\.|respConn`},
	{"pebble: memtable inserts", `pebble.*\(\*memTable\)\.apply$`},
	{"pebble: WAL writes", `record\.\(\*LogWriter\)\.flushLoop$`},
	{"pebble: flushes and compactions", `pebble.*\(\*DB\)\.(flush1|compact1|runCompaction)`},
	{"fsync (fdatasync)", `unix\.Fdatasync$|syscall\.Fsync$`},
	{"cluster transport: encode and send", `net\.encodeFrame$|net\.\(\*peer\)\.run$`},
	{"cluster transport: receive and decode", `net\.\(\*Transport\)\.read$`},
	{"protobuf marshal + unmarshal", `proto\.MarshalOptions\.marshal$|proto\.UnmarshalOptions\.unmarshal$`},
	{"syscalls (all)", `syscall\.RawSyscall6$`},
	{"memory allocation", `runtime\.mallocgc$`},
	{"garbage collection", `runtime\.gcBgMarkWorker$`},
	{"goroutine stack growth", `runtime\.newstack$`},
}

// profileRow fetches a CPU profile of castd over the seconds given from
// the pprof address into path.
func profileRow(ctx context.Context, pprofAddr string, seconds int, path string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(seconds+30)*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddr, seconds)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetch castd's CPU profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch castd's CPU profile: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// profileBreakdown is one row's CPU profile, by category.
type profileBreakdown struct {
	Row        string             `json:"row"`
	Path       string             `json:"path"`
	TotalSec   float64            `json:"total_sec"`
	Categories []profileCategoryT `json:"categories"`
}

type profileCategoryT struct {
	Name string  `json:"name"`
	Sec  float64 `json:"sec"`
}

var pprofTotalRE = regexp.MustCompile(`Showing nodes accounting for ([0-9.]+)(m?s), [0-9.]+% of ([0-9.]+)(m?s) total`)

// breakdown runs `go tool pprof` once per category over the profile.
func breakdown(ctx context.Context, row, path string) (*profileBreakdown, error) {
	b := &profileBreakdown{Row: row, Path: path}
	for _, c := range profileCategories {
		out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=1000000", "-focus", c.focus, path).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("go tool pprof %s: %w\n%s", path, err, out)
		}
		sec, total := 0.0, 0.0
		if m := pprofTotalRE.FindStringSubmatch(string(out)); m != nil {
			sec, total = seconds(m[1], m[2]), seconds(m[3], m[4])
		}
		if total > 0 {
			b.TotalSec = total
		}
		b.Categories = append(b.Categories, profileCategoryT{Name: c.name, Sec: sec})
	}
	return b, nil
}

func seconds(v, unit string) float64 {
	f, _ := strconv.ParseFloat(v, 64)
	if unit == "ms" {
		return f / 1000
	}
	return f
}

// formatBreakdowns renders the rows' profiles side by side: CPU seconds
// and each category's share of the row's total.
func formatBreakdowns(bs []*profileBreakdown) string {
	if len(bs) == 0 {
		return ""
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nwhere castd's CPU went (castbench --profile; a sample counts in every category on its stack; profiles in %s)\n\n",
		filepath.Dir(bs[0].Path))
	header := []string{"category"}
	for _, b := range bs {
		header = append(header, b.Row)
	}
	var cells [][]string
	total := []string{"total CPU"}
	for _, b := range bs {
		total = append(total, fmt.Sprintf("%.2fs", b.TotalSec))
	}
	cells = append(cells, total)
	for i, c := range profileCategories {
		line := []string{c.name}
		for _, b := range bs {
			v := b.Categories[i].Sec
			pct := 0.0
			if b.TotalSec > 0 {
				pct = 100 * v / b.TotalSec
			}
			line = append(line, fmt.Sprintf("%4.1f%%", pct))
		}
		cells = append(cells, line)
	}
	sb.WriteString(formatTable(header, cells))
	return sb.String()
}
