package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// target is a server a row runs against.
type target struct {
	name    string
	addr    string
	srv     *server     // nil when castbench did not start it
	cluster *devCluster // castd dev's log events; nil otherwise
}

type throughputFlags struct {
	w                   workload
	rows                string
	keep, json, noRedis bool
	addr, redisAddr     string
	castd, castdFlags   string
	profileDir          string
}

func runThroughput(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f throughputFlags
	fs := flag.NewFlagSet("castbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	fs.DurationVar(&f.w.duration, "duration", 10*time.Second, "measured time of each row on each server")
	fs.Int64Var(&f.w.requests, "requests", 0, "measured commands per row on each server instead of --duration (0: use --duration)")
	fs.DurationVar(&f.w.warmup, "warmup", time.Second, "unmeasured run before each row")
	fs.IntVar(&f.w.conns, "conns", 50, "client connections, each with one pipeline in flight")
	fs.IntVar(&f.w.keyspace, "keyspace", 100000, "keys are drawn uniformly from this many (redis-benchmark -r)")
	fs.IntVar(&f.w.valueBytes, "value-bytes", 64, "bytes per value")
	fs.DurationVar(&f.w.timeout, "timeout", 30*time.Second, "a batch not answered within this fails the run")
	fs.StringVar(&f.rows, "rows", "all", "comma-separated rows ("+rowNames(allRows)+") or commands (set, get, mset)")
	fs.BoolVar(&f.keep, "keep", false, "keep the temporary directory (data dirs, logs, castd binary)")
	fs.BoolVar(&f.json, "json", false, "print one JSON object instead of the table")
	fs.StringVar(&f.addr, "addr", "", "bench the castkv server at this address instead of starting castd dev (overwrites its keys key:*, as redis-benchmark does)")
	fs.StringVar(&f.redisAddr, "redis-addr", "", "compare with the Redis at this address instead of starting redis-server")
	fs.BoolVar(&f.noRedis, "no-redis", false, "castkv only")
	fs.StringVar(&f.castd, "castd", "", "castd binary (default: go build ./cmd/castd)")
	fs.StringVar(&f.castdFlags, "castd-flags", "", "extra flags for castd dev, space-separated (e.g. \"--remove-after 5s\")")
	fs.StringVar(&f.profileDir, "profile", "", "CPU-profile castd in each castkv row into this directory and report where its time went (profile.go)")
	if err := fs.Parse(args); err != nil {
		return usageErr(err)
	}
	if fs.NArg() > 0 {
		return usageErr(fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	rows, err := selectRows(f.rows)
	if err != nil {
		return usageErr(err)
	}
	w := f.w
	switch {
	case w.conns <= 0, w.keyspace <= 0, w.valueBytes < 0, w.warmup < 0, w.timeout <= 0, w.requests < 0:
		return usageErr(errors.New("--conns, --keyspace and --timeout must be positive; --value-bytes, --warmup and --requests not negative"))
	case w.requests == 0 && w.duration <= 0:
		return usageErr(errors.New("--duration must be positive (or give --requests)"))
	}
	progress := func(format string, a ...any) { fmt.Fprintf(stderr, "castbench: "+format+"\n", a...) }

	tmp, cleanup, err := tempDir("castbench-", f.keep, progress)
	if err != nil {
		return err
	}
	defer cleanup()
	var pprofAddr string
	if f.profileDir != "" {
		if f.addr != "" || w.requests > 0 || w.duration < time.Second {
			return usageErr(errors.New("--profile needs castd started by castbench (no --addr) and a --duration of 1s or more"))
		}
		if err := os.MkdirAll(f.profileDir, 0o755); err != nil {
			return err
		}
		port, err := freePorts(1)
		if err != nil {
			return err
		}
		pprofAddr = fmt.Sprintf("127.0.0.1:%d", port)
		f.castdFlags = strings.TrimSpace(f.castdFlags + " --pprof " + pprofAddr)
	}

	rep := throughputReport{
		Mode: "throughput", Conns: w.conns, Keyspace: w.keyspace, ValueBytes: w.valueBytes,
		WarmupSec: w.warmup.Seconds(), Requests: w.requests, Machine: machine(), LoadStart: loadAverage(),
	}
	if w.requests == 0 {
		rep.DurationSec = w.duration.Seconds()
	}

	ck, info, err := setupCastkv(ctx, f, tmp, progress)
	if ck != nil {
		defer stopQuietly(ck.srv)
	}
	if err != nil {
		return err
	}
	rep.Castkv = info
	targets := []*target{ck}
	rd, rinfo, note, err := setupRedis(ctx, f, tmp, progress)
	if rd != nil {
		defer stopQuietly(rd.srv)
	}
	if err != nil {
		return err
	}
	rep.Redis, rep.RedisNote = rinfo, note
	if rd != nil {
		targets = append(targets, rd)
	}

	var counter *fsyncCounter
	rep.FsyncCounting = "not counted: no server was started by castbench"
	if ck.srv != nil || (rd != nil && rd.srv != nil) {
		var why string
		counter, why = newFsyncCounter(ctx)
		if counter != nil {
			// perf may count a child it starts but not attach to a
			// running process (perf_event_paranoid): try once.
			first := ck.srv
			if first == nil {
				first = rd.srv
			}
			if err := counter.check(first.pid()); err != nil {
				counter, why = nil, err.Error()
			}
		}
		if counter != nil {
			rep.FsyncCounting = "perf"
		} else {
			rep.FsyncCounting = "not counted: " + why
		}
	}

	// GET rows read keys that exist: write the whole keyspace first.
	for _, r := range rows {
		if r.cmd != "GET" {
			continue
		}
		rep.Prefill = &prefillReport{}
		for _, t := range targets {
			progress("%s: writing all %d keys for the GET rows", t.name, w.keyspace)
			begin := time.Now()
			if err := prefill(ctx, t.addr, w); err != nil {
				return err
			}
			if t == ck {
				rep.Prefill.CastkvSec = time.Since(begin).Seconds()
			} else {
				rep.Prefill.RedisSec = time.Since(begin).Seconds()
			}
		}
		break
	}

	for _, r := range rows {
		rr := rowReport{Row: r.name, Command: r.cmd, Pipeline: r.pipeline}
		for _, t := range targets {
			progress("%s: %s", t.name, r.name)
			var profiled chan error
			path := filepath.Join(f.profileDir, strings.ReplaceAll(r.name, "/", "-")+".pprof")
			if t == ck && pprofAddr != "" {
				profiled = make(chan error, 1)
				go func() {
					select {
					case <-time.After(w.warmup):
						profiled <- profileRow(ctx, pprofAddr, int(w.duration.Seconds()), path)
					case <-ctx.Done():
						profiled <- ctx.Err()
					}
				}()
			}
			sr, err := measure(ctx, t, r, w, counter)
			if profiled != nil {
				if perr := <-profiled; perr != nil && err == nil {
					err = perr
				}
			}
			if err != nil {
				return err
			}
			if profiled != nil {
				b, err := breakdown(ctx, r.name, path)
				if err != nil {
					return err
				}
				rep.Profiles = append(rep.Profiles, b)
			}
			if t == ck {
				rr.Castkv = sr
			} else {
				rr.Redis = sr
			}
		}
		if rr.Redis != nil && rr.Redis.OpsPerSec > 0 {
			ratio := rr.Castkv.OpsPerSec / rr.Redis.OpsPerSec
			rr.Ratio = &ratio
		}
		rep.Rows = append(rep.Rows, rr)
	}

	// A clean stop is part of the result: a castd that hangs on SIGTERM
	// is a bug worth seeing.
	for _, t := range targets {
		if t.srv == nil {
			continue
		}
		took, err := t.srv.stop()
		if err != nil {
			return err
		}
		if t == ck {
			rep.Castkv.StopSec = took.Seconds()
		} else {
			rep.Redis.StopSec = took.Seconds()
		}
	}

	rep.LoadEnd = loadAverage()
	return emit(stdout, f.json, rep, func() string { return formatThroughput(rep) + formatBreakdowns(rep.Profiles) })
}

// setupCastkv starts castd dev in tmp, or checks the server at --addr.
func setupCastkv(ctx context.Context, f throughputFlags, tmp string, progress func(string, ...any)) (*target, targetInfo, error) {
	if f.addr != "" {
		if err := probe(ctx, f.addr); err != nil {
			return nil, targetInfo{}, fmt.Errorf("castkv at --addr %s: %w", f.addr, err)
		}
		return &target{name: "castkv", addr: f.addr}, targetInfo{Addr: f.addr}, nil
	}
	bin := f.castd
	if bin == "" {
		progress("building castd")
		var err error
		if bin, err = buildCastd(ctx, tmp); err != nil {
			return nil, targetInfo{}, err
		}
	}
	dataDir := filepath.Join(tmp, "castkv")
	cluster, err := newDevCluster(bin, dataDir, tmp, strings.Fields(f.castdFlags))
	if err != nil {
		return nil, targetInfo{}, err
	}
	srv, err := cluster.start()
	if err != nil {
		return nil, targetInfo{}, err
	}
	t := &target{name: "castkv", addr: cluster.listen, srv: srv, cluster: cluster}
	if _, err := waitServing(ctx, srv, readyTimeout, func() error { return probe(ctx, t.addr) }); err != nil {
		return t, targetInfo{}, fmt.Errorf("castd dev on %s: %w", t.addr, err)
	}
	info := targetInfo{Addr: t.addr, Started: true, Binary: bin, Config: strings.TrimSpace("castd dev " + f.castdFlags),
		DataDir: dataDir, FS: fsType(dataDir)}
	progress("castd dev serving on %s, data in %s (%s)", t.addr, dataDir, info.FS)
	return t, info, nil
}

// setupRedis starts redis-server from PATH in tmp, or checks the one at
// --redis-addr; with neither (or --no-redis) the target is nil and note
// says why.
func setupRedis(ctx context.Context, f throughputFlags, tmp string, progress func(string, ...any)) (t *target, info *targetInfo, note string, err error) {
	switch {
	case f.noRedis:
		return nil, nil, "redis: skipped (--no-redis), castkv only", nil
	case f.redisAddr != "":
		if err := probe(ctx, f.redisAddr); err != nil {
			return nil, nil, "", fmt.Errorf("redis at --redis-addr %s: %w", f.redisAddr, err)
		}
		return &target{name: "redis", addr: f.redisAddr}, &targetInfo{Addr: f.redisAddr},
			"redis: " + f.redisAddr + " (not started by castbench; its durability settings are its own)", nil
	}
	path, version, err := redisServer(ctx)
	if err != nil {
		if path == "" {
			return nil, nil, "redis-server: not found, castkv only", nil
		}
		return nil, nil, "", err
	}
	dir := filepath.Join(tmp, "redis")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, "", err
	}
	srv, addr, err := startRedis(path, dir)
	if err != nil {
		return nil, nil, "", err
	}
	t = &target{name: "redis", addr: addr, srv: srv}
	if _, err := waitServing(ctx, srv, readyTimeout, func() error { return probe(ctx, addr) }); err != nil {
		return t, nil, "", fmt.Errorf("redis-server on %s: %w", addr, err)
	}
	info = &targetInfo{Addr: addr, Started: true, Binary: path, Version: version,
		Config: "redis-server " + strings.Join(quoteEmpty(redisArgs), " "), DataDir: dir, FS: fsType(dir)}
	progress("redis-server serving on %s, data in %s (%s)", addr, dir, info.FS)
	return t, info, fmt.Sprintf("redis-server: %s (%s)", path, version), nil
}

// measure runs one row on one target, counting the server's fsyncs when it
// can.
func measure(ctx context.Context, t *target, r row, w workload, counter *fsyncCounter) (*serverRow, error) {
	var session *fsyncSession
	if counter != nil && t.srv != nil {
		var err error
		if session, err = counter.start(t.srv.pid()); err != nil {
			return nil, fmt.Errorf("count %s's fsyncs: %w", t.name, err)
		}
	}
	cpuBefore := -1.0
	if t.srv != nil {
		if c, err := processCPUSeconds(t.srv.pid()); err == nil {
			cpuBefore = c
		}
	}
	begin := time.Now()
	res, err := runRow(ctx, t.addr, r, w)
	end := time.Now()
	cpuAfter := -1.0
	if cpuBefore >= 0 {
		if c, err := processCPUSeconds(t.srv.pid()); err == nil {
			cpuAfter = c
		}
	}
	var fsyncs int64
	if session != nil {
		var serr error
		if fsyncs, serr = session.stop(); serr != nil && err == nil {
			err = fmt.Errorf("count %s's fsyncs: %w", t.name, serr)
		}
	}
	if err != nil {
		if t.srv != nil {
			if gone := t.srv.exitedErr(); gone != nil {
				err = fmt.Errorf("%w\n%v", err, gone)
			}
		}
		return nil, fmt.Errorf("%s: %w", t.name, err)
	}
	sr := newServerRow(res)
	if cpuAfter >= cpuBefore && cpuBefore >= 0 && res.total > 0 {
		per := (cpuAfter - cpuBefore) / float64(res.total) * 1e6
		sr.CPUMicrosPerOp = &per
	}
	if session != nil {
		sr.Fsyncs = &fsyncs
		if res.total > 0 {
			per := float64(fsyncs) / float64(res.total)
			sr.FsyncsPerOp = &per
		}
	}
	if t.cluster != nil {
		for _, e := range t.cluster.events.between(begin, end) {
			sr.Events = append(sr.Events, e.String())
		}
	}
	return sr, nil
}

func machine() string {
	return fmt.Sprintf("%s %s/%s, %d CPUs", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
}

// quoteEmpty shows empty arguments as "" on a command line.
func quoteEmpty(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" {
			a = `""`
		}
		out[i] = a
	}
	return out
}

// stopQuietly stops s if it still runs, on a path that already failed.
func stopQuietly(s *server) {
	if s != nil && s.exitedErr() == nil {
		s.stop()
	}
}
