package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// `castbench scale`: does throughput grow with data servers?
//
// On one machine it cannot by itself: every data server shares the same
// CPUs, so a cluster of twelve has no more CPU than a cluster of three.
// scale gives each data server a CPU of its own size instead: each runs as
// its own process in its own cgroup, capped at --data-cpu of one CPU (a
// small machine), while meta (a group of one) and one API server run
// uncapped beside them. Each step of --steps starts a fresh cluster of
// that many data servers and shards (meta's --shards; the balancer spreads
// replicas and primaries evenly), runs the rows and stops it. If castkv
// scales, ops/s grows with the data servers until something uncapped (the
// API server, the client, the machine's two CPUs) runs out; the table says
// how much of their cap the data servers used and how long they were
// throttled, so a row that did not grow shows where it stopped.

type scaleFlags struct {
	w             workload
	steps         string
	rows          string
	dataCPU       float64
	connsPerShard int
	settle        time.Duration
	castd         string
	keep, json    bool
}

type scaleStep struct {
	Servers int `json:"data_servers"`
	Shards  int `json:"shards"`
}

type scaleReport struct {
	Mode          string          `json:"mode"` // "scale"
	DataCPU       float64         `json:"data_cpu"`
	ConnsPerShard int             `json:"conns_per_shard"`
	Keyspace      int             `json:"keyspace"`
	ValueBytes    int             `json:"value_bytes"`
	WarmupSec     float64         `json:"warmup_seconds"`
	DurationSec   float64         `json:"duration_seconds"`
	Machine       string          `json:"machine"`
	FS            string          `json:"fs"`
	LoadStart     string          `json:"load_start"`
	LoadEnd       string          `json:"load_end"`
	Steps         []scaleStepRows `json:"steps"`
}

type scaleStepRows struct {
	scaleStep
	Conns    int     `json:"conns"`
	ReadySec float64 `json:"ready_seconds"` // processes started to every shard serving
	// IdleDataCPU is what the data servers used, in CPUs, while no client
	// wrote (the settle wait): heartbeats, leases, ticks, the runtime.
	IdleDataCPU float64       `json:"idle_data_cpus"`
	PrefillSec  float64       `json:"prefill_seconds,omitempty"`
	Rows        []scaleRowRep `json:"rows"`
}

type scaleRowRep struct {
	Row        string  `json:"row"`
	OpsPerSec  float64 `json:"ops_per_sec"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	// Speedup is ops/s over the first step's ops/s in the same row.
	Speedup float64 `json:"speedup,omitempty"`
	// DataCPU is the CPU the data servers used over the row, in CPUs, and
	// DataCap what their caps allowed them (servers × --data-cpu).
	DataCPU float64 `json:"data_cpus"`
	DataCap float64 `json:"data_cap_cpus,omitempty"`
	// Throttled is the share of the scheduler periods in which a data
	// server ran that it used up its cap and waited for the next.
	Throttled float64 `json:"throttled_share,omitempty"`
	APICPU    float64 `json:"api_cpus"`
	MetaCPU   float64 `json:"meta_cpus"`
	ClientCPU float64 `json:"client_cpus"` // castbench itself
	// MachineCPU is what the whole machine was busy, in CPUs.
	MachineCPU float64 `json:"machine_cpus"`
}

func parseSteps(spec string) ([]scaleStep, error) {
	var steps []scaleStep
	for _, s := range strings.Split(spec, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		servers, shards, ok := strings.Cut(s, ":")
		n, err1 := strconv.Atoi(servers)
		k, err2 := strconv.Atoi(shards)
		if !ok || err1 != nil || err2 != nil || n < 3 || k < 1 {
			return nil, fmt.Errorf("step %q: want DATASERVERS:SHARDS with at least 3 data servers (each shard has three replicas) and 1 shard, e.g. 3:1", s)
		}
		steps = append(steps, scaleStep{Servers: n, Shards: k})
	}
	if len(steps) == 0 {
		return nil, errors.New("--steps names no step")
	}
	return steps, nil
}

func runScale(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f scaleFlags
	fs := flag.NewFlagSet("castbench scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.steps, "steps", "3:1,6:2,12:4", "comma-separated DATASERVERS:SHARDS, one fresh cluster each")
	fs.Float64Var(&f.dataCPU, "data-cpu", 0.05, "each data server's CPU cap, in CPUs (cgroup; needs root); 0: no caps")
	fs.StringVar(&f.rows, "rows", "set/p1,get/p1,mset/p1,msettag/p1", "comma-separated rows ("+rowNames(allRows)+")")
	fs.DurationVar(&f.w.duration, "duration", 10*time.Second, "measured time of each row")
	fs.DurationVar(&f.w.warmup, "warmup", 2*time.Second, "unmeasured run before each row")
	fs.DurationVar(&f.settle, "settle", 3*time.Second, "wait this long after every shard serves, for the balancer's first moves")
	fs.IntVar(&f.connsPerShard, "conns-per-shard", 50, "client connections per shard, each with one pipeline in flight: the clients grow with the cluster, or a bigger cluster only waits for them")
	fs.IntVar(&f.w.keyspace, "keyspace", 20000, "keys are drawn uniformly from this many")
	fs.IntVar(&f.w.valueBytes, "value-bytes", 64, "bytes per value")
	fs.DurationVar(&f.w.timeout, "timeout", 30*time.Second, "a batch not answered within this fails the run")
	fs.StringVar(&f.castd, "castd", "", "castd binary (default: go build ./cmd/castd)")
	fs.BoolVar(&f.keep, "keep", false, "keep the temporary directory (data dirs, logs)")
	fs.BoolVar(&f.json, "json", false, "print one JSON object instead of the table")
	if err := fs.Parse(args); err != nil {
		return usageErr(err)
	}
	if fs.NArg() > 0 {
		return usageErr(fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	steps, err := parseSteps(f.steps)
	if err != nil {
		return usageErr(err)
	}
	rows, err := selectRows(f.rows)
	if err != nil {
		return usageErr(err)
	}
	if f.connsPerShard <= 0 || f.w.keyspace <= 0 || f.w.duration <= 0 || f.w.timeout <= 0 || f.dataCPU < 0 {
		return usageErr(errors.New("--conns-per-shard, --keyspace, --duration and --timeout must be positive, --data-cpu not negative"))
	}
	progress := func(format string, a ...any) { fmt.Fprintf(stderr, "castbench scale: "+format+"\n", a...) }
	tmp, bin, cleanup, err := workspace(ctx, "castbench-scale-", f.castd, f.keep, progress)
	if err != nil {
		return err
	}
	defer cleanup()
	rep := scaleReport{
		Mode: "scale", DataCPU: f.dataCPU, ConnsPerShard: f.connsPerShard, Keyspace: f.w.keyspace, ValueBytes: f.w.valueBytes,
		WarmupSec: f.w.warmup.Seconds(), DurationSec: f.w.duration.Seconds(), Machine: machine(),
		FS: fsType(tmp), LoadStart: loadAverage(),
	}
	for i, st := range steps {
		dir := filepath.Join(tmp, fmt.Sprintf("step%d", i+1))
		sr, err := runScaleStep(ctx, bin, dir, st, rows, f, progress)
		if err != nil {
			return fmt.Errorf("%d data servers, %d shards: %w", st.Servers, st.Shards, err)
		}
		for j := range sr.Rows {
			if i > 0 && j < len(rep.Steps[0].Rows) && rep.Steps[0].Rows[j].OpsPerSec > 0 {
				sr.Rows[j].Speedup = sr.Rows[j].OpsPerSec / rep.Steps[0].Rows[j].OpsPerSec
			}
		}
		rep.Steps = append(rep.Steps, *sr)
	}
	rep.LoadEnd = loadAverage()
	return emit(stdout, f.json, rep, func() string { return formatScale(rep) })
}

// scaleCluster is one step's processes.
type scaleCluster struct {
	meta, api *server
	data      []*server
	caps      []*cpuCap
	listen    string
}

func (c *scaleCluster) all() []*server {
	return append([]*server{c.meta, c.api}, c.data...)
}

// exitedErr says which process of the cluster exited, if one did.
func (c *scaleCluster) exitedErr() error {
	for _, s := range c.all() {
		if s != nil {
			if err := s.exitedErr(); err != nil {
				return err
			}
		}
	}
	return nil
}

// stop stops every process, then removes the cgroups they ran in.
func (c *scaleCluster) stop() error {
	var errs []error
	for _, s := range c.all() {
		if s != nil && s.exitedErr() == nil {
			if _, err := s.stop(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, cp := range c.caps {
		if err := cp.remove(); err != nil {
			errs = append(errs, fmt.Errorf("remove cgroup: %w", err))
		}
	}
	return errors.Join(errs...)
}

func startScaleCluster(bin, dir string, st scaleStep, dataCPU float64) (*scaleCluster, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	base, err := freePorts(st.Servers + 3) // meta, data servers, api's cluster port, client port
	if err != nil {
		return nil, err
	}
	addr := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", base+i) }
	metaAddr := addr(0)
	var dataAddrs []string
	for i := 1; i <= st.Servers; i++ {
		dataAddrs = append(dataAddrs, addr(i))
	}
	c := &scaleCluster{listen: addr(st.Servers + 2)}
	start := func(name string, args ...string) (*server, error) {
		args = append(args, "--data-dir", filepath.Join(dir, name), "--log-format", "json")
		return startServer(name, filepath.Join(dir, name+".log"), exec.Command(bin, args...), nil)
	}
	if c.meta, err = start("meta", "meta", "--peer", metaAddr, "--data-servers", strings.Join(dataAddrs, ","),
		"--shards", strconv.Itoa(st.Shards)); err != nil {
		return c, err
	}
	for i, a := range dataAddrs {
		name := fmt.Sprintf("data%d", i+1)
		var cp *cpuCap
		if dataCPU > 0 {
			if cp, err = newCPUCap(fmt.Sprintf("castbench-%d-%s", os.Getpid(), name), dataCPU); err != nil {
				return c, err
			}
			c.caps = append(c.caps, cp)
		}
		s, err := start(name, "data", "--peer", a, "--meta", metaAddr)
		if err != nil {
			return c, err
		}
		c.data = append(c.data, s)
		if cp != nil {
			if err := cp.add(s.pid()); err != nil {
				return c, fmt.Errorf("put %s in its cgroup: %w", name, err)
			}
		}
	}
	c.api, err = start("api", "api", "--peer", addr(st.Servers+1), "--meta", metaAddr, "--listen", c.listen)
	return c, err
}

// probeShards writes keys spread over the keyspace (and so, with
// overwhelming odds, over every shard) and fails unless all are written.
func probeShards(ctx context.Context, addr string, keyspace int) error {
	c, err := dial(ctx, addr, probeTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	const probes = 64
	for i := range probes {
		key := string(appendKey(nil, i*keyspace/probes))
		if err := c.doOK(probeTimeout, "SET", key, "probe"); err != nil {
			return fmt.Errorf("SET %s: %w", key, err)
		}
	}
	return nil
}

// cpuOf is the CPU seconds the processes have used so far.
func cpuOf(ss ...*server) (float64, error) {
	total := 0.0
	for _, s := range ss {
		v, err := processCPUSeconds(s.pid())
		if err != nil {
			return 0, fmt.Errorf("%s's CPU time: %w", s.name, err)
		}
		total += v
	}
	return total, nil
}

// cpuSample is the CPU seconds each part of a step had used at one moment,
// and its caps' scheduler periods: a row's figures are two samples apart.
type cpuSample struct {
	data, api, meta, client, machine float64
	periods, throttled               int64
}

func (c *scaleCluster) sample() (cpuSample, error) {
	var s cpuSample
	var errs [6]error
	s.data, errs[0] = cpuOf(c.data...)
	s.api, errs[1] = cpuOf(c.api)
	s.meta, errs[2] = cpuOf(c.meta)
	s.periods, s.throttled, errs[3] = periodsOf(c.caps)
	s.client, errs[4] = processCPUSeconds(os.Getpid())
	s.machine, errs[5] = machineBusySeconds()
	return s, errors.Join(errs[:]...)
}

// periodsOf sums the scheduler periods of the caps: ran and throttled.
func periodsOf(caps []*cpuCap) (ran, throttled int64, err error) {
	for _, c := range caps {
		r, t, err := c.periods()
		if err != nil {
			return 0, 0, err
		}
		ran, throttled = ran+r, throttled+t
	}
	return ran, throttled, nil
}

func runScaleStep(ctx context.Context, bin, dir string, st scaleStep, rows []row, f scaleFlags, progress func(string, ...any)) (*scaleStepRows, error) {
	progress("%d data servers (each capped at %.2f CPU), %d shards: starting", st.Servers, f.dataCPU, st.Shards)
	began := time.Now()
	c, err := startScaleCluster(bin, dir, st, f.dataCPU)
	defer func() {
		if c != nil {
			c.stop()
		}
	}()
	if err != nil {
		return nil, err
	}
	check := func() error {
		if err := c.exitedErr(); err != nil {
			return err
		}
		return probeShards(ctx, c.listen, f.w.keyspace)
	}
	if _, err := waitServing(ctx, nil, readyTimeout, check); err != nil {
		return nil, err
	}
	sr := &scaleStepRows{scaleStep: st, Conns: f.connsPerShard * st.Shards, ReadySec: time.Since(began).Seconds()}
	w := f.w
	w.conns = sr.Conns
	idleFrom, err := cpuOf(c.data...)
	if err != nil {
		return nil, err
	}
	idleBegan := time.Now()
	select {
	case <-time.After(f.settle):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	idleTo, err := cpuOf(c.data...)
	if err != nil {
		return nil, err
	}
	sr.IdleDataCPU = (idleTo - idleFrom) / time.Since(idleBegan).Seconds()
	if _, err := waitServing(ctx, nil, readyTimeout, check); err != nil {
		return nil, err
	}
	for _, r := range rows {
		if r.cmd == "GET" {
			progress("writing all %d keys for the GET rows", f.w.keyspace)
			begin := time.Now()
			// Few connections: prefill pipelines 160 SETs on each, and a
			// capped primary handed thousands at once answers them late.
			pw := w
			pw.conns = min(pw.conns, 4)
			if err := prefill(ctx, c.listen, pw); err != nil {
				return nil, err
			}
			sr.PrefillSec = time.Since(begin).Seconds()
			break
		}
	}
	for _, r := range rows {
		progress("%d data servers, %d shards: %s", st.Servers, st.Shards, r.name)
		before, err := c.sample()
		if err != nil {
			return nil, err
		}
		begin := time.Now()
		res, err := runRow(ctx, c.listen, r, w)
		wall := time.Since(begin).Seconds()
		if err != nil {
			if gone := c.exitedErr(); gone != nil {
				err = fmt.Errorf("%w\n%v", err, gone)
			}
			return nil, err
		}
		after, err := c.sample()
		if err != nil {
			return nil, err
		}
		rr := scaleRowRep{
			Row: r.name, OpsPerSec: res.opsPerSec(), P50Ms: ms(res.hist.quantile(0.50)), P99Ms: ms(res.hist.quantile(0.99)),
			Errors: res.errors, FirstError: res.firstError,
			DataCPU: (after.data - before.data) / wall, APICPU: (after.api - before.api) / wall, MetaCPU: (after.meta - before.meta) / wall,
			ClientCPU: (after.client - before.client) / wall, MachineCPU: (after.machine - before.machine) / wall,
		}
		if f.dataCPU > 0 {
			rr.DataCap = f.dataCPU * float64(st.Servers)
			if ran := after.periods - before.periods; ran > 0 {
				rr.Throttled = float64(after.throttled-before.throttled) / float64(ran)
			}
		}
		sr.Rows = append(sr.Rows, rr)
	}
	err = c.stop()
	c = nil
	return sr, err
}

func formatScale(rep scaleReport) string {
	var b strings.Builder
	caps := "data servers uncapped (they share the machine's CPUs)"
	if rep.DataCPU > 0 {
		caps = fmt.Sprintf("each data server capped at %.2f CPU (cgroup)", rep.DataCPU)
	}
	fmt.Fprintf(&b, "castbench scale: %s; meta (one member) and one API server uncapped; %v measured per row after %v warmup; %d connections per shard; keys from %d; %d-byte values; data on %s; %s\n",
		caps, secs(rep.DurationSec), secs(rep.WarmupSec), rep.ConnsPerShard, rep.Keyspace, rep.ValueBytes, rep.FS, rep.Machine)
	fmt.Fprintf(&b, "load average %s at start, %s at end\n\n", rep.LoadStart, rep.LoadEnd)
	header := []string{"data servers", "shards", "conns", "row", "ops/s", "p50", "p99", "vs first", "data CPU", "throttled", "api CPU", "meta CPU", "client CPU", "machine", "errors"}
	var rows [][]string
	for _, st := range rep.Steps {
		for _, r := range st.Rows {
			speedup := "1.00×"
			if r.Speedup > 0 {
				speedup = fmt.Sprintf("%.2f×", r.Speedup)
			}
			data := fmt.Sprintf("%.2f", r.DataCPU)
			throttled := "-"
			if r.DataCap > 0 {
				data = fmt.Sprintf("%.2f of %.2f", r.DataCPU, r.DataCap)
				throttled = fmt.Sprintf("%.0f%%", 100*r.Throttled)
			}
			rows = append(rows, []string{
				strconv.Itoa(st.Servers), strconv.Itoa(st.Shards), strconv.Itoa(st.Conns), r.Row, formatRate(r.OpsPerSec),
				formatMs(msDuration(r.P50Ms)), formatMs(msDuration(r.P99Ms)), speedup, data, throttled,
				fmt.Sprintf("%.2f", r.APICPU), fmt.Sprintf("%.2f", r.MetaCPU), fmt.Sprintf("%.2f", r.ClientCPU),
				fmt.Sprintf("%.2f of %d", r.MachineCPU, runtime.NumCPU()), strconv.FormatInt(r.Errors, 10),
			})
		}
	}
	b.WriteString(formatTable(header, rows))
	for _, st := range rep.Steps {
		fmt.Fprintf(&b, "%d data servers idle (no client, %d shards): data CPU %.2f\n", st.Servers, st.Shards, st.IdleDataCPU)
	}
	b.WriteString("\nCPU columns are CPUs used over the row (1.00: one CPU busy). \"throttled\": of the scheduler periods a data server ran in, the share in which it used up its cap and waited; \"machine\": every process's CPU, castkv's and others'.\n")
	for _, st := range rep.Steps {
		for _, r := range st.Rows {
			if r.Errors > 0 {
				fmt.Fprintf(&b, "%d data servers, %s: %d errors, the first: %s\n", st.Servers, r.Row, r.Errors, r.FirstError)
			}
		}
	}
	return b.String()
}
