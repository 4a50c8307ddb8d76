package net

import (
	"strings"

	"castkv/actors/command"
	"castkv/actors/wire"
)

// respSpec describes one command or subcommand the port serves, in the
// shapes of Redis 7's COMMAND INFO and COMMAND DOCS: clients read these to
// learn arities, key positions and read-only flags (go-redis, redis-py's
// cluster clients), and redis-cli builds its help and hints from the docs.
// The data commands must match what command.Parse accepts.
type respSpec struct {
	name     string // lowercase; a subcommand is "container|sub"
	arity    int    // Redis's convention: n exactly, -n at least n, the name counted
	flags    []string
	firstKey int
	lastKey  int
	keyStep  int
	acl      []string
	keySpecs []respKeySpec
	subs     []*respSpec

	summary, since, group, complexity string
	args                              []respArg
}

// respKeySpec is a Redis 7 key specification: keys start at index begin
// and run to lastKey (-1: the last argument) every keyStep.
type respKeySpec struct {
	flags            []string
	begin            int
	lastKey, keyStep int
}

// respArg documents an argument as COMMAND DOCS does.
type respArg struct {
	name, typ, token string
	keySpec          int // key_spec_index for type "key"
	optional         bool
	multiple         bool
	args             []respArg // for "oneof" and "block"
}

func (s *respSpec) accepts(argc int) bool {
	if s.arity >= 0 {
		return argc == s.arity
	}
	return argc >= -s.arity
}

var (
	respConnFlags  = []string{"noscript", "loading", "stale"}
	respConnACL    = []string{"@slow", "@connection"}
	respAdminFlags = []string{"admin", "noscript", "loading", "stale"}
	respAdminACL   = []string{"@admin", "@slow", "@dangerous"}
	respFlushType  = respArg{name: "flush-type", typ: "oneof", optional: true, args: []respArg{
		{name: "async", typ: "pure-token", token: "ASYNC"},
		{name: "sync", typ: "pure-token", token: "SYNC"},
	}}
	respKey      = respArg{name: "key", typ: "key"}
	respKeys     = respArg{name: "key", typ: "key", multiple: true}
	respValue    = respArg{name: "value", typ: "string"}
	respCmdNames = respArg{name: "command-name", typ: "string", optional: true, multiple: true}

	respClientAdminFlags = []string{"admin", "noscript", "loading", "stale"}
	respClientAdminACL   = []string{"@admin", "@slow", "@dangerous", "@connection"}
	respClientTypeArgs   = []respArg{
		{name: "normal", typ: "pure-token", token: "normal"},
		{name: "master", typ: "pure-token", token: "master"},
		{name: "replica", typ: "pure-token", token: "replica"},
		{name: "pubsub", typ: "pure-token", token: "pubsub"},
	}
	respOnOff = respArg{name: "enabled", typ: "oneof", args: []respArg{
		{name: "on", typ: "pure-token", token: "ON"}, {name: "off", typ: "pure-token", token: "OFF"},
	}}
)

// respCommands is the port's command table, sorted by name. Data commands
// first appear here as Redis 7.2 describes them (castkv's SETXX as SETNX's
// twin); the rest are the connection commands the port answers itself.
var respCommands = []*respSpec{
	{name: "auth", arity: -2, flags: []string{"noscript", "loading", "stale", "fast", "no_auth", "allow_busy"}, acl: []string{"@fast", "@connection"},
		summary: "Authenticates the connection.", since: "1.0.0", group: "connection", complexity: "O(N) where N is the number of passwords defined for the user",
		args: []respArg{{name: "username", typ: "string", optional: true}, {name: "password", typ: "string"}}},
	{name: "client", arity: -2, acl: []string{"@slow"},
		summary: "A container for client connection commands.", since: "2.4.0", group: "connection", complexity: "Depends on subcommand.",
		subs: []*respSpec{
			{name: "client|getname", arity: 2, flags: respConnFlags, acl: respConnACL,
				summary: "Returns the name of the connection.", since: "2.6.9", group: "connection", complexity: "O(1)"},
			{name: "client|id", arity: 2, flags: respConnFlags, acl: respConnACL,
				summary: "Returns the unique client ID of the connection.", since: "5.0.0", group: "connection", complexity: "O(1)"},
			{name: "client|info", arity: 2, flags: respConnFlags, acl: respConnACL,
				summary: "Returns information about the connection.", since: "6.2.0", group: "connection", complexity: "O(1)"},
			{name: "client|kill", arity: -3, flags: respClientAdminFlags, acl: respClientAdminACL,
				summary: "Terminates open connections.", since: "2.4.0", group: "connection", complexity: "O(N) where N is the number of client connections",
				args: []respArg{{name: "filter", typ: "oneof", args: []respArg{
					{name: "old-format", typ: "string"},
					{name: "new-format", typ: "oneof", multiple: true, args: []respArg{
						{name: "client-id", typ: "integer", token: "ID", optional: true},
						{name: "client-type", typ: "oneof", token: "TYPE", optional: true, args: respClientTypeArgs},
						{name: "username", typ: "string", token: "USER", optional: true},
						{name: "addr", typ: "string", token: "ADDR", optional: true},
						{name: "laddr", typ: "string", token: "LADDR", optional: true},
						{name: "skipme", typ: "oneof", token: "SKIPME", optional: true, args: []respArg{
							{name: "yes", typ: "pure-token", token: "YES"}, {name: "no", typ: "pure-token", token: "NO"},
						}},
					}},
				}}}},
			{name: "client|list", arity: -2, flags: respClientAdminFlags, acl: respClientAdminACL,
				summary: "Lists open connections.", since: "2.4.0", group: "connection", complexity: "O(N) where N is the number of client connections",
				args: []respArg{
					{name: "client-type", typ: "oneof", token: "TYPE", optional: true, args: respClientTypeArgs},
					{name: "client-id", typ: "integer", token: "ID", optional: true, multiple: true},
				}},
			{name: "client|no-evict", arity: 3, flags: respClientAdminFlags, acl: respClientAdminACL,
				summary: "Sets the client eviction mode of the connection.", since: "7.0.0", group: "connection", complexity: "O(1)",
				args: []respArg{respOnOff}},
			{name: "client|no-touch", arity: 3, flags: respConnFlags, acl: respConnACL,
				summary: "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.", since: "7.2.0", group: "connection",
				complexity: "O(1)", args: []respArg{respOnOff}},
			{name: "client|pause", arity: -3, flags: respClientAdminFlags, acl: respClientAdminACL,
				summary: "Suspends commands processing.", since: "3.0.0", group: "connection", complexity: "O(1)",
				args: []respArg{{name: "timeout", typ: "integer"}, {name: "mode", typ: "oneof", optional: true, args: []respArg{
					{name: "write", typ: "pure-token", token: "WRITE"}, {name: "all", typ: "pure-token", token: "ALL"},
				}}}},
			{name: "client|setinfo", arity: 4, flags: respConnFlags, acl: respConnACL,
				summary: "Sets information specific to the client or connection.", since: "7.2.0", group: "connection", complexity: "O(1)",
				args: []respArg{{name: "attr", typ: "oneof", args: []respArg{
					{name: "libname", typ: "string", token: "LIB-NAME"},
					{name: "libver", typ: "string", token: "LIB-VER"},
				}}}},
			{name: "client|setname", arity: 3, flags: respConnFlags, acl: respConnACL,
				summary: "Sets the connection name.", since: "2.6.9", group: "connection", complexity: "O(1)",
				args: []respArg{{name: "connection-name", typ: "string"}}},
			{name: "client|unpause", arity: 2, flags: respClientAdminFlags, acl: respClientAdminACL,
				summary: "Resumes processing commands from paused clients.", since: "6.2.0", group: "connection",
				complexity: "O(N) Where N is the number of paused clients"},
		}},
	{name: "command", arity: -1, flags: []string{"loading", "stale"}, acl: respConnACL,
		summary: "Returns detailed information about all commands.", since: "2.8.13", group: "server", complexity: "O(N) where N is the total number of Redis commands",
		subs: []*respSpec{
			{name: "command|count", arity: 2, flags: []string{"loading", "stale"}, acl: respConnACL,
				summary: "Returns a count of commands.", since: "2.8.13", group: "server", complexity: "O(1)"},
			{name: "command|docs", arity: -2, flags: []string{"loading", "stale"}, acl: respConnACL,
				summary: "Returns documentary information about one, multiple or all commands.", since: "7.0.0", group: "server",
				complexity: "O(N) where N is the number of commands to look up", args: []respArg{respCmdNames}},
			{name: "command|getkeys", arity: -3, flags: []string{"loading", "stale"}, acl: respConnACL,
				summary: "Extracts the key names from an arbitrary command.", since: "2.8.13", group: "server",
				complexity: "O(N) where N is the number of arguments to the command",
				args:       []respArg{{name: "command", typ: "string"}, {name: "arg", typ: "string", optional: true, multiple: true}}},
			{name: "command|info", arity: -2, flags: []string{"loading", "stale"}, acl: respConnACL,
				summary: "Returns information about one, multiple or all commands.", since: "2.8.13", group: "server",
				complexity: "O(N) where N is the number of commands to look up", args: []respArg{respCmdNames}},
			{name: "command|list", arity: -2, flags: []string{"loading", "stale"}, acl: respConnACL,
				summary: "Returns a list of command names.", since: "7.0.0", group: "server", complexity: "O(N) where N is the total number of Redis commands",
				args: []respArg{{name: "filterby", typ: "oneof", token: "FILTERBY", optional: true, args: []respArg{
					{name: "module-name", typ: "string", token: "MODULE"},
					{name: "category", typ: "string", token: "ACLCAT"},
					{name: "pattern", typ: "pattern", token: "PATTERN"},
				}}}},
		}},
	{name: "cluster", arity: -2, acl: []string{"@slow"},
		summary: "A container for Redis Cluster commands.", since: "3.0.0", group: "cluster", complexity: "Depends on subcommand.",
		subs: []*respSpec{
			{name: "cluster|info", arity: 2, flags: []string{"loading", "stale"}, acl: []string{"@slow"},
				summary: "Returns information about the state of a node.", since: "3.0.0", group: "cluster", complexity: "O(1)"},
			{name: "cluster|keyslot", arity: 3, flags: []string{"loading", "stale"}, acl: []string{"@slow"},
				summary: "Returns the hash slot for a key.", since: "3.0.0", group: "cluster",
				complexity: "O(N) where N is the number of bytes in the key",
				args:       []respArg{{name: "key", typ: "string"}}},
			{name: "cluster|shards", arity: 2, flags: []string{"loading", "stale"}, acl: []string{"@slow"},
				summary: "Returns the mapping of cluster slots to shards.", since: "7.0.0", group: "cluster",
				complexity: "O(N) where N is the total number of cluster nodes"},
		}},
	{name: "config", arity: -2, acl: []string{"@slow"},
		summary: "A container for server configuration commands.", since: "2.0.0", group: "server", complexity: "Depends on subcommand.",
		subs: []*respSpec{
			{name: "config|get", arity: -3, flags: respAdminFlags, acl: respAdminACL,
				summary: "Returns the effective values of configuration parameters.", since: "2.0.0", group: "server",
				complexity: "O(N) when N is the number of configuration parameters provided",
				args:       []respArg{{name: "parameter", typ: "string", multiple: true}}},
			{name: "config|resetstat", arity: 2, flags: respAdminFlags, acl: respAdminACL,
				summary: "Resets the server's statistics.", since: "2.0.0", group: "server", complexity: "O(1)"},
			{name: "config|set", arity: -4, flags: respAdminFlags, acl: respAdminACL,
				summary: "Sets configuration parameters in-flight.", since: "2.0.0", group: "server",
				complexity: "O(N) when N is the number of configuration parameters provided",
				args: []respArg{{name: "data", typ: "block", multiple: true, args: []respArg{
					{name: "parameter", typ: "string"}, {name: "value", typ: "string"},
				}}}},
		}},
	{name: "dbsize", arity: 1, flags: []string{"readonly", "fast"}, acl: []string{"@keyspace", "@read", "@fast"},
		summary: "Returns the number of keys in the database.", since: "1.0.0", group: "server", complexity: "O(1)"},
	{name: "del", arity: -2, flags: []string{"write"}, firstKey: 1, lastKey: -1, keyStep: 1, acl: []string{"@keyspace", "@write", "@slow"},
		keySpecs: []respKeySpec{{flags: []string{"RM", "DELETE"}, begin: 1, lastKey: -1, keyStep: 1}},
		summary:  "Deletes one or more keys.", since: "1.0.0", group: "generic",
		complexity: "O(N) where N is the number of keys that will be removed.", args: []respArg{respKeys}},
	{name: "time", arity: 1, flags: []string{"loading", "stale", "fast"}, acl: []string{"@fast"},
		summary: "Returns the server time.", since: "2.6.0", group: "server", complexity: "O(1)"},
	{name: "echo", arity: 2, flags: []string{"loading", "stale", "fast"}, acl: []string{"@fast", "@connection"},
		summary: "Returns the given string.", since: "1.0.0", group: "connection", complexity: "O(1)",
		args: []respArg{{name: "message", typ: "string"}}},
	{name: "exists", arity: -2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: -1, keyStep: 1, acl: []string{"@keyspace", "@read", "@fast"},
		keySpecs: []respKeySpec{{flags: []string{"RO"}, begin: 1, lastKey: -1, keyStep: 1}},
		summary:  "Determines whether one or more keys exist.", since: "1.0.0", group: "generic",
		complexity: "O(N) where N is the number of keys to check.", args: []respArg{respKeys}},
	{name: "flushall", arity: -1, flags: []string{"write"}, acl: []string{"@keyspace", "@write", "@slow", "@dangerous"},
		summary: "Removes all keys from all databases.", since: "1.0.0", group: "server",
		complexity: "O(N) where N is the total number of keys in all databases", args: []respArg{respFlushType}},
	{name: "flushdb", arity: -1, flags: []string{"write"}, acl: []string{"@keyspace", "@write", "@slow", "@dangerous"},
		summary: "Remove all keys from the current database.", since: "1.0.0", group: "server",
		complexity: "O(N) where N is the number of keys in the selected database", args: []respArg{respFlushType}},
	{name: "function", arity: -2, acl: []string{"@slow"},
		summary: "A container for function commands.", since: "7.0.0", group: "scripting", complexity: "Depends on subcommand.",
		subs: []*respSpec{
			{name: "function|flush", arity: -2, flags: []string{"noscript", "write"}, acl: []string{"@write", "@slow", "@scripting"},
				summary: "Deletes all libraries and functions.", since: "7.0.0", group: "scripting",
				complexity: "O(N) where N is the number of functions deleted", args: []respArg{respFlushType}},
		}},
	{name: "get", arity: 2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@read", "@string", "@fast"},
		keySpecs: []respKeySpec{{flags: []string{"RO", "ACCESS"}, begin: 1, lastKey: 0, keyStep: 1}},
		summary:  "Returns the string value of a key.", since: "1.0.0", group: "string", complexity: "O(1)", args: []respArg{respKey}},
	{name: "getset", arity: 3, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@write", "@string", "@fast"},
		keySpecs: []respKeySpec{{flags: []string{"RW", "ACCESS", "UPDATE"}, begin: 1, lastKey: 0, keyStep: 1}},
		summary:  "Returns the previous string value of a key after setting it to a new value.", since: "1.0.0", group: "string",
		complexity: "O(1)", args: []respArg{respKey, respValue}},
	{name: "hello", arity: -1, flags: []string{"noscript", "loading", "stale", "fast", "no_auth", "allow_busy"}, acl: []string{"@fast", "@connection"},
		summary: "Handshakes with the Redis server.", since: "6.0.0", group: "connection", complexity: "O(1)",
		args: []respArg{{name: "arguments", typ: "block", optional: true, args: []respArg{
			{name: "protover", typ: "integer"},
			{name: "auth", typ: "block", token: "AUTH", optional: true, args: []respArg{
				{name: "username", typ: "string"}, {name: "password", typ: "string"},
			}},
			{name: "clientname", typ: "string", token: "SETNAME", optional: true},
		}}}},
	{name: "info", arity: -1, flags: []string{"loading", "stale"}, acl: []string{"@slow", "@dangerous"},
		summary: "Returns information and statistics about the server.", since: "1.0.0", group: "server", complexity: "O(1)",
		args: []respArg{{name: "section", typ: "string", optional: true, multiple: true}}},
	{name: "mget", arity: -2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: -1, keyStep: 1, acl: []string{"@read", "@string", "@fast"},
		keySpecs: []respKeySpec{{flags: []string{"RO", "ACCESS"}, begin: 1, lastKey: -1, keyStep: 1}},
		summary:  "Atomically returns the string values of one or more keys.", since: "1.0.0", group: "string",
		complexity: "O(N) where N is the number of keys to retrieve.", args: []respArg{respKeys}},
	{name: "mset", arity: -3, flags: []string{"write", "denyoom"}, firstKey: 1, lastKey: -1, keyStep: 2, acl: []string{"@write", "@string", "@slow"},
		keySpecs: []respKeySpec{{flags: []string{"OW", "UPDATE"}, begin: 1, lastKey: -1, keyStep: 2}},
		summary:  "Atomically creates or modifies the string values of one or more keys.", since: "1.0.1", group: "string",
		complexity: "O(N) where N is the number of keys to set.",
		args:       []respArg{{name: "data", typ: "block", multiple: true, args: []respArg{respKey, respValue}}}},
	{name: "ping", arity: -1, flags: []string{"fast"}, acl: []string{"@fast", "@connection"},
		summary: "Returns the server's liveliness response.", since: "1.0.0", group: "connection", complexity: "O(1)",
		args: []respArg{{name: "message", typ: "string", optional: true}}},
	{name: "quit", arity: -1, flags: []string{"allow_busy", "noscript", "loading", "stale", "fast", "no_auth"}, acl: []string{"@fast", "@connection"},
		summary: "Closes the connection.", since: "1.0.0", group: "connection", complexity: "O(1)"},
	{name: "script", arity: -2, acl: []string{"@slow"},
		summary: "A container for Lua scripts management commands.", since: "2.6.0", group: "scripting", complexity: "Depends on subcommand.",
		subs: []*respSpec{
			{name: "script|flush", arity: -2, flags: []string{"noscript"}, acl: []string{"@slow", "@scripting"},
				summary: "Removes all server-side Lua scripts from the script cache.", since: "2.6.0", group: "scripting",
				complexity: "O(N) with N being the number of scripts in cache", args: []respArg{respFlushType}},
		}},
	{name: "select", arity: 2, flags: []string{"loading", "stale", "fast"}, acl: []string{"@fast", "@connection"},
		summary: "Changes the selected database.", since: "1.0.0", group: "connection", complexity: "O(1)",
		args: []respArg{{name: "index", typ: "integer"}}},
	{name: "set", arity: -3, flags: []string{"write", "denyoom"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@write", "@string", "@slow"},
		keySpecs: []respKeySpec{{flags: []string{"RW", "ACCESS", "UPDATE", "VARIABLE_FLAGS"}, begin: 1, lastKey: 0, keyStep: 1}},
		summary:  "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", since: "1.0.0", group: "string",
		complexity: "O(1)",
		args: []respArg{respKey, respValue,
			{name: "condition", typ: "oneof", optional: true, args: []respArg{
				{name: "nx", typ: "pure-token", token: "NX"},
				{name: "xx", typ: "pure-token", token: "XX"},
			}},
			{name: "get", typ: "pure-token", token: "GET", optional: true},
			{name: "expiration", typ: "oneof", optional: true, args: append(respExpiryOption.args[:4:4],
				respArg{name: "keepttl", typ: "pure-token", token: "KEEPTTL"})},
		}},
	{name: "setnx", arity: 3, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@write", "@string", "@fast"},
		keySpecs: []respKeySpec{{flags: []string{"OW", "INSERT"}, begin: 1, lastKey: 0, keyStep: 1}},
		summary:  "Set the string value of a key only when the key doesn't exist.", since: "1.0.0", group: "string",
		complexity: "O(1)", args: []respArg{respKey, respValue}},
	{name: "setxx", arity: 3, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@write", "@string", "@fast"},
		keySpecs: []respKeySpec{{flags: []string{"OW", "UPDATE"}, begin: 1, lastKey: 0, keyStep: 1}},
		summary:  "Set the string value of a key only when the key exists; replies 1 or 0 (a castkv extension).", since: "castkv", group: "string",
		complexity: "O(1)", args: []respArg{respKey, respValue}},
}

// respLookup finds a command or "container|sub" by lowercase name; nil if
// the port does not know it.
func respLookup(name string) *respSpec {
	container, _, isSub := strings.Cut(name, "|")
	for _, spec := range respCommands {
		if spec.name != container {
			continue
		}
		if !isSub {
			return spec
		}
		for _, sub := range spec.subs {
			if sub.name == name {
				return sub
			}
		}
		return nil
	}
	return nil
}

// command answers COMMAND and its subcommands as Redis 7.2 does, with its
// maps and sets (RESP3's; flat arrays in RESP2).
func (s *RESPServer) command(args [][]byte) *wire.Reply {
	if len(args) == 1 {
		return respCommandInfos(respCommands)
	}
	sub := command.Name(args[1:])
	if sub == "help" {
		return respHelp(respLookup("command"))
	}
	spec := respLookup("command|" + sub)
	if spec == nil {
		return respUnknownSubcommand("command", args[1])
	}
	if !spec.accepts(len(args)) {
		return respArity(spec.name)
	}
	switch sub {
	case "count":
		return command.Int(int64(len(respCommands)))
	case "info":
		if len(args) == 2 {
			return respCommandInfos(respCommands)
		}
		out := make([]*wire.Reply, 0, len(args)-2)
		for i := 2; i < len(args); i++ {
			if spec := respLookup(command.Name(args[i:])); spec != nil {
				out = append(out, respCommandInfo(spec))
			} else {
				out = append(out, command.Nil()) // Redis's addReplyNull: $-1 in RESP2
			}
		}
		return command.Array(out...)
	case "docs":
		var out []*wire.Reply
		if len(args) == 2 {
			for _, spec := range respCommands {
				out = append(out, command.Bulk([]byte(spec.name)), respCommandDocs(spec))
			}
		}
		for i := 2; i < len(args); i++ {
			if spec := respLookup(command.Name(args[i:])); spec != nil {
				out = append(out, command.Bulk([]byte(spec.name)), respCommandDocs(spec))
			}
		}
		return respMap(out...)
	case "list":
		return respCommandList(args[2:])
	case "getkeys":
		return respGetKeys(args[2:])
	}
	return respUnknownSubcommand("command", args[1])
}

func respStatuses(ss []string) *wire.Reply {
	out := make([]*wire.Reply, len(ss))
	for i, s := range ss {
		out[i] = command.Status(s)
	}
	return command.Array(out...)
}

// respStatusSet is a set of status replies, as Redis's
// addReplyCommandFlags writes flags and ACL categories.
func respStatusSet(ss []string) *wire.Reply {
	r := respStatuses(ss)
	r.Str = respShapeSet
	return r
}

func respBulkString(s string) *wire.Reply { return command.Bulk([]byte(s)) }

func respCommandInfos(specs []*respSpec) *wire.Reply {
	out := make([]*wire.Reply, len(specs))
	for i, spec := range specs {
		out[i] = respCommandInfo(spec)
	}
	return command.Array(out...)
}

// respCommandInfo is Redis 7's ten-element COMMAND INFO entry: name,
// arity, flags, first key, last key, step, ACL categories, tips, key
// specifications, subcommands. The shapes are addReplyCommandInfo's: flags,
// categories, tips and key specifications are sets, each key specification
// a map, and a command without subcommands has an empty set of them.
func respCommandInfo(spec *respSpec) *wire.Reply {
	keySpecs := make([]*wire.Reply, len(spec.keySpecs))
	for i, ks := range spec.keySpecs {
		keySpecs[i] = respMap(
			respBulkString("flags"), respStatusSet(ks.flags),
			respBulkString("begin_search"), respMap(
				respBulkString("type"), respBulkString("index"),
				respBulkString("spec"), respMap(respBulkString("index"), command.Int(int64(ks.begin))),
			),
			respBulkString("find_keys"), respMap(
				respBulkString("type"), respBulkString("range"),
				respBulkString("spec"), respMap(
					respBulkString("lastkey"), command.Int(int64(ks.lastKey)),
					respBulkString("keystep"), command.Int(int64(ks.keyStep)),
					respBulkString("limit"), command.Int(0),
				),
			),
		)
	}
	subs := respSet()
	if len(spec.subs) > 0 {
		subs = respCommandInfos(spec.subs)
	}
	return command.Array(
		respBulkString(spec.name),
		command.Int(int64(spec.arity)),
		respStatusSet(spec.flags),
		command.Int(int64(spec.firstKey)),
		command.Int(int64(spec.lastKey)),
		command.Int(int64(spec.keyStep)),
		respStatusSet(spec.acl),
		respSet(), // tips: castkv routes multi-key commands itself
		respSet(keySpecs...),
		subs,
	)
}

// respCommandDocs is a COMMAND DOCS entry, a map. redis-cli 7.0 reads
// summary, since and group of every entry for its help, so all three are
// always present.
func respCommandDocs(spec *respSpec) *wire.Reply {
	out := []*wire.Reply{
		respBulkString("summary"), respBulkString(spec.summary),
		respBulkString("since"), respBulkString(spec.since),
		respBulkString("group"), respBulkString(spec.group),
		respBulkString("complexity"), respBulkString(spec.complexity),
	}
	if len(spec.args) > 0 {
		out = append(out, respBulkString("arguments"), respArgDocs(spec.args))
	}
	if len(spec.subs) > 0 {
		subs := make([]*wire.Reply, 0, 2*len(spec.subs))
		for _, sub := range spec.subs {
			subs = append(subs, respBulkString(sub.name), respCommandDocs(sub))
		}
		out = append(out, respBulkString("subcommands"), respMap(subs...))
	}
	return respMap(out...)
}

func respArgDocs(args []respArg) *wire.Reply {
	out := make([]*wire.Reply, len(args))
	for i, a := range args {
		doc := []*wire.Reply{
			respBulkString("name"), respBulkString(a.name),
			respBulkString("type"), respBulkString(a.typ),
		}
		if a.typ == "key" {
			doc = append(doc, respBulkString("key_spec_index"), command.Int(int64(a.keySpec)))
		}
		if a.token != "" {
			doc = append(doc, respBulkString("token"), respBulkString(a.token))
		}
		var flags []string
		if a.optional {
			flags = append(flags, "optional")
		}
		if a.multiple {
			flags = append(flags, "multiple")
		}
		if len(flags) > 0 {
			doc = append(doc, respBulkString("flags"), respStatusSet(flags))
		}
		if len(a.args) > 0 {
			doc = append(doc, respBulkString("arguments"), respArgDocs(a.args))
		}
		out[i] = respMap(doc...)
	}
	return command.Array(out...)
}

// respCommandList answers COMMAND LIST [FILTERBY MODULE m | ACLCAT c |
// PATTERN p]: every command and subcommand name, filtered.
func respCommandList(args [][]byte) *wire.Reply {
	keep := func(*respSpec) bool { return true }
	switch {
	case len(args) == 0:
	case len(args) == 3 && command.Name(args) == "filterby":
		value := args[2]
		switch command.Name(args[1:]) {
		case "module":
			keep = func(*respSpec) bool { return false } // castkv loads no modules
		case "aclcat":
			keep = func(s *respSpec) bool {
				for _, c := range s.acl {
					if strings.EqualFold(c[1:], string(value)) {
						return true
					}
				}
				return false
			}
		case "pattern":
			keep = func(s *respSpec) bool { return command.Match(value, []byte(s.name), true) }
		default:
			return command.Error("ERR syntax error")
		}
	default:
		return command.Error("ERR syntax error")
	}
	var out []*wire.Reply
	for _, spec := range respCommands {
		if keep(spec) {
			out = append(out, respBulkString(spec.name))
		}
		for _, sub := range spec.subs {
			if keep(sub) {
				out = append(out, respBulkString(sub.name))
			}
		}
	}
	return command.Array(out...)
}

// respGetKeys answers COMMAND GETKEYS from the table's key positions, with
// Redis 7's error texts.
func respGetKeys(args [][]byte) *wire.Reply {
	spec := respLookup(command.Name(args))
	if spec != nil && len(spec.subs) > 0 && len(args) > 1 {
		if sub := respLookup(spec.name + "|" + command.Name(args[1:])); sub != nil {
			spec = sub
		}
	}
	switch {
	case spec == nil:
		return command.Error("ERR Invalid command specified")
	case spec.firstKey == 0:
		return command.Error("ERR The command has no key arguments")
	case !spec.accepts(len(args)):
		return command.Error("ERR Invalid number of arguments specified for command")
	}
	last := spec.lastKey
	if last < 0 {
		last += len(args)
	}
	var keys []*wire.Reply
	for i := spec.firstKey; i <= last && i < len(args); i += spec.keyStep {
		keys = append(keys, command.Bulk(args[i]))
	}
	return command.Array(keys...)
}

// respHelp is a container's HELP reply in Redis's addReplyHelp shape.
func respHelp(spec *respSpec) *wire.Reply {
	upper := strings.ToUpper(spec.name)
	lines := []string{upper + " <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"}
	for _, sub := range spec.subs {
		_, name, _ := strings.Cut(sub.name, "|")
		lines = append(lines, strings.ToUpper(name), "    "+sub.summary)
	}
	lines = append(lines, "HELP", "    Print this help.")
	return respStatuses(lines)
}
