package net

import (
	"cmp"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"castkv/actors/command"
	"castkv/actors/wire"
)

// CLIENT LIST, KILL, PAUSE, UNPAUSE, NO-EVICT and NO-TOUCH, as Redis 7.2's
// clientCommand answers them, over the connections of this port (the
// server's open set). Another connection's client state is read under its
// respClient.info lock; its reader writes what CLIENT LIST shows under
// that lock too.

var errRESPClientKilled = errors.New("resp: killed by CLIENT KILL")

// clientAdmin answers the CLIENT subcommands of this file; ok is false
// for another subcommand. Arity is already checked.
func (s *RESPServer) clientAdmin(cl *respClient, sub string, args [][]byte) (reply *wire.Reply, ok bool) {
	switch sub {
	case "list":
		return s.clientList(args), true
	case "kill":
		return s.clientKill(cl, args), true
	case "pause":
		return s.clientPause(args), true
	case "unpause":
		s.pause.unpause()
		return command.OK(), true
	case "no-evict", "no-touch":
		// castkv evicts neither clients nor keys, and keeps no LRU/LFU
		// state: both modes are accepted and change nothing.
		if v := command.Name(args[2:]); v != "on" && v != "off" {
			return command.Error("ERR syntax error"), true
		}
		return command.OK(), true
	}
	return nil, false
}

// respClientType reads one of Redis's client type names
// (getClientTypeByName); every castkv client is "normal".
func respClientType(name string) (normal, ok bool) {
	switch name {
	case "normal":
		return true, true
	case "master", "slave", "replica", "pubsub":
		return false, true
	}
	return false, false
}

// openClients is the port's connections, by client id.
func (s *RESPServer) openClients() []*respClient {
	s.mu.Lock()
	out := make([]*respClient, 0, len(s.open))
	for c := range s.open {
		out = append(out, c.cl)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b *respClient) int { return cmp.Compare(a.id, b.id) })
	return out
}

// clientLine is cl's CLIENT LIST line, read under its lock.
func (s *RESPServer) clientLine(cl *respClient) string {
	cl.info.Lock()
	defer cl.info.Unlock()
	return s.clientInfo(cl)
}

// clientList answers CLIENT LIST [TYPE type | ID id [id ...]].
func (s *RESPServer) clientList(args [][]byte) *wire.Reply {
	var b strings.Builder
	switch opt := command.Name(args[2:]); {
	case len(args) == 2:
		for _, cl := range s.openClients() {
			b.WriteString(s.clientLine(cl))
		}
	case len(args) == 4 && opt == "type":
		normal, ok := respClientType(command.Name(args[3:]))
		if !ok {
			return command.Error("ERR Unknown client type '" + string(args[3]) + "'")
		}
		if normal {
			for _, cl := range s.openClients() {
				b.WriteString(s.clientLine(cl))
			}
		}
	case len(args) > 3 && opt == "id":
		ids := make([]uint64, 0, len(args)-3)
		for _, a := range args[3:] {
			id, ok := respParseInt(a)
			if !ok {
				return command.Error("ERR Invalid client ID")
			}
			ids = append(ids, uint64(id))
		}
		byID := map[uint64]*respClient{}
		for _, cl := range s.openClients() {
			byID[cl.id] = cl
		}
		for _, id := range ids { // in the order asked, as Redis
			if cl := byID[id]; cl != nil {
				b.WriteString(s.clientLine(cl))
			}
		}
	default:
		return command.Error("ERR syntax error")
	}
	return respVerbatim(b.String())
}

// clientKill answers CLIENT KILL addr (old form: OK, or an error when no
// connection matched) and CLIENT KILL filter value ... (the number
// killed). A killed connection closes at once: its queued replies are
// dropped and its commands at the cluster abandoned, their budget given
// back as they end (respConn.serve). The caller, when it matches (old
// form, or SKIPME no), gets its reply first, then closes.
func (s *RESPServer) clientKill(self *respClient, args [][]byte) *wire.Reply {
	var addr, laddr string
	var id uint64
	hasAddr, hasLaddr, noneByType := false, false, false
	skipMe := true
	if len(args) == 3 {
		addr, hasAddr, skipMe = string(args[2]), true, false
	} else {
		if len(args)%2 != 0 {
			return command.Error("ERR syntax error")
		}
		for i := 2; i < len(args); i += 2 {
			val := args[i+1]
			switch command.Name(args[i:]) {
			case "id":
				n, ok := respParseInt(val)
				if !ok || n < 1 {
					return command.Error("ERR client-id should be greater than 0")
				}
				id = uint64(n)
			case "type":
				normal, ok := respClientType(command.Name(args[i+1:]))
				if !ok {
					return command.Error("ERR Unknown client type '" + string(val) + "'")
				}
				noneByType = !normal
			case "addr":
				addr, hasAddr = string(val), true
			case "laddr":
				laddr, hasLaddr = string(val), true
			case "user":
				if string(val) != "default" { // castkv's only user
					return command.Error("ERR No such user '" + string(val) + "'")
				}
			case "skipme":
				switch command.Name(args[i+1:]) {
				case "yes":
					skipMe = true
				case "no":
					skipMe = false
				default:
					return command.Error("ERR syntax error")
				}
			default:
				return command.Error("ERR syntax error")
			}
		}
	}
	killed := 0
	if !noneByType {
		s.mu.Lock()
		var victims []*respConn
		for c := range s.open {
			cl := c.cl
			switch {
			case hasAddr && c.remote != addr,
				hasLaddr && cl.conn.LocalAddr().String() != laddr,
				id != 0 && cl.id != id,
				cl == self && skipMe:
				continue
			}
			victims = append(victims, c)
		}
		s.mu.Unlock()
		for _, c := range victims {
			killed++
			if c.cl == self {
				self.closeAfterReply = true // Redis's CLIENT_CLOSE_AFTER_REPLY
				continue
			}
			c.kill(errRESPClientKilled)
		}
	}
	if len(args) == 3 {
		if killed == 0 {
			return command.Error("ERR No such client")
		}
		return command.OK()
	}
	return command.Int(int64(killed))
}

// respMaxPause bounds a CLIENT PAUSE's end, so it stays a time.Time the
// clock can reach: Redis takes any end up to LLONG_MAX milliseconds.
const respMaxPause = 100 * 365 * 24 * time.Hour

// clientPause answers CLIENT PAUSE timeout [WRITE|ALL], Redis's texts in
// Redis's order (the mode, then the timeout).
func (s *RESPServer) clientPause(args [][]byte) *wire.Reply {
	all := true
	if len(args) == 4 {
		switch command.Name(args[3:]) {
		case "write":
			all = false
		case "all":
		default:
			return command.Error("ERR CLIENT PAUSE mode must be WRITE or ALL")
		}
	} else if len(args) != 3 {
		return respArity("client|pause")
	}
	ms, ok := respParseInt(args[2])
	switch {
	case !ok:
		return command.Error("ERR timeout is not an integer or out of range")
	case ms < 0:
		return command.Error("ERR timeout is negative")
	}
	d := respMaxPause
	if ms < int64(respMaxPause/time.Millisecond) {
		d = time.Duration(ms) * time.Millisecond
	}
	s.pause.pause(d, all)
	return command.OK()
}

// respPause is the port's CLIENT PAUSE: until its end, or CLIENT UNPAUSE,
// every client's commands (ALL) or its write commands (WRITE) wait before
// they run, the pausing client's own included, as in Redis 7
// (processCommand's blockPostponeClient). A command waits in its
// connection's reader, so the commands pipelined behind it wait too, as a
// postponed Redis client reads no further. A NOAUTH refusal and QUIT do not
// wait, as in Redis.
//
// A new pause takes the new mode and the later of the two ends
// (pauseActions).
type respPause struct {
	// active is set while a pause may be on: the one check every command
	// pays. waiting counts the commands held (INFO blocked_clients, as
	// Redis counts its postponed clients).
	active  atomic.Bool
	waiting atomic.Int64

	mu    sync.Mutex
	until time.Time
	all   bool
	// changed is closed, and replaced, by every PAUSE and UNPAUSE, to wake
	// the waiting commands to look again.
	changed chan struct{}
}

func (p *respPause) pause(d time.Duration, all bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if until := now.Add(d); until.After(p.until) {
		p.until = until
	}
	p.all = all
	p.changedLocked()
	p.active.Store(p.until.After(now))
}

func (p *respPause) unpause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.until, p.all = time.Time{}, false
	p.changedLocked()
	p.active.Store(false)
}

func (p *respPause) changedLocked() {
	if p.changed != nil {
		close(p.changed)
	}
	p.changed = make(chan struct{})
}

// waitPause holds the command cmd (named name) while a pause covers it.
// The wait ends with the pause (at its end, or UNPAUSE), or with the
// connection (false: killed, or the server closing).
func (c *respConn) waitPause(cmd *respCmdStat, name string) bool {
	p := &c.s.pause
	for {
		p.mu.Lock()
		wait := time.Until(p.until)
		all, changed := p.all, p.changed
		if wait <= 0 {
			p.active.Store(false)
		}
		p.mu.Unlock()
		if wait <= 0 || !all && !c.writes(cmd, name) {
			return true
		}
		if !p.hold(wait, changed, c.ctx.Done()) {
			return false
		}
	}
}

// hold waits for wait to pass, the pause to change, or done; false for
// done.
func (p *respPause) hold(wait time.Duration, changed, done <-chan struct{}) bool {
	p.waiting.Add(1)
	defer p.waiting.Add(-1)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-changed:
	case <-done:
		return false
	}
	return true
}

// writes reports whether a command may write, for CLIENT PAUSE WRITE
// (Redis's is_may_replicate_command): a "write" command, or an EXEC
// whose block holds one.
func (c *respConn) writes(cmd *respCmdStat, name string) bool {
	if cmd != nil && cmd.write {
		return true
	}
	if name == "exec" && c.cl.multi != nil {
		for _, q := range c.cl.multi.cmds {
			if q.IsWrite() {
				return true
			}
		}
	}
	return false
}
