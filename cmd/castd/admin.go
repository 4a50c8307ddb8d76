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
	"strings"
	"time"

	"castkv/actors"
	"castkv/actors/cluster"
	"castkv/actors/command"
	"castkv/actors/wire"
	cnet "castkv/net"
)

const adminUsage = `castd admin shows the cluster map and changes the meta group and the data servers.

usage:
  castd admin status       --meta ADDR,...                list the shards (slots, version, replicas) and the data servers
  castd admin servers      --meta ADDR,...                list the data servers: state, replicas and primaries held
  castd admin drain        --meta ADDR,... --server ADDR  move every replica off a data server, before stopping it
  castd admin undrain      --meta ADDR,... --server ADDR  let a drained data server take replicas again
  castd admin forget       --meta ADDR,... --server ADDR  drop a dead data server no shard names any more from the list
  castd admin split        --meta ADDR,... --shard N [--slot S]
                                                          split a shard's slots in two: it keeps those below S (default:
                                                          the middle), a new shard on the same servers takes the rest
  castd admin meta-members --meta ADDR,...                list the members
  castd admin meta-add     --meta ADDR,... --member ADDR  add a member
  castd admin meta-remove  --meta ADDR,... --member ADDR  remove a member

--meta names any members (the command finds the leader). To add one, start
it first with 'castd meta --join --peer ADDR --data-dir DIR --data-servers
...', then meta-add it; it catches up from the leader. To replace a failed
member, meta-remove it, then start a fresh one (empty data directory) with
--join and meta-add it. Add or remove one member at a time.

A data server joins a running cluster by starting it with --meta: it
registers with its first heartbeat, and meta moves its share of replicas
and primaries to it, one at a time. Drain a data server before you stop it
for good; 'castd admin servers' shows when it holds nothing.

A split happens in the shard's log on every replica, with no data sent:
the new shard starts on the shard's servers at once, and the balancer then
spreads its replicas and primary like any other's. 'castd meta
--split-bytes' makes meta split every shard past a size by itself.
`

func runAdmin(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, adminUsage)
		if len(args) == 0 {
			return usageError{errors.New("name a command")}
		}
		return nil
	}
	cmd := args[0]
	fs := flag.NewFlagSet("castd admin "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	metaList := fs.String("meta", "", "comma-separated cluster addresses (host:port) of meta members")
	member := fs.String("member", "", "cluster address (host:port) of the member to add or remove")
	server := fs.String("server", "", "cluster address (host:port) of the data server to drain, undrain or forget")
	peer := fs.String("peer", "127.0.0.1:0", "cluster address this command listens on for the answer; from another machine, one meta can reach")
	timeout := fs.Duration("timeout", 15*time.Second, "give up after this long")
	shard := fs.Int("shard", -1, "the shard to split (castd admin status lists them)")
	slot := fs.Int("slot", 0, "the first slot the new shard takes (0: the middle of the shard's slots)")
	var tf tlsFlags
	tf.register(fs, false)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	var err error
	if adminTLS, _, err = tf.configs(); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	metas, err := parseMetaList("meta", *metaList)
	if err != nil {
		return err
	}
	req := &wire.MetaMembers{Id: uint64(time.Now().UnixNano())}
	switch cmd {
	case "status":
		if *member != "" {
			return usageError{errors.New("status takes no --member")}
		}
		answer, err := askMeta(metas, *peer, &wire.GetConfig{Id: req.Id}, *timeout)
		if err != nil {
			return err
		}
		printStatus(stdout, answer.(*wire.ConfigUpdate).Configs)
		servers, err := askMeta(metas, *peer, &wire.DataServers{Id: req.Id + 1}, *timeout)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout)
		printServers(stdout, servers.(*wire.DataServersReply))
		fmt.Fprintln(stdout)
		printReplication(stdout, servers.(*wire.DataServersReply).Shards)
		return nil
	case "servers", "drain", "undrain", "forget":
		if *member != "" {
			return usageError{fmt.Errorf("%s takes no --member", cmd)}
		}
		ds := &wire.DataServers{Id: req.Id}
		if cmd != "servers" {
			if *server == "" {
				return usageError{fmt.Errorf("%s needs --server", cmd)}
			}
			if _, _, err := net.SplitHostPort(*server); err != nil {
				return usageError{fmt.Errorf("--server: %q is not host:port", *server)}
			}
			addr := string(roleAddr(*server, "data"))
			switch cmd {
			case "drain":
				ds.Drain = addr
			case "undrain":
				ds.Undrain = addr
			default:
				ds.Forget = addr
			}
		}
		answer, err := askMeta(metas, *peer, ds, *timeout)
		if err != nil {
			return err
		}
		rep := answer.(*wire.DataServersReply)
		if rep.Error != "" {
			return fmt.Errorf("meta refused: %s", strings.ReplaceAll(rep.Error, "/data", ""))
		}
		printServers(stdout, rep)
		return nil
	case "split":
		if *shard < 0 {
			return usageError{errors.New("split needs --shard")}
		}
		if *slot < 0 || *slot >= command.Slots {
			return usageError{fmt.Errorf("--slot: %d is not a slot (0 to %d)", *slot, command.Slots-1)}
		}
		answer, err := askMeta(metas, *peer, &wire.DataServers{Id: req.Id, Split: &wire.SplitShard{Shard: uint32(*shard), Slot: uint32(*slot)}}, *timeout)
		if err != nil {
			return err
		}
		rep := answer.(*wire.DataServersReply)
		if rep.Error != "" {
			return fmt.Errorf("meta refused: %s", strings.ReplaceAll(rep.Error, "/data", ""))
		}
		status, err := askMeta(metas, *peer, &wire.GetConfig{Id: req.Id + 1}, *timeout)
		if err != nil {
			return err
		}
		printStatus(stdout, status.(*wire.ConfigUpdate).Configs)
		return nil
	case "meta-members":
		if *member != "" {
			return usageError{errors.New("meta-members takes no --member")}
		}
	case "meta-add", "meta-remove":
		if *member == "" {
			return usageError{fmt.Errorf("%s needs --member", cmd)}
		}
		m, err := parseMetaList("member", *member)
		if err != nil {
			return err
		}
		if cmd == "meta-add" {
			req.Add = string(m[0])
		} else {
			req.Remove = string(m[0])
		}
	default:
		return usageError{fmt.Errorf("unknown admin command %q", cmd)}
	}
	answer, err := askMeta(metas, *peer, req, *timeout)
	if err != nil {
		return err
	}
	rep := answer.(*wire.MetaMembersReply)
	if rep.Error != "" {
		return fmt.Errorf("meta refused: %s", rep.Error)
	}
	for _, m := range rep.Members {
		role := "follower"
		if m == rep.Leader {
			role = "leader"
		}
		fmt.Fprintf(stdout, "%s %s\n", strings.TrimSuffix(m, "/meta"), role)
	}
	return nil
}

// printStatus prints one line per shard, in shard order.
func printStatus(w io.Writer, configs []*wire.Config) {
	fmt.Fprintf(w, "%-5s  %-11s  %-7s  %-21s  %s\n", "SHARD", "SLOTS", "VERSION", "PRIMARY", "SECONDARIES / LEARNERS")
	for _, c := range configs {
		start, end := cluster.SlotRange(c)
		trim := func(addrs []string) string {
			out := make([]string, len(addrs))
			for i, a := range addrs {
				out[i] = strings.TrimSuffix(a, "/data")
			}
			return strings.Join(out, ",")
		}
		primary := strings.TrimSuffix(c.Primary, "/data")
		if primary == "" {
			primary = "(none)"
		}
		fmt.Fprintf(w, "%-5d  %-11s  %-7d  %-21s  %s / %s\n", c.Shard, fmt.Sprintf("%d-%d", start, end-1), c.Version, primary,
			orNone(trim(c.Secondaries)), orNone(trim(c.Learners)))
	}
}

// printServers prints one line per registered data server.
func printServers(w io.Writer, rep *wire.DataServersReply) {
	fmt.Fprintf(w, "%-21s  %-8s  %-5s  %8s  %9s\n", "DATA SERVER", "STATE", "ALIVE", "REPLICAS", "PRIMARIES")
	for _, s := range rep.Servers {
		state := "active"
		if s.Draining {
			state = "draining"
		}
		alive := "yes"
		if !s.Alive {
			alive = "no"
		}
		fmt.Fprintf(w, "%-21s  %-8s  %-5s  %8d  %9d\n", strings.TrimSuffix(s.Addr, "/data"), state, alive, s.Replicas, s.Primaries)
	}
}

// printReplication prints each replica's log position against its
// primary's commit point (as their last heartbeats to meta said), the moves
// in progress, and each shard's size and traffic as its primary reported
// them (rates over its last second).
func printReplication(w io.Writer, shards []*wire.ShardState) {
	fmt.Fprintf(w, "%-5s  %-21s  %-9s  %10s  %s\n", "SHARD", "REPLICA", "ROLE", "LAST SEQ", "BEHIND COMMIT")
	var moves []string
	for _, s := range shards {
		for _, r := range s.Replicas {
			last, behind := "?", "? (no report yet)"
			if r.Reported {
				last, behind = fmt.Sprint(r.LastSeq), "0"
				if r.LastSeq < s.CommitSeq {
					behind = fmt.Sprint(s.CommitSeq - r.LastSeq)
				}
			}
			fmt.Fprintf(w, "%-5d  %-21s  %-9s  %10s  %s\n", s.Shard, strings.TrimSuffix(r.Addr, "/data"), r.Role, last, behind)
		}
		if s.Move != "" {
			moves = append(moves, fmt.Sprintf("shard %d: %s", s.Shard, strings.ReplaceAll(s.Move, "/data", "")))
		}
	}
	if len(moves) == 0 {
		moves = []string{"none"}
	}
	fmt.Fprintf(w, "\nMOVES IN PROGRESS\n%s\n", strings.Join(moves, "\n"))
	fmt.Fprintf(w, "\n%-5s  %10s  %12s  %10s  %14s  %8s  %8s\n", "SHARD", "KEYS", "LIVE BYTES", "OPS/S", "WRITTEN B/S", "LOCKS", "TXN RECS")
	for _, s := range shards {
		if l := s.Load; l != nil {
			fmt.Fprintf(w, "%-5d  %10d  %12d  %10.0f  %14.0f  %8d  %8d\n", s.Shard, l.LiveKeys, l.LiveBytes, l.OpsPerSec, l.WriteBytesPerSec, l.Locks, l.TxnRecords)
		} else {
			fmt.Fprintf(w, "%-5d  %10s  %12s  %10s  %14s  %8s\n", s.Shard, "?", "?", "?", "?", "? (no report from a primary yet)")
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// askMeta sends req (a MetaMembers or a GetConfig) to the meta leader,
// found from metas by following redirects and passing over silent
// members, and waits for its answer (a MetaMembersReply or a
// ConfigUpdate).
// adminTLS is the cluster TLS of castd admin (its --tls-* flags); nil:
// plain TCP.
var adminTLS *tls.Config

func askMeta(metas []actors.Addr, peer string, req actors.Msg, timeout time.Duration) (actors.Msg, error) {
	p, err := cnet.NewProcess(cnet.ProcessConfig{PeerAddr: peer, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Transport: cnet.TransportConfig{TLS: adminTLS}})
	if err != nil {
		return nil, fmt.Errorf("listen for meta's answer on %s: %w", peer, err)
	}
	defer p.Stop()
	c := &adminClient{peers: actors.NewMetaPeers(metas), req: req, answer: make(chan actors.Msg, 1)}
	p.Spawn("admin", c, nil)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	select {
	case rep := <-c.answer:
		return rep, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("no answer from the meta leader within %v (asked %v)", timeout, metas)
	}
}

// adminClient is the one-request role castd admin runs: it asks the member
// it believes leads, follows redirects, and moves on from one silent for
// adminRetry.
type adminClient struct {
	peers  *actors.MetaPeers
	req    actors.Msg // *wire.MetaMembers, *wire.GetConfig or *wire.DataServers
	answer chan actors.Msg
}

const adminRetry = 500 * time.Millisecond

func (c *adminClient) Start(env actors.Env) {
	env.Send(c.peers.Leader(), c.req)
	env.After(adminRetry, &wire.Tick{})
}

func (c *adminClient) Handle(env actors.Env, from actors.Addr, m actors.Msg) {
	switch x := m.(type) {
	case *wire.MetaMembersReply:
		if r, ok := c.req.(*wire.MetaMembers); ok && x.Id == r.Id {
			c.deliver(x)
		}
	case *wire.ConfigUpdate:
		if r, ok := c.req.(*wire.GetConfig); ok && x.Id == r.Id {
			c.deliver(x)
		}
	case *wire.DataServersReply:
		if r, ok := c.req.(*wire.DataServers); ok && x.Id == r.Id {
			c.deliver(x)
		}
	case *wire.MetaRedirect:
		// Follow a named leader at once; otherwise wait for the tick.
		if actors.Addr(x.Leader) != from && c.peers.Redirect(from, actors.Addr(x.Leader)) && x.Leader != "" {
			env.Send(c.peers.Leader(), c.req)
		}
	case *wire.Tick:
		c.peers.Silent()
		env.Send(c.peers.Leader(), c.req)
		env.After(adminRetry, &wire.Tick{})
	}
}

func (c *adminClient) deliver(m actors.Msg) {
	select {
	case c.answer <- m:
	default: // a duplicate
	}
}
