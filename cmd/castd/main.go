// Command castd runs castkv's daemons: one role per subcommand.
//
//	castd meta --peer ADDR --data-dir DIR --data-servers A,B,C
//	castd data --peer ADDR --data-dir DIR --meta ADDR
//	castd api  --peer ADDR --data-dir DIR --meta ADDR --listen ADDR
//	castd dev  [--listen ADDR] [--data-dir DIR]
//
// dev runs a whole cluster (meta, three data servers, an API server) in one
// process on loopback and prints the client address.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // --pprof
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"castkv/actors"
	"castkv/actors/api"
	"castkv/actors/command"
	"castkv/actors/data"
	"castkv/actors/meta"
	"castkv/actors/wire"
	cnet "castkv/net"
	"github.com/cockroachdb/pebble/v2"
)

const usage = `castd runs castkv's daemons, one role per subcommand.

usage:
  castd dev  [--listen ADDR] [--data-dir DIR] [--peer-base PORT]
        a whole cluster in one process on loopback (3 meta, 3 data, api)
  castd meta --peer ADDR --data-dir DIR --data-servers ADDR,ADDR,ADDR
             [--meta-peers ADDR,ADDR,ADDR | --join]
  castd data --peer ADDR --data-dir DIR --meta ADDR,ADDR,ADDR
  castd api  --peer ADDR --data-dir DIR --meta ADDR,ADDR,ADDR --listen ADDR
  castd admin status|servers --meta ADDR,...
  castd admin drain|undrain|forget --meta ADDR,... --server ADDR
  castd admin split --meta ADDR,... --shard N [--slot S]
  castd admin meta-members|meta-add|meta-remove --meta ADDR,... [--member ADDR]

Run 'castd SUBCOMMAND -h' for every flag of a subcommand.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "meta":
		err = runMeta(args[1:], stderr)
	case "data":
		err = runData(args[1:], stderr)
	case "api":
		err = runAPI(args[1:], stderr)
	case "dev":
		err = runDev(args[1:], stdout, stderr)
	case "admin":
		err = runAdmin(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "castd: unknown subcommand %q\n\n%s", args[0], usage)
		return 2
	}
	var ue usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "castd %s: %v\n", args[0], err)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "castd %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

type usageError struct{ error }

// common are the flags every role has.
type common struct {
	peer, dataDir       string
	logLevel, logFormat string
	stateless           bool // no pebble store (the API server)
	pprof               string
	http                string
	web                 *httpServer // --http; nil without
	tls                 tlsFlags
	clusterTLS          *tls.Config // --tls-*; nil: plain TCP
	clientTLS           *tls.Config // the RESP port's (api, dev)
	fs                  *flag.FlagSet
}

func newFlags(name string, stderr io.Writer) *common {
	c := &common{fs: flag.NewFlagSet("castd "+name, flag.ContinueOnError)}
	c.fs.SetOutput(stderr)
	if name != "dev" {
		c.fs.StringVar(&c.peer, "peer", "", "cluster address host:port this role listens on; also its identity, so keep it stable across restarts")
	}
	c.fs.StringVar(&c.dataDir, "data-dir", "", "directory for this role's state")
	c.fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	c.fs.StringVar(&c.logFormat, "log-format", "text", "text or json")
	c.fs.StringVar(&c.pprof, "pprof", "", "serve Go's profiles (net/http/pprof) on this address, e.g. 127.0.0.1:6060; empty: off")
	c.fs.StringVar(&c.http, "http", "", "serve /metrics (Prometheus), /healthz and /readyz on this address, e.g. 127.0.0.1:9100; empty: off")
	c.tls.register(c.fs, name == "api" || name == "dev")
	return c
}

func (c *common) parse(args []string, required ...string) error {
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if c.fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", c.fs.Args())}
	}
	for _, name := range required {
		if f := c.fs.Lookup(name); f == nil || f.Value.String() == "" {
			return usageError{fmt.Errorf("--%s is required", name)}
		}
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return usageError{fmt.Errorf("--log-format must be text or json, not %q", c.logFormat)}
	}
	if c.pprof != "" {
		ln, err := net.Listen("tcp", c.pprof)
		if err != nil {
			return usageError{fmt.Errorf("--pprof: %v", err)}
		}
		go func() { _ = http.Serve(ln, nil) }() // pprof registers on the default mux
	}
	var err error
	if c.clusterTLS, c.clientTLS, err = c.tls.configs(); err != nil {
		return err
	}
	if c.http != "" {
		if c.web, err = startHTTP(c.http); err != nil {
			return err
		}
	}
	return nil
}

func (c *common) logger(stderr io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level: %v", err)}
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(stderr, opts)), nil
	}
	return slog.New(slog.NewTextHandler(stderr, opts)), nil
}

func roleAddr(hostport, role string) actors.Addr { return actors.Addr(hostport + "/" + role) }

// metaTimes are meta's timing flags and the new cluster's shard count,
// shared by meta and dev. The defaults are the meta role's own
// (actors/meta Config).
type metaTimes struct {
	lease, failTimeout, election, replaceAfter, balanceEvery time.Duration
	shards                                                   int
	splitBytes                                               uint64
	splitOps                                                 float64
	maxShards                                                int
	txnLifetime                                              time.Duration
}

func (m *metaTimes) register(fs *flag.FlagSet) {
	fs.IntVar(&m.shards, "shards", 1, "how many shards a new cluster splits the 16384 hash slots into, each on three data servers; read when the meta group is first started, ignored after. MSET and DEL over keys of several shards are transactions, and MGET and EXISTS read them at one timestamp; keys that share a {hash tag} share a shard, which is cheaper")
	fs.DurationVar(&m.lease, "lease", 2*time.Second, "primary lease length")
	fs.DurationVar(&m.election, "election-timeout", 500*time.Millisecond, "a meta member that hears nothing from the meta leader for this long (plus up to as much again) stands for election; keep it well under --lease, or a meta leader's failure outlasts the primaries' leases")
	fs.DurationVar(&m.failTimeout, "fail-timeout", time.Second, "a data server that sends no heartbeat for this long is suspect; a suspect primary gets no more leases and is replaced")
	fs.DurationVar(&m.replaceAfter, "replace-after", 30*time.Second, "a learner whose data server sends no heartbeat for this long leaves its shard, so a spare data server (a registered one holding no replica of the shard) can take its place; silent secondaries are removed by their primary (castd data --remove-after)")
	fs.DurationVar(&m.balanceEvery, "balance-every", time.Second, "the balancer moves at most one replica or primary this often, towards an even share on every live data server (and off drained ones)")
	fs.Uint64Var(&m.splitBytes, "split-bytes", 0, "split a shard in two once its keys and values pass this many bytes (0: never by size; castd admin split splits by hand)")
	fs.Float64Var(&m.splitOps, "split-ops", 0, "split a shard in two once its primary serves more than this many commands a second (0: never by load)")
	fs.IntVar(&m.maxShards, "max-shards", 1024, "the splits of --split-bytes and --split-ops stop at this many shards")
	fs.DurationVar(&m.txnLifetime, "txn-lifetime", time.Minute, "a write across shards that takes longer than this to lock its keys starts again; the record of a transaction whose API server died is dropped this long after it began, once no lock of it is left")
}

// parseMetaList parses a comma-separated list of meta members' cluster
// addresses (host:port).
func parseMetaList(flagName, list string) ([]actors.Addr, error) {
	var out []actors.Addr
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if _, _, err := net.SplitHostPort(s); err != nil {
				return nil, usageError{fmt.Errorf("--%s: %q is not host:port", flagName, s)}
			}
			out = append(out, roleAddr(s, "meta"))
		}
	}
	if len(out) == 0 {
		return nil, usageError{fmt.Errorf("--%s names no meta member", flagName)}
	}
	return out, nil
}

func (m *metaTimes) config(dataServers []actors.Addr) (meta.Config, error) {
	if err := positive("lease", m.lease); err != nil {
		return meta.Config{}, err
	}
	if err := positive("fail-timeout", m.failTimeout); err != nil {
		return meta.Config{}, err
	}
	if err := positive("election-timeout", m.election); err != nil {
		return meta.Config{}, err
	}
	if err := positive("replace-after", m.replaceAfter); err != nil {
		return meta.Config{}, err
	}
	if err := positive("balance-every", m.balanceEvery); err != nil {
		return meta.Config{}, err
	}
	if err := positive("txn-lifetime", m.txnLifetime); err != nil {
		return meta.Config{}, err
	}
	if m.shards < 1 || m.shards > command.Slots {
		return meta.Config{}, usageError{fmt.Errorf("--shards %d: want 1 to %d (one slot each at most)", m.shards, command.Slots)}
	}
	if m.splitOps < 0 || m.maxShards < 1 || m.maxShards > command.Slots {
		return meta.Config{}, usageError{fmt.Errorf("--split-ops %v, --max-shards %d: want a rate of 0 or more and 1 to %d shards", m.splitOps, m.maxShards, command.Slots)}
	}
	return meta.Config{DataServers: dataServers, LeaseTimeout: m.lease, FailTimeout: m.failTimeout, ElectionTimeout: m.election, Shards: m.shards,
		ReplaceAfter: m.replaceAfter, BalanceEvery: m.balanceEvery, SplitBytes: m.splitBytes, SplitOpsPerSecond: m.splitOps, MaxShards: m.maxShards,
		TxnLifetime: m.txnLifetime}, nil
}

// dataTimes are the data role's timing flags, shared by data and dev. The
// default is the data role's own (actors/data Config).
type dataTimes struct{ removeAfter time.Duration }

func (d *dataTimes) register(fs *flag.FlagSet) {
	fs.DurationVar(&d.removeAfter, "remove-after", time.Second, "a primary asks meta to remove a secondary that made no progress for this long")
}

func (d *dataTimes) config(metas []actors.Addr) (data.Config, error) {
	if err := positive("remove-after", d.removeAfter); err != nil {
		return data.Config{}, err
	}
	return data.Config{Meta: metas, RemoveAfter: d.removeAfter}, nil
}

// positive refuses a zero or negative duration flag: the roles would take
// zero for "use the default", and a negative one makes no sense.
func positive(name string, d time.Duration) error {
	if d <= 0 {
		return usageError{fmt.Errorf("--%s must be positive, not %v", name, d)}
	}
	return nil
}

func runMeta(args []string, stderr io.Writer) error {
	c := newFlags("meta", stderr)
	servers := c.fs.String("data-servers", "", "comma-separated cluster addresses (host:port) of the data servers; the first is the first primary")
	peers := c.fs.String("meta-peers", "", "comma-separated cluster addresses (host:port) of the meta group's first members, this one included, the same list on each; empty: a group of one")
	join := c.fs.Bool("join", false, "start with no state and wait to be added to a running meta group (castd admin meta-add)")
	var times metaTimes
	times.register(c.fs)
	if err := c.parse(args, "peer", "data-dir", "data-servers"); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	var ds []actors.Addr
	for _, s := range strings.Split(*servers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			ds = append(ds, roleAddr(s, "data"))
		}
	}
	cfg, err := times.config(ds)
	if err != nil {
		return err
	}
	cfg.Join = *join
	if *peers != "" {
		if cfg.Peers, err = parseMetaList("meta-peers", *peers); err != nil {
			return err
		}
		if self := roleAddr(c.peer, "meta"); !*join && !slices.Contains(cfg.Peers, self) {
			return usageError{fmt.Errorf("--meta-peers must include this member's --peer %s", c.peer)}
		}
	}
	return serve(c, log, func(p *cnet.Process, db *pebble.DB) (func(), error) {
		p.Spawn("meta", meta.New(cfg), db)
		log.Info("meta started", "peer", p.Addr(), "data_servers", *servers, "meta_peers", *peers, "join", *join)
		return nil, nil
	})
}

func runData(args []string, stderr io.Writer) error {
	c := newFlags("data", stderr)
	metaAddr := c.fs.String("meta", "", "comma-separated cluster addresses (host:port) of the meta group's members")
	var times dataTimes
	times.register(c.fs)
	if err := c.parse(args, "peer", "data-dir", "meta"); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	metas, err := parseMetaList("meta", *metaAddr)
	if err != nil {
		return err
	}
	cfg, err := times.config(metas)
	if err != nil {
		return err
	}
	return serve(c, log, func(p *cnet.Process, db *pebble.DB) (func(), error) {
		p.Spawn("data", data.New(cfg), db)
		log.Info("data server started", "peer", p.Addr(), "meta", *metaAddr)
		return nil, nil
	})
}

// apiFlags are the API server's client-port flags.
type apiFlags struct {
	listen, requirePass       string
	requirePassFile           string
	maxValueBytes, maxClients int
	maxPipeline               int
	clientMemoryBytes         int
	idleTimeout               time.Duration
	requestTimeout            time.Duration
	enableFlush               bool
}

func (a *apiFlags) register(fs *flag.FlagSet, defaultListen string, flush bool) {
	fs.StringVar(&a.listen, "listen", defaultListen, "client (RESP) address host:port")
	fs.StringVar(&a.requirePass, "requirepass", "", "password clients must AUTH with; empty: none. It shows in ps: prefer --requirepass-file or $"+requirePassEnv)
	fs.StringVar(&a.requirePassFile, "requirepass-file", "", "file whose first line is the password clients must AUTH with")
	fs.IntVar(&a.maxValueBytes, "max-value-bytes", maxValueBytes, "largest bulk string a client may send (at most 64 MiB, which the cluster's 80 MiB frames carry)")
	fs.IntVar(&a.maxClients, "max-clients", 10000, "most client connections at once")
	fs.IntVar(&a.maxPipeline, "max-pipeline", 1024, "most commands of one connection read and not yet answered; beyond it the port stops reading that connection")
	fs.IntVar(&a.clientMemoryBytes, "client-memory-bytes", 512<<20, "memory budget for every connection's unanswered commands and unsent replies together (Redis's maxmemory-clients); at least --max-value-bytes")
	fs.DurationVar(&a.idleTimeout, "idle-timeout", 0, "close client connections idle this long (0: never, as Redis)")
	fs.DurationVar(&a.requestTimeout, "request-timeout", 8*time.Second, fmt.Sprintf("how long the API server retries a command before it answers -TRYAGAIN (or -UNCERTAIN for a write); at most %v", maxRequestTimeout))
	fs.BoolVar(&a.enableFlush, "enable-flush", flush, "allow FLUSHALL and FLUSHDB")
}

// maxValueBytes is the largest value a client may send: the cluster
// transport's frames (80 MiB by default) must carry it with its command.
const maxValueBytes = 64 << 20

// maxRequestTimeout keeps the API's own answer ahead of the client port's
// 30 s command timeout (net.RESPConfig.CommandTimeout), which could only
// say that the outcome is unknown.
const maxRequestTimeout = 25 * time.Second

// check refuses flag values the API role cannot run with, before anything
// starts.
// requirePassEnv names the environment variable that can hold the
// password, kept out of the command line (and so out of ps).
const requirePassEnv = "CASTKV_REQUIREPASS"

func (a *apiFlags) check() error {
	env := os.Getenv(requirePassEnv)
	given := 0
	for _, s := range []string{a.requirePass, a.requirePassFile, env} {
		if s != "" {
			given++
		}
	}
	if given > 1 {
		return usageError{fmt.Errorf("give the password one way: --requirepass, --requirepass-file or $%s", requirePassEnv)}
	}
	switch {
	case a.requirePassFile != "":
		b, err := os.ReadFile(a.requirePassFile)
		if err != nil {
			return usageError{fmt.Errorf("--requirepass-file: %v", err)}
		}
		line, _, _ := strings.Cut(string(b), "\n")
		if a.requirePass = strings.TrimSuffix(line, "\r"); a.requirePass == "" {
			return usageError{fmt.Errorf("--requirepass-file: %s's first line is empty", a.requirePassFile)}
		}
	case env != "":
		a.requirePass = env
	}
	if a.maxValueBytes <= 0 || a.maxValueBytes > maxValueBytes {
		return usageError{fmt.Errorf("--max-value-bytes must be between 1 and %d, not %d", maxValueBytes, a.maxValueBytes)}
	}
	if a.maxPipeline <= 0 {
		return usageError{fmt.Errorf("--max-pipeline must be positive, not %d", a.maxPipeline)}
	}
	if a.clientMemoryBytes < a.maxValueBytes {
		return usageError{fmt.Errorf("--client-memory-bytes %d is below --max-value-bytes %d: the largest value could never be read", a.clientMemoryBytes, a.maxValueBytes)}
	}
	if a.requestTimeout <= 0 || a.requestTimeout > maxRequestTimeout {
		return usageError{fmt.Errorf("--request-timeout must be positive and at most %v, not %v", maxRequestTimeout, a.requestTimeout)}
	}
	return nil
}

// startAPI spawns the API role and its client port.
func startAPI(p *cnet.Process, metas []actors.Addr, a *apiFlags, log *slog.Logger, web *httpServer, clientTLS *tls.Config) (*cnet.RESPServer, error) {
	apiAddr := p.Spawn("api", api.New(api.Config{Meta: metas, RequestTimeout: a.requestTimeout, DisableFlush: !a.enableFlush}), nil)
	gw := p.Gateway("resp", apiAddr)
	srv, err := cnet.ListenRESP(cnet.RESPConfig{
		Addr: a.listen, MaxValueBytes: a.maxValueBytes, MaxClients: a.maxClients,
		MaxPipeline: a.maxPipeline, ClientMemoryBytes: a.clientMemoryBytes,
		IdleTimeout: a.idleTimeout, RequirePass: a.requirePass, Gateway: gw, Logger: log,
		Stats: func() map[string]string { return keyspace(gw) }, Metrics: web.metricsOf(), TLS: clientTLS,
	})
	if err == nil {
		web.setReady(apiReady(gw))
	}
	return srv, err
}

// keyspace is INFO's keyspace section, from DBSIZE.
func keyspace(gw cnet.Gateway) map[string]string {
	call := func(args ...string) (*wire.Reply, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		argv := make([][]byte, len(args))
		for i, a := range args {
			argv[i] = []byte(a)
		}
		return cnet.Call(ctx, gw, argv)
	}
	out := map[string]string{"cluster.cluster_enabled": "0"} // one endpoint, no MOVED: not Redis Cluster
	if r, err := call("CLUSTER", "INFO"); err == nil && r.Kind == wire.Reply_BULK {
		// castkv's shards as this API server's map has them (CLUSTER INFO).
		names := map[string]string{"cluster_state": "castkv_state", "cluster_size": "castkv_shards",
			"cluster_slots_ok": "castkv_slots_ok", "cluster_known_nodes": "castkv_data_servers",
			"cluster_current_epoch": "castkv_newest_config_version"}
		for _, line := range strings.Split(string(r.Bulk), "\r\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && names[k] != "" {
				out["cluster."+names[k]] = v
			}
		}
	}
	if r, err := call("DBSIZE"); err == nil && r.Kind == wire.Reply_INT {
		out["db0"] = fmt.Sprintf("keys=%d,expires=0,avg_ttl=0", r.Int)
	}
	return out
}

func runAPI(args []string, stderr io.Writer) error {
	c := newFlags("api", stderr)
	metaAddr := c.fs.String("meta", "", "comma-separated cluster addresses (host:port) of the meta group's members")
	var a apiFlags
	a.register(c.fs, "", false)
	if err := c.parse(args, "peer", "data-dir", "meta", "listen"); err != nil {
		return err
	}
	if err := a.check(); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	metas, err := parseMetaList("meta", *metaAddr)
	if err != nil {
		return err
	}
	// The API server keeps no state: --data-dir only has to exist.
	c.stateless = true
	return serve(c, log, func(p *cnet.Process, _ *pebble.DB) (func(), error) {
		srv, err := startAPI(p, metas, &a, log, c.web, c.clientTLS)
		if err != nil {
			return nil, err
		}
		log.Info("api started", "peer", p.Addr(), "listen", srv.Addr(), "meta", *metaAddr)
		return func() { srv.Close() }, nil
	})
}

// serve runs one role until a signal, then shuts down cleanly: client port
// first, then the actors, then the store.
func serve(c *common, log *slog.Logger, start func(*cnet.Process, *pebble.DB) (func(), error)) error {
	var db *pebble.DB
	if c.stateless {
		if err := os.MkdirAll(c.dataDir, 0o755); err != nil {
			return fmt.Errorf("create data dir: %w", err)
		}
	} else {
		var err error
		if db, err = openStore(c.dataDir, log); err != nil {
			return err
		}
	}
	closeDB := func() error {
		if db == nil {
			return nil
		}
		return closeStore(db)
	}
	p, err := cnet.NewProcess(cnet.ProcessConfig{PeerAddr: c.peer, Logger: log, Metrics: c.web.metricsOf(), Transport: cnet.TransportConfig{TLS: c.clusterTLS}})
	if err != nil {
		closeDB()
		return err
	}
	stop, err := start(p, db)
	if err != nil {
		p.Stop()
		closeDB()
		return err
	}
	if !c.stateless {
		c.web.setReady(func(context.Context) error { return nil }) // a data or meta role serves once started
	}
	waitForSignal(log)
	if stop != nil {
		stop()
	}
	p.Stop()
	return closeDB()
}

// castd dev runs three meta members, three data servers and one API server.
const devMetas, devDatas = 3, 3

func runDev(args []string, stdout, stderr io.Writer) error {
	c := newFlags("dev", stderr)
	base := c.fs.Int("peer-base", 17380, "first of seven loopback cluster ports (meta1-3, data1-3, api)")
	var a apiFlags
	a.register(c.fs, "127.0.0.1:7379", true)
	var mt metaTimes
	mt.register(c.fs)
	var dt dataTimes
	dt.register(c.fs)
	c.fs.Lookup("data-dir").DefValue = "./castkv-data"
	if err := c.parse(args); err != nil {
		return err
	}
	if err := a.check(); err != nil {
		return err
	}
	if c.dataDir == "" {
		c.dataDir = "./castkv-data"
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	host := "127.0.0.1"
	addr := func(i int) string { return fmt.Sprintf("%s:%d", host, *base+i) }
	var metaAddrs, dataAddrs []actors.Addr
	for i := 0; i < devMetas; i++ {
		metaAddrs = append(metaAddrs, roleAddr(addr(i), "meta"))
	}
	for i := 0; i < devDatas; i++ {
		dataAddrs = append(dataAddrs, roleAddr(addr(devMetas+i), "data"))
	}
	metaCfg, err := mt.config(dataAddrs)
	if err != nil {
		return err
	}
	metaCfg.Peers = metaAddrs
	dataCfg, err := dt.config(metaAddrs)
	if err != nil {
		return err
	}
	// Seven processes' worth of roles, each on its own cluster port, so
	// every message crosses the real transport as in a deployment.
	var procs []*cnet.Process
	var dbs []*pebble.DB
	cleanup := func() {
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].Stop()
		}
		for _, db := range dbs {
			closeStore(db)
		}
	}
	spawn := func(i int, role, dir string, node actors.Node) error {
		db, err := openStore(filepath.Join(c.dataDir, dir), log)
		if err != nil {
			return err
		}
		dbs = append(dbs, db)
		p, err := cnet.NewProcess(cnet.ProcessConfig{PeerAddr: addr(i), Logger: log.With("node", dir), Metrics: c.web.metricsOf(), Transport: cnet.TransportConfig{TLS: c.clusterTLS}})
		if err != nil {
			return err
		}
		procs = append(procs, p)
		p.Spawn(role, node, db)
		return nil
	}
	for i := 0; i < devMetas; i++ {
		if err := spawn(i, "meta", fmt.Sprintf("meta%d", i+1), meta.New(metaCfg)); err != nil {
			cleanup()
			return err
		}
	}
	for i := 0; i < devDatas; i++ {
		if err := spawn(devMetas+i, "data", fmt.Sprintf("data%d", i+1), data.New(dataCfg)); err != nil {
			cleanup()
			return err
		}
	}
	p, err := cnet.NewProcess(cnet.ProcessConfig{PeerAddr: addr(devMetas + devDatas), Logger: log.With("node", "api"), Metrics: c.web.metricsOf(), Transport: cnet.TransportConfig{TLS: c.clusterTLS}})
	if err != nil {
		cleanup()
		return err
	}
	procs = append(procs, p)
	srv, err := startAPI(p, metaAddrs, &a, log, c.web, c.clientTLS)
	if err != nil {
		cleanup()
		return err
	}
	fmt.Fprintf(stdout, "castkv dev cluster ready: redis-cli -p %s (data in %s)\n", portOf(srv.Addr()), c.dataDir)
	log.Info("dev cluster started", "listen", srv.Addr(), "data_dir", c.dataDir)
	waitForSignal(log)
	srv.Close()
	cleanup()
	return nil
}

func portOf(hostport string) string {
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		return hostport[i+1:]
	}
	return hostport
}
