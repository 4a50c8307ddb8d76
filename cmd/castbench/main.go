// Command castbench is castkv's benchmark: it starts the servers itself, so
// anyone can run it on a fresh machine and get numbers that compare.
//
//	go run ./cmd/castbench [--duration 10s] [--conns 50] [--rows set,get/p16] [--json] [--keep] [--profile DIR]
//	go run ./cmd/castbench history [-n 1000000] [--keys 1000] [--value-bytes 100] [--json]
//	go run ./cmd/castbench scale [--steps 3:1,6:2,12:4] [--data-cpu 0.05] [--json]
//
// # Throughput (the default)
//
// castbench builds castd (or takes --castd), starts `castd dev` in a
// temporary directory on free ports and, when redis-server is on PATH, a
// redis-server in another, configured to be as durable as castkv: the AOF
// synced before every reply (--appendonly yes --appendfsync always; RDB
// snapshots off so that no fork lands in a row). Both get the same rows:
// SET, GET and MSET of 10 keys, each without pipelining and with 16
// commands in flight per connection, on 50 connections, 64-byte values,
// keys drawn uniformly from 100000 (redis-benchmark -r 100000). Before the
// GET rows the whole keyspace is written, so every GET finds its key. Each
// row runs a warmup, then a fixed duration (--duration) or command count
// (--requests), castkv first, then Redis. castkv's rows are for three
// replicas, each syncing its own log, all in one process on one disk;
// Redis's for one AOF.
//
// The client is castbench's own: a RESP writer that appends a connection's
// whole batch to one buffer and sends it with one Write, and a reader that
// reuses its buffer. A general client (go-redis) allocates a command
// object per call and goes through a connection pool; at 16 commands per
// batch and tens of thousands of commands a second that cost, on a machine
// the servers share with the client, would be charged to the servers. Both
// servers see exactly the same client.
//
// A command's latency runs from the Write of its batch to the arrival of
// its reply, so with pipelining it includes the commands ahead of it in
// the batch, as redis-benchmark measures. Latencies go to a log-linear
// histogram (hist.go) accurate to 1.6%; the table shows p50 and p99. A
// command counts once however many keys it has (an MSET is one), as in
// redis-benchmark; ops/s is the commands sent after the warmup over the
// time from the end of the warmup to their last reply. Error replies are
// counted apart and listed under the table, as are the warnings and
// config changes castd logged during a row (a replica removed mid-row
// would leave the rest of the row committing on two replicas).
//
// The server process's CPU time (user+system, /proc/PID/stat; cpu.go) per
// command answered is the column to compare across runs: ops/s depends on
// what else the machine runs, CPU per command hardly does.
//
// With --profile DIR each castkv row's measured part is CPU-profiled
// (castd --pprof) into DIR, and a second table says where castd's CPU
// went in each row, by category (profile.go).
//
// Fsyncs are counted with Linux perf when it is installed and allowed
// (fsync.go): the fsync and fdatasync calls of the whole server process
// during a row, divided by the commands it answered (warmup included). For
// castd dev that process holds meta and all three data servers.
//
// # History
//
// `castbench history` starts castd dev, issues -n SETs over --keys keys of
// --value-bytes bytes (8 connections, 32 in flight each), then reports the
// live data (keys × (key + value bytes)) beside the size of each role's
// directory under --data-dir (its pebble store: WAL, tables), stops castd
// with SIGTERM and starts it again on the same directory, timing process
// start to the first GET that returns a known key's last value. Then it
// stops castd again, wipes the directory of a data server that the newest
// config (read from castd's JSON log: no command shows it) lists as a
// secondary, starts castd once more and times start to two writes
// committed with that server still a secondary; under commit-all each
// such write is on it, and so is every entry before it.
//
// # Scale
//
// `castbench scale` starts, for each step of --steps, a cluster of
// separate processes (meta, N data servers, one API server) with each data
// server capped by a cgroup at --data-cpu of one CPU, and runs the rows on
// it: on one machine, the way to see whether throughput grows with data
// servers (scale.go).
//
// Exit status: 0 done, 1 a server or the benchmark failed, 2 bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usageText = `castbench measures castkv against Redis.

usage:
  castbench [flags]           throughput: castd dev and redis-server, same rows
  castbench history [flags]   disk use, restart and rejoin after a long write history
  castbench scale [flags]     throughput as data servers are added, each capped to a small machine's CPU
  castbench help

Flags of castbench (run 'castbench history -h' for history's):
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var err error
	switch {
	case len(args) > 0 && args[0] == "history":
		err = runHistory(ctx, args[1:], stdout, stderr)
	case len(args) > 0 && args[0] == "scale":
		err = runScale(ctx, args[1:], stdout, stderr)
	case len(args) > 0 && args[0] == "help":
		err = runThroughput(ctx, []string{"-h"}, stdout, stderr)
	default:
		err = runThroughput(ctx, args, stdout, stderr)
	}
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "castbench: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "castbench: %v\n", err)
		return 1
	}
}

type usageError struct{ error }

func usageErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err}
}
