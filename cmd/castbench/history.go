package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// `castbench history` measures what a long write history costs castkv:
// the disk it takes next to the data that is live, how long a restart
// takes to serve again, and how long a wiped data server takes to rejoin.

// historyKeyBytes is the length of every key: "hist:" and 8 digits.
const historyKeyBytes = 13

// maxEventLines bounds the castd log events the table quotes.
const maxEventLines = 5

// historyBatchTimeout bounds the wait for one batch's replies.
const historyBatchTimeout = time.Minute

func historyKey(i int) string { return fmt.Sprintf("hist:%08d", i) }

type historyReport struct {
	Mode          string        `json:"mode"` // "history"
	Sets          int64         `json:"sets"`
	Keys          int           `json:"keys"`
	KeyBytes      int           `json:"key_bytes"`
	ValueBytes    int           `json:"value_bytes"`
	Conns         int           `json:"conns"`
	Pipeline      int           `json:"pipeline"`
	Machine       string        `json:"machine"`
	LoadStart     string        `json:"load_start"` // 1-minute load average when castbench started
	LoadEnd       string        `json:"load_end"`   // and when it finished
	DataDir       string        `json:"data_dir"`
	FS            string        `json:"fs"`
	FirstStartSec float64       `json:"first_start_seconds"` // empty data dir to serving
	WriteSec      float64       `json:"write_seconds"`
	SetsPerSec    float64       `json:"sets_per_sec"`
	Errors        int64         `json:"errors"`
	FirstError    string        `json:"first_error,omitempty"`
	WriteEvents   []string      `json:"write_events,omitempty"` // castd's warnings and config changes during the writes
	LiveBytes     int64         `json:"live_bytes"`             // keys × (key bytes + value bytes)
	Dirs          []dirReport   `json:"dirs"`
	StopSec       float64       `json:"stop_seconds"` // SIGTERM to exit, after the writes
	Restart       restartReport `json:"restart"`
	Join          *joinReport   `json:"join,omitempty"`
	JoinSkipped   string        `json:"join_skipped,omitempty"`
}

// dirReport is one role's directory under --data-dir.
type dirReport struct {
	Name         string   `json:"name"`
	AfterWrites  dirUsage `json:"after_writes"`  // stopped after the writes
	AfterRestart dirUsage `json:"after_restart"` // stopped again after one restart
}

type dirUsage struct {
	Bytes     int64 `json:"bytes"`      // sum of file sizes
	DiskBytes int64 `json:"disk_bytes"` // blocks allocated (pebble preallocates its WAL)
	WALBytes  int64 `json:"wal_bytes"`  // *.log
	SSTBytes  int64 `json:"sst_bytes"`  // *.sst
	Files     int   `json:"files"`
}

type restartReport struct {
	ListeningSec float64  `json:"listening_seconds"` // process start to the client port accepting
	ServingSec   float64  `json:"serving_seconds"`   // process start to GET of the known key returning its last value
	Key          string   `json:"key"`
	Events       []string `json:"events,omitempty"` // castd's warnings and config changes until serving
}

type historyFlags struct {
	sets              int64
	keys, valueBytes  int
	conns, pipeline   int
	keep, json, join  bool
	castd, castdFlags string
	wait              time.Duration
}

func runHistory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f historyFlags
	fs := flag.NewFlagSet("castbench history", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Int64Var(&f.sets, "n", 1000000, "SETs to issue")
	fs.IntVar(&f.keys, "keys", 1000, "distinct keys the SETs cycle over")
	fs.IntVar(&f.valueBytes, "value-bytes", 100, "bytes per value")
	fs.IntVar(&f.conns, "conns", 8, "client connections")
	fs.IntVar(&f.pipeline, "pipeline", 32, "SETs in flight per connection (at most keys/conns, so a batch never holds a key twice)")
	fs.BoolVar(&f.keep, "keep", false, "keep the temporary directory (data dirs, logs, castd binary)")
	fs.BoolVar(&f.json, "json", false, "print one JSON object instead of the table")
	fs.BoolVar(&f.join, "join", true, "also wipe a secondary's directory and time its rejoin")
	fs.StringVar(&f.castd, "castd", "", "castd binary (default: go build ./cmd/castd)")
	fs.StringVar(&f.castdFlags, "castd-flags", "", "extra flags for castd dev, space-separated")
	fs.DurationVar(&f.wait, "wait", 5*time.Minute, "longest wait for castd dev to serve after a (re)start")
	if err := fs.Parse(args); err != nil {
		return usageErr(err)
	}
	if fs.NArg() > 0 {
		return usageErr(fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if f.sets <= 0 || f.keys <= 0 || f.keys > 1e8 || f.valueBytes <= 0 || f.conns <= 0 || f.pipeline <= 0 || f.wait <= 0 {
		return usageErr(errors.New("-n, --keys (at most 10^8), --value-bytes, --conns, --pipeline and --wait must be positive"))
	}
	f.conns = min(f.conns, f.keys)
	f.pipeline = min(f.pipeline, f.keys/f.conns)
	progress := func(format string, a ...any) { fmt.Fprintf(stderr, "castbench history: "+format+"\n", a...) }

	tmp, bin, cleanup, err := workspace(ctx, "castbench-history-", f.castd, f.keep, progress)
	if err != nil {
		return err
	}
	defer cleanup()
	dataDir := filepath.Join(tmp, "castkv")
	cluster, err := newDevCluster(bin, dataDir, tmp, strings.Fields(f.castdFlags))
	if err != nil {
		return err
	}
	rep := historyReport{
		Mode: "history", Sets: f.sets, Keys: f.keys, KeyBytes: historyKeyBytes, ValueBytes: f.valueBytes,
		Conns: f.conns, Pipeline: f.pipeline, Machine: machine(), LoadStart: loadAverage(), DataDir: dataDir,
		LiveBytes: int64(f.keys) * int64(historyKeyBytes+f.valueBytes),
	}
	addr := cluster.listen

	// Run 1: the writes.
	srv, err := cluster.start()
	if err != nil {
		return err
	}
	defer func() { stopQuietly(srv) }()
	ready, err := waitServing(ctx, srv, f.wait, func() error { return probe(ctx, addr) })
	if err != nil {
		return fmt.Errorf("castd dev on %s: %w", addr, err)
	}
	rep.FirstStartSec = ready.Sub(srv.started).Seconds()
	rep.FS = fsType(dataDir)
	progress("castd dev serving on %s after %s, data in %s (%s); writing %d SETs", addr, formatSeconds(ready.Sub(srv.started)), dataDir, rep.FS, f.sets)
	wr, err := writeHistory(ctx, addr, f, func(done int64) { progress("%d of %d SETs", done, f.sets) })
	if err != nil {
		return errors.Join(err, srv.exitedErr())
	}
	rep.WriteSec, rep.Errors, rep.FirstError = wr.elapsed.Seconds(), wr.errors, wr.firstError
	for _, e := range cluster.events.between(ready, time.Now()) {
		rep.WriteEvents = append(rep.WriteEvents, e.String())
	}
	rep.SetsPerSec = float64(f.sets-wr.errors) / wr.elapsed.Seconds()
	// The known key's last value: a SET of its own after every other one
	// was answered.
	key := historyKey(0)
	last := make([]byte, f.valueBytes)
	fillValue(rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0)), last)
	if err := setOnce(ctx, addr, key, string(last)); err != nil {
		return err
	}
	took, err := srv.stop()
	if err != nil {
		return err
	}
	rep.StopSec = took.Seconds()
	for _, name := range dataDirNames {
		u, err := usage(filepath.Join(dataDir, name))
		if err != nil {
			return err
		}
		rep.Dirs = append(rep.Dirs, dirReport{Name: name, AfterWrites: u})
	}

	// Run 2: restart to serving.
	progress("restarting castd dev on the same directory")
	rep.Restart.Key = key
	if srv, err = cluster.start(); err != nil {
		return err
	}
	var listening time.Time
	served, err := waitServing(ctx, srv, f.wait, func() error {
		c, err := dial(ctx, addr, probeTimeout)
		if err != nil {
			return err
		}
		defer c.Close()
		if listening.IsZero() {
			listening = time.Now()
		}
		return expectValue(c, key, string(last))
	})
	if err != nil {
		return fmt.Errorf("castd dev after restart: %w", err)
	}
	rep.Restart.ListeningSec = listening.Sub(srv.started).Seconds()
	rep.Restart.ServingSec = served.Sub(srv.started).Seconds()
	for _, e := range cluster.events.between(srv.started, served) {
		rep.Restart.Events = append(rep.Restart.Events, e.String())
	}
	if _, err := srv.stop(); err != nil {
		return err
	}
	for i, name := range dataDirNames {
		u, err := usage(filepath.Join(dataDir, name))
		if err != nil {
			return err
		}
		rep.Dirs[i].AfterRestart = u
	}

	// Run 3: a wiped secondary rejoins.
	if !f.join {
		rep.JoinSkipped = "--join=false"
	} else {
		progress("wiping a secondary's directory and restarting")
		if rep.Join, err = timeJoin(ctx, cluster, f.wait, key, string(last)); err != nil {
			return err
		}
	}

	rep.LoadEnd = loadAverage()
	return emit(stdout, f.json, rep, func() string { return formatHistory(rep) })
}

// expectValue checks that GET key returns want.
func expectValue(c *client, key, want string) error {
	r, err := c.do(probeTimeout*5, "GET", key)
	if err != nil {
		return err
	}
	if r.kind != '$' || string(r.str) != want {
		return fmt.Errorf("GET %s = %.40v, want the last value written", key, r)
	}
	return nil
}

func setOnce(ctx context.Context, addr, key, value string) error {
	c, err := dial(ctx, addr, probeTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.doOK(probeTimeout*5, "SET", key, value)
}

type writeResult struct {
	elapsed    time.Duration
	errors     int64
	firstError string
}

// writeHistory issues f.sets SETs over f.keys keys. Connection c owns the
// keys i with i mod conns = c and cycles through them, f.pipeline at a
// time, so no batch holds a key twice and each key's last value is the
// one its connection sent last.
func writeHistory(ctx context.Context, addr string, f historyFlags, report func(done int64)) (writeResult, error) {
	conns, err := dialAll(ctx, addr, f.conns, probeTimeout)
	if err != nil {
		return writeResult{}, err
	}
	defer closeAll(conns)
	var done, errCount atomic.Int64
	var firstError atomic.Value
	errs := make([]error, len(conns))
	stopReports := make(chan struct{})
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				report(done.Load())
			case <-stopReports:
				return
			}
		}
	}()
	begin := time.Now()
	var wg sync.WaitGroup
	for ci, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var own [][]byte
			for k := ci; k < f.keys; k += len(conns) {
				own = append(own, []byte(historyKey(k)))
			}
			n := f.sets / int64(len(conns))
			if int64(ci) < f.sets%int64(len(conns)) {
				n++
			}
			rng := rand.New(rand.NewPCG(uint64(ci)+1, 0x68697374))
			value := make([]byte, f.valueBytes)
			var out []byte
			next := 0
			for n > 0 && ctx.Err() == nil {
				batch := int(min(int64(f.pipeline), n))
				out = out[:0]
				for range batch {
					fillValue(rng, value)
					out = appendCommand(out, []byte("SET"), own[next], value)
					next = (next + 1) % len(own)
				}
				c.conn.SetDeadline(time.Now().Add(historyBatchTimeout))
				if err := c.send(out); err != nil {
					errs[ci] = err
					return
				}
				for range batch {
					r, err := c.rr.read()
					if err != nil {
						errs[ci] = err
						return
					}
					if r.isError() {
						errCount.Add(1)
						firstError.CompareAndSwap(nil, string(r.str))
					}
				}
				n -= int64(batch)
				done.Add(int64(batch))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(begin)
	close(stopReports)
	<-reported
	if err := ctx.Err(); err != nil {
		return writeResult{}, err
	}
	if err := errors.Join(errs...); err != nil {
		return writeResult{}, fmt.Errorf("SETs on %s: %w", addr, err)
	}
	res := writeResult{elapsed: elapsed, errors: errCount.Load()}
	if s, ok := firstError.Load().(string); ok {
		res.firstError = s
	}
	return res, nil
}

// usage sums the files under dir, telling pebble's WAL (*.log) and tables
// (*.sst) apart.
func usage(dir string) (dirUsage, error) {
	var u dirUsage
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		u.Files++
		u.Bytes += fi.Size()
		u.DiskBytes += diskBytes(fi)
		switch filepath.Ext(path) {
		case ".log":
			u.WALBytes += fi.Size()
		case ".sst":
			u.SSTBytes += fi.Size()
		}
		return nil
	})
	if err != nil {
		return dirUsage{}, fmt.Errorf("size of %s: %w", dir, err)
	}
	return u, nil
}

func formatHistory(rep historyReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "castbench history: %s SETs over %s keys of %d bytes (%d connections, pipeline %d) in %s: %s SETs/s, %d errors; %s\n",
		formatRate(float64(rep.Sets)), formatRate(float64(rep.Keys)), rep.ValueBytes, rep.Conns, rep.Pipeline,
		formatSeconds(secs(rep.WriteSec)), formatRate(rep.SetsPerSec), rep.Errors, rep.Machine)
	fmt.Fprintf(&b, "load average %s at start, %s at end\n", rep.LoadStart, rep.LoadEnd)
	if rep.FirstError != "" {
		fmt.Fprintf(&b, "first error: %s\n", rep.FirstError)
	}
	if n := len(rep.WriteEvents); n > 0 {
		changes := 0
		for _, e := range rep.WriteEvents {
			if strings.Contains(e, "config change") {
				changes++
			}
		}
		fmt.Fprintf(&b, "during the writes castd logged %d events, %d of them config changes (all in --json); the first %d:\n", n, changes, min(n, maxEventLines))
		for _, e := range rep.WriteEvents[:min(n, maxEventLines)] {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	fmt.Fprintf(&b, "live data: %s (%s keys × (%d + %d bytes)); castd dev data on %s\n\n",
		formatBytes(rep.LiveBytes), formatRate(float64(rep.Keys)), rep.KeyBytes, rep.ValueBytes, rep.FS)
	header := []string{"dir", "size", "wal", "sst", "on disk", "size/live", "after restart", "size/live"}
	var cells [][]string
	for _, d := range rep.Dirs {
		a, r := d.AfterWrites, d.AfterRestart
		cells = append(cells, []string{d.Name, formatBytes(a.Bytes), formatBytes(a.WALBytes), formatBytes(a.SSTBytes),
			formatBytes(a.DiskBytes), ratio(a.Bytes, rep.LiveBytes), formatBytes(r.Bytes), ratio(r.Bytes, rep.LiveBytes)})
	}
	b.WriteString(formatTable(header, cells))
	b.WriteString("(size: sum of file sizes after the writes and a clean stop; on disk: blocks allocated)\n\n")
	rows := [][]string{
		{"first start, empty dir, to serving", formatSeconds(secs(rep.FirstStartSec))},
		{"stop after the writes (SIGTERM to exit)", formatSeconds(secs(rep.StopSec))},
		{"restart: process start to client port open", formatSeconds(secs(rep.Restart.ListeningSec))},
		{"restart: process start to GET " + rep.Restart.Key + " = last value", formatSeconds(secs(rep.Restart.ServingSec))},
	}
	if j := rep.Join; j != nil {
		if j.Error == "" {
			rows = append(rows, []string{fmt.Sprintf("join: %s wiped; start to 2 writes committed with it a secondary", j.Server), formatSeconds(secs(j.ServingSec))})
		} else {
			rows = append(rows, []string{fmt.Sprintf("join: %s wiped", j.Server), "failed"})
		}
	}
	b.WriteString(formatTable([]string{"event", "took"}, rows))
	for _, e := range rep.Restart.Events {
		fmt.Fprintf(&b, "restart: castd logged %s\n", e)
	}
	if j := rep.Join; j != nil {
		if j.Error != "" {
			fmt.Fprintf(&b, "join failed: %s\n", j.Error)
		}
		fmt.Fprintf(&b, "join: %s's directory afterwards: %s\n", j.Server, formatBytes(j.Bytes))
		for _, e := range j.Events {
			fmt.Fprintf(&b, "join: castd logged %s\n", e)
		}
	} else if rep.JoinSkipped != "" {
		fmt.Fprintf(&b, "join: skipped (%s)\n", rep.JoinSkipped)
	}
	return b.String()
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func ratio(n, of int64) string {
	if of <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f×", float64(n)/float64(of))
}
