package net

import (
	"slices"
	"strings"
)

// The string commands beyond GET and SET, the generic UNLINK, TYPE and
// RANDOMKEY (resp_randomkey.go), and the transaction commands, as Redis
// 7.2 describes them; init merges them into respCommands in name order.
var respMoreCommands = []*respSpec{
	{name: "randomkey", arity: 1, flags: []string{"readonly"}, acl: []string{"@keyspace", "@read", "@slow"},
		summary: "Returns a random key name from the database.", since: "1.0.0", group: "generic", complexity: "O(1)"},
	respStringWrite("incr", 2, "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "1.0.0"),
	respStringWrite("decr", 2, "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "1.0.0"),
	respStringWrite("incrby", 3, "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "1.0.0",
		respArg{name: "increment", typ: "integer"}),
	respStringWrite("decrby", 3, "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", "1.0.0",
		respArg{name: "decrement", typ: "integer"}),
	respStringWrite("incrbyfloat", 3, "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "2.6.0",
		respArg{name: "increment", typ: "double"}),
	respStringWrite("append", 3, "Appends a string to the value of a key. Creates the key if it doesn't exist.", "2.0.0", respValue),
	respStringWrite("setrange", 4, "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", "2.2.0",
		respArg{name: "offset", typ: "integer"}, respValue),
	{name: "getdel", arity: 2, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@write", "@string", "@fast"},
		keySpecs: []respKeySpec{{flags: []string{"RW", "ACCESS", "DELETE"}, begin: 1, lastKey: 0, keyStep: 1}},
		summary:  "Returns the string value of a key after deleting the key.", since: "6.2.0", group: "string", complexity: "O(1)",
		args: []respArg{respKey}},
	respStringRead("strlen", 2, "Returns the length of a string value.", "2.2.0"),
	respStringRead("getrange", 4, "Returns a substring of the string stored at a key.", "2.4.0",
		respArg{name: "start", typ: "integer"}, respArg{name: "end", typ: "integer"}),
	respStringRead("substr", 4, "Returns a substring from a string value.", "1.0.0",
		respArg{name: "start", typ: "integer"}, respArg{name: "end", typ: "integer"}),
	{name: "type", arity: 2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@keyspace", "@read", "@fast"},
		keySpecs: []respKeySpec{{flags: []string{"RO"}, begin: 1, lastKey: 0, keyStep: 1}},
		summary:  "Determines the type of value stored at a key.", since: "1.0.0", group: "generic", complexity: "O(1)",
		args: []respArg{respKey}},
	{name: "unlink", arity: -2, flags: []string{"write", "fast"}, firstKey: 1, lastKey: -1, keyStep: 1, acl: []string{"@keyspace", "@write", "@fast"},
		keySpecs: []respKeySpec{{flags: []string{"RM", "DELETE"}, begin: 1, lastKey: -1, keyStep: 1}},
		summary:  "Asynchronously deletes one or more keys.", since: "4.0.0", group: "generic",
		complexity: "O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of.",
		args:       []respArg{respKeys}},
	{name: "msetnx", arity: -3, flags: []string{"write", "denyoom"}, firstKey: 1, lastKey: -1, keyStep: 2, acl: []string{"@write", "@string", "@slow"},
		keySpecs: []respKeySpec{{flags: []string{"OW", "INSERT"}, begin: 1, lastKey: -1, keyStep: 2}},
		summary:  "Atomically modifies the string values of one or more keys only when all keys don't exist.", since: "1.0.1", group: "string",
		complexity: "O(N) where N is the number of keys to set.",
		args:       []respArg{{name: "data", typ: "block", multiple: true, args: []respArg{respKey, respValue}}}},
	{name: "role", arity: 1, flags: []string{"noscript", "loading", "stale", "fast"}, acl: []string{"@admin", "@fast", "@dangerous"},
		summary: "Returns the replication role.", since: "2.8.12", group: "server", complexity: "O(1)"},
	{name: "reset", arity: 1, flags: []string{"noscript", "loading", "stale", "fast", "no_auth", "allow_busy"}, acl: []string{"@fast", "@connection"},
		summary: "Resets the connection.", since: "6.2.0", group: "connection", complexity: "O(1)"},
	{name: "multi", arity: 1, flags: []string{"noscript", "loading", "stale", "fast", "allow_busy"}, acl: []string{"@fast", "@transaction"},
		summary: "Starts a transaction.", since: "1.2.0", group: "transactions", complexity: "O(1)"},
	{name: "exec", arity: 1, flags: []string{"noscript", "loading", "stale", "skip_slowlog"}, acl: []string{"@slow", "@transaction"},
		summary: "Executes all commands in a transaction.", since: "1.2.0", group: "transactions", complexity: "Depends on commands in the transaction"},
	{name: "discard", arity: 1, flags: []string{"noscript", "loading", "stale", "fast", "allow_busy"}, acl: []string{"@fast", "@transaction"},
		summary: "Discards a transaction.", since: "2.0.0", group: "transactions", complexity: "O(N), when N is the number of queued commands"},
	{name: "watch", arity: -2, flags: []string{"noscript", "loading", "stale", "fast", "allow_busy"}, firstKey: 1, lastKey: -1, keyStep: 1,
		acl:      []string{"@fast", "@transaction"},
		keySpecs: []respKeySpec{{flags: []string{"RO"}, begin: 1, lastKey: -1, keyStep: 1}},
		summary:  "Monitors changes to keys to determine the execution of a transaction.", since: "2.2.0",
		group: "transactions", complexity: "O(1) for every key.", args: []respArg{respKeys}},
	{name: "unwatch", arity: 1, flags: []string{"noscript", "loading", "stale", "fast", "allow_busy"}, acl: []string{"@fast", "@transaction"},
		summary: "Forgets about watched keys of a transaction.", since: "2.2.0", group: "transactions", complexity: "O(1)"},
}

func respStringWrite(name string, arity int, summary, since string, args ...respArg) *respSpec {
	return &respSpec{name: name, arity: arity, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1,
		acl:      []string{"@write", "@string", "@fast"},
		keySpecs: []respKeySpec{{flags: []string{"RW", "ACCESS", "UPDATE"}, begin: 1, lastKey: 0, keyStep: 1}},
		summary:  summary, since: since, group: "string", complexity: "O(1)", args: append([]respArg{respKey}, args...)}
}

func respStringRead(name string, arity int, summary, since string, args ...respArg) *respSpec {
	return &respSpec{name: name, arity: arity, flags: []string{"readonly"}, firstKey: 1, lastKey: 1, keyStep: 1,
		acl:      []string{"@read", "@string", "@slow"},
		keySpecs: []respKeySpec{{flags: []string{"RO", "ACCESS"}, begin: 1, lastKey: 0, keyStep: 1}},
		summary:  summary, since: since, group: "string", complexity: "O(N) where N is the length of the returned string.",
		args: append([]respArg{respKey}, args...)}
}

// respKnown is every command name the port describes, for metrics labels.
var respKnown = map[string]bool{}

func respKnownCommand(name string) bool { return respKnown[name] }

func init() {
	respCommands = append(respCommands, respMoreCommands...)
	respCommands = append(respCommands, respTTLCommands...)
	for _, c := range respCommands {
		respKnown[c.name] = true
	}
	slices.SortFunc(respCommands, func(a, b *respSpec) int { return strings.Compare(a.name, b.name) })
	respIndexCommands() // INFO commandstats's entries (resp_info.go)
}
