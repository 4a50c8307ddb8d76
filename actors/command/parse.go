package command

import (
	"bytes"
	"slices"

	"castkv/actors/wire"
)

// Error texts shared with Redis 7, and castkv's own.
const (
	syntaxError  = "ERR syntax error"
	emptyCommand = "ERR empty command"
)

// unknownArgsBytes is Redis's budget for echoing an unknown command: its
// name is cut to this many bytes, and arguments are quoted until the
// quoted list reaches it (server.c, commandCheckExistence).
const unknownArgsBytes = 128

// spec is one row of the command table. arity counts arguments as Redis
// does, the name included: n means exactly n, -n means at least n.
type spec struct {
	kind  Kind
	arity int
}

// table is the command table, by lowercase name.
var table = map[string]spec{
	"get":         {Get, 2},
	"set":         {Set, -3},
	"setnx":       {SetNX, 3},
	"setxx":       {SetXX, 3},
	"getset":      {GetSet, 3},
	"mget":        {MGet, -2},
	"mset":        {MSet, -3},
	"msetnx":      {MSetNX, -3},
	"exists":      {Exists, -2},
	"del":         {Del, -2},
	"unlink":      {Del, -2}, // castkv frees nothing in the background: UNLINK is DEL
	"dbsize":      {DBSize, 1},
	"flushall":    {FlushAll, -1},
	"flushdb":     {FlushAll, -1},
	"cluster":     {ClusterInfo, 2}, // the subcommand picks the kind
	"incr":        {IncrBy, 2},
	"decr":        {IncrBy, 2},
	"incrby":      {IncrBy, 3},
	"decrby":      {IncrBy, 3},
	"incrbyfloat": {IncrByFloat, 3},
	"append":      {Append, 3},
	"strlen":      {StrLen, 2},
	"getdel":      {GetDel, 2},
	"getrange":    {GetRange, 4},
	"substr":      {GetRange, 4},
	"setrange":    {SetRange, 4},
	"type":        {Type, 2},
	"setex":       {Set, 4},
	"psetex":      {Set, 4},
	"getex":       {GetEx, -2},
	"expire":      {Expire, -3},
	"pexpire":     {Expire, -3},
	"expireat":    {Expire, -3},
	"pexpireat":   {Expire, -3},
	"persist":     {Persist, 2},
	"ttl":         {TTLOf, 2},
	"pttl":        {TTLOf, 2},
	"expiretime":  {TTLOf, 2},
	"pexpiretime": {TTLOf, 2},
	"watch":       {Watch, -2}, // the RESP port's, for its WATCH
	"scan":        {Scan, -2},
	"keys":        {KeysMatching, 2},
	"rename":      {Rename, 3},
	"renamenx":    {Rename, 3},
	"copy":        {Copy, -3},
}

// lookup finds a command by its lowercase name.
func lookup(name string) (spec, bool) {
	s, ok := table[name]
	return s, ok
}

// Names lists the commands Parse knows, sorted, with the arity of each
// (Redis's convention: n exactly, -n at least n, the name included).
func Names() (names []string, arity map[string]int) {
	arity = make(map[string]int, len(table))
	for name, s := range table { // order-independent: sorted below
		names = append(names, name)
		arity[name] = s.arity
	}
	slices.Sort(names)
	return names, arity
}

func (s spec) accepts(argc int) bool {
	if s.arity >= 0 {
		return argc == s.arity
	}
	return argc >= -s.arity
}

// Name is the lowercase first argument, the name a front door dispatches
// on; "" for no arguments. Only ASCII letters are lowered, as Redis's
// strcasecmp does.
func Name(args [][]byte) string {
	if len(args) == 0 {
		return ""
	}
	name := args[0]
	lower := make([]byte, len(name))
	for i, b := range name {
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		lower[i] = b
	}
	return string(lower)
}

// Parse validates a client's argument vector, name first. It returns the
// command, or the error reply Redis 7 would give for the same arguments
// (castkv's own for what Redis has no error for). Connection commands
// (PING, HELLO, ...) are unknown here; the front door answers them.
func Parse(args [][]byte) (*Command, *wire.Reply) {
	if len(args) == 0 {
		return nil, Error(emptyCommand)
	}
	name := Name(args)
	if name == "exec" && len(args) > 1 {
		return parseExec(args) // a MULTI block from the RESP port
	}
	s, ok := lookup(name)
	if !ok {
		return nil, unknownCommand(args)
	}
	if !s.accepts(len(args)) {
		return nil, wrongArity(name)
	}
	c := &Command{Kind: s.kind, Name: name, Args: args}
	// Full slice expressions keep an append to Keys or Values from
	// writing into Args.
	switch s.kind {
	case Get:
		c.Keys = args[1:2:2]
	case Set:
		if name == "setex" || name == "psetex" {
			// SETEX key seconds value: Redis's setexCommand.
			c.Keys, c.Values = args[1:2:2], args[3:4:4]
			ttl, reply := parseTTLArg(args[2], name, TTLIn, name == "setex")
			if reply != nil {
				return nil, reply
			}
			c.TTL = ttl
			break
		}
		c.Keys, c.Values = args[1:2:2], args[2:3:3]
		if reply := parseSetOptions(c, args[3:]); reply != nil {
			return nil, reply
		}
	case GetEx:
		c.Keys = args[1:2:2]
		if reply := parseSetOptions(c, args[2:]); reply != nil {
			return nil, reply
		}
	case Expire:
		c.Keys = args[1:2:2]
		if reply := parseExpire(c, args); reply != nil {
			return nil, reply
		}
	case Persist, TTLOf:
		c.Keys = args[1:2:2]
	case Watch:
		c.Keys = args[1:len(args):len(args)]
	case Scan:
		if reply := parseScan(c, args); reply != nil {
			return nil, reply
		}
	case KeysMatching:
		c.Values = args[1:2:2]
	case Rename:
		c.Keys = args[1:3:3]
	case Copy:
		// COPY source destination [DB 0] [REPLACE]: castkv has database 0
		// only, as SELECT says.
		c.Keys = args[1:3:3]
		for i := 3; i < len(args); i++ {
			switch {
			case equalFold(args[i], "replace"):
				c.XX = true
			case equalFold(args[i], "db") && i+1 < len(args):
				i++
				db, ok := parseInt(args[i])
				switch {
				case !ok:
					return nil, Error(notInteger)
				case db != 0:
					return nil, Error("ERR DB index is out of range")
				}
			default:
				return nil, Error(syntaxError)
			}
		}
	case SetNX, SetXX, GetSet:
		c.Keys, c.Values = args[1:2:2], args[2:3:3]
	case MGet, Exists, Del:
		c.Keys = args[1:len(args):len(args)]
	case MSet, MSetNX:
		// Redis checks MSET's pairing after its arity, with the same text.
		if len(args)%2 == 0 {
			return nil, wrongArity(name)
		}
		n := (len(args) - 1) / 2
		c.Keys = make([][]byte, 0, n)
		c.Values = make([][]byte, 0, n)
		for i := 1; i < len(args); i += 2 {
			c.Keys = append(c.Keys, args[i])
			c.Values = append(c.Values, args[i+1])
		}
	case IncrBy, IncrByFloat, Append, StrLen, GetDel, GetRange, SetRange, Type:
		c.Keys = args[1:2:2]
		if reply := parseStringArgs(c, args); reply != nil {
			return nil, reply
		}
	case DBSize:
	case ClusterInfo:
		switch sub := Name(args[1:]); sub {
		case "info":
		case "shards":
			c.Kind = ClusterShards
		default:
			return nil, Error("ERR unknown subcommand '" + string(args[1]) + "'. Try CLUSTER HELP.")
		}
	case FlushAll:
		// Redis's getFlushCommandFlags: one optional SYNC or ASYNC. Both
		// mean the same to castkv, whose flush is one log entry.
		if len(args) == 2 && (equalFold(args[1], "sync") || equalFold(args[1], "async")) {
			break
		}
		if len(args) != 1 {
			return nil, Error(syntaxError)
		}
	}
	return c, nil
}

// parseSetOptions reads SET's options, or GETEX's, as Redis 7.2's
// parseExtendedStringArgumentsOrReply does: any order, repeats allowed (the
// last time given wins), NX and XX exclusive, the TTL options mutually
// exclusive and EX/PX/EXAT/PXAT followed by their argument. NX, XX, GET
// and KEEPTTL are SET's; PERSIST is GETEX's. The first option that fails
// these rules is a syntax error; the time is read after every option has
// been, as Redis refuses a bad expire time only then.
func parseSetOptions(c *Command, opts [][]byte) *wire.Reply {
	const (
		ex = 1 << iota
		px
		exat
		pxat
		keepTTL
		persist
	)
	set := c.Kind == Set
	ttl := 0
	var arg []byte
	for i := 0; i < len(opts); i++ {
		opt := opts[i]
		hasNext := i+1 < len(opts)
		switch {
		case set && equalFold(opt, "nx") && !c.XX:
			c.NX = true
		case set && equalFold(opt, "xx") && !c.NX:
			c.XX = true
		case set && equalFold(opt, "get"):
			c.Get = true
		case set && equalFold(opt, "keepttl") && ttl&^keepTTL == 0:
			ttl |= keepTTL
		case !set && equalFold(opt, "persist") && ttl&^persist == 0:
			ttl |= persist
		case equalFold(opt, "ex") && ttl&^ex == 0 && hasNext:
			ttl |= ex
			i++
			arg = opts[i]
		case equalFold(opt, "px") && ttl&^px == 0 && hasNext:
			ttl |= px
			i++
			arg = opts[i]
		case equalFold(opt, "exat") && ttl&^exat == 0 && hasNext:
			ttl |= exat
			i++
			arg = opts[i]
		case equalFold(opt, "pxat") && ttl&^pxat == 0 && hasNext:
			ttl |= pxat
			i++
			arg = opts[i]
		default:
			return Error(syntaxError)
		}
	}
	var reply *wire.Reply
	switch ttl {
	case keepTTL:
		c.TTL = TTL{Kind: TTLKeep}
	case persist:
		c.TTL = TTL{Kind: TTLPersist}
	case ex:
		c.TTL, reply = parseTTLArg(arg, c.Name, TTLIn, true)
	case px:
		c.TTL, reply = parseTTLArg(arg, c.Name, TTLIn, false)
	case exat:
		c.TTL, reply = parseTTLArg(arg, c.Name, TTLAt, true)
	case pxat:
		c.TTL, reply = parseTTLArg(arg, c.Name, TTLAt, false)
	}
	return reply
}

// equalFold reports whether b is lower, ignoring ASCII case. lower must be
// lowercase ASCII.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// wrongArity is Redis's arity error; name is lowercase, as Redis prints a
// command's table name rather than what was typed.
func wrongArity(name string) *wire.Reply {
	return Error("ERR wrong number of arguments for '" + name + "' command")
}

// unknownCommand is Redis 7's text for an unknown command (server.c,
// commandCheckExistence): the name as typed, cut to 128 bytes, then the
// arguments each quoted and followed by a space until the list reaches 128
// bytes, the last one cut to fit. Redis formats with C's %s, which stops at
// a NUL byte, so these do too.
func unknownCommand(args [][]byte) *wire.Reply {
	var b bytes.Buffer
	b.WriteString("ERR unknown command '")
	b.Write(truncate(cString(args[0]), unknownArgsBytes))
	b.WriteString("', with args beginning with: ")
	start := b.Len()
	for _, arg := range args[1:] {
		used := b.Len() - start
		if used >= unknownArgsBytes {
			break
		}
		b.WriteByte('\'')
		b.Write(truncate(cString(arg), unknownArgsBytes-used))
		b.WriteString("' ")
	}
	return Error(b.String())
}

// cString is b as C's %s sees it: up to its first NUL byte.
func cString(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
