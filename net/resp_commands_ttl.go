package net

// The expiry commands as Redis 7.2 describes them; init merges them into
// respCommands with respMoreCommands.

var respExpiryOption = respArg{name: "expiration", typ: "oneof", optional: true, args: []respArg{
	{name: "seconds", typ: "integer", token: "EX"},
	{name: "milliseconds", typ: "integer", token: "PX"},
	{name: "unix-time-seconds", typ: "unix-time", token: "EXAT"},
	{name: "unix-time-milliseconds", typ: "unix-time", token: "PXAT"},
}}

var respExpireCondition = respArg{name: "condition", typ: "oneof", optional: true, args: []respArg{
	{name: "nx", typ: "pure-token", token: "NX"},
	{name: "xx", typ: "pure-token", token: "XX"},
	{name: "gt", typ: "pure-token", token: "GT"},
	{name: "lt", typ: "pure-token", token: "LT"},
}}

var respTTLCommands = []*respSpec{
	respExpire("expire", "Sets the expiration time of a key in seconds.", "1.0.0", respArg{name: "seconds", typ: "integer"}),
	respExpire("pexpire", "Sets the expiration time of a key in milliseconds.", "2.6.0", respArg{name: "milliseconds", typ: "integer"}),
	respExpire("expireat", "Sets the expiration time of a key to a Unix timestamp.", "1.2.0", respArg{name: "unix-time-seconds", typ: "unix-time"}),
	respExpire("pexpireat", "Sets the expiration time of a key to a Unix milliseconds timestamp.", "2.6.0",
		respArg{name: "unix-time-milliseconds", typ: "unix-time"}),
	respTTLRead("ttl", "Returns the expiration time in seconds of a key."),
	respTTLRead("pttl", "Returns the expiration time in milliseconds of a key."),
	respTTLRead("expiretime", "Returns the expiration time of a key as a Unix timestamp."),
	respTTLRead("pexpiretime", "Returns the expiration time of a key as a Unix milliseconds timestamp."),
	{name: "persist", arity: 2, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@keyspace", "@write", "@fast"},
		keySpecs: []respKeySpec{{flags: []string{"RW", "UPDATE"}, begin: 1, lastKey: 0, keyStep: 1}},
		summary:  "Removes the expiration time of a key.", since: "2.2.0", group: "generic", complexity: "O(1)", args: []respArg{respKey}},
	{name: "setex", arity: 4, flags: []string{"write", "denyoom"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@write", "@string", "@slow"},
		keySpecs: []respKeySpec{{flags: []string{"OW", "UPDATE"}, begin: 1, lastKey: 0, keyStep: 1}},
		summary:  "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", since: "2.0.0", group: "string",
		complexity: "O(1)", args: []respArg{respKey, {name: "seconds", typ: "integer"}, respValue}},
	{name: "psetex", arity: 4, flags: []string{"write", "denyoom"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@write", "@string", "@slow"},
		keySpecs: []respKeySpec{{flags: []string{"OW", "UPDATE"}, begin: 1, lastKey: 0, keyStep: 1}},
		summary:  "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", since: "2.6.0",
		group: "string", complexity: "O(1)", args: []respArg{respKey, {name: "milliseconds", typ: "integer"}, respValue}},
	{name: "scan", arity: -2, flags: []string{"readonly"}, acl: []string{"@keyspace", "@read", "@slow"},
		summary: "Iterates over the key names in the database.", since: "2.8.0", group: "generic",
		complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
		args: []respArg{{name: "cursor", typ: "integer"}, {name: "pattern", typ: "pattern", token: "MATCH", optional: true},
			{name: "count", typ: "integer", token: "COUNT", optional: true}, {name: "type", typ: "string", token: "TYPE", optional: true}}},
	{name: "keys", arity: 2, flags: []string{"readonly"}, acl: []string{"@keyspace", "@read", "@slow", "@dangerous"},
		summary: "Returns all key names that match a pattern.", since: "1.0.0", group: "generic",
		complexity: "O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length.",
		args:       []respArg{{name: "pattern", typ: "pattern"}}},
	{name: "rename", arity: 3, flags: []string{"write"}, firstKey: 1, lastKey: 2, keyStep: 1, acl: []string{"@keyspace", "@write", "@slow"},
		keySpecs: []respKeySpec{{flags: []string{"RW", "ACCESS", "DELETE"}, begin: 1, lastKey: 0, keyStep: 1}, {flags: []string{"OW", "UPDATE"}, begin: 2, lastKey: 0, keyStep: 1}},
		summary:  "Renames a key and overwrites the destination.", since: "1.0.0", group: "generic", complexity: "O(1)",
		args: []respArg{respKey, {name: "newkey", typ: "key", keySpec: 1}}},
	{name: "renamenx", arity: 3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 2, keyStep: 1, acl: []string{"@keyspace", "@write", "@fast"},
		keySpecs: []respKeySpec{{flags: []string{"RW", "ACCESS", "DELETE"}, begin: 1, lastKey: 0, keyStep: 1}, {flags: []string{"OW", "INSERT"}, begin: 2, lastKey: 0, keyStep: 1}},
		summary:  "Renames a key only when the target key name doesn't exist.", since: "1.0.0", group: "generic", complexity: "O(1)",
		args: []respArg{respKey, {name: "newkey", typ: "key", keySpec: 1}}},
	{name: "copy", arity: -3, flags: []string{"write", "denyoom"}, firstKey: 1, lastKey: 2, keyStep: 1, acl: []string{"@keyspace", "@write", "@slow"},
		keySpecs: []respKeySpec{{flags: []string{"RO", "ACCESS"}, begin: 1, lastKey: 0, keyStep: 1}, {flags: []string{"OW", "UPDATE"}, begin: 2, lastKey: 0, keyStep: 1}},
		summary:  "Copies the value of a key to a new key.", since: "6.2.0", group: "generic",
		complexity: "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.",
		args: []respArg{{name: "source", typ: "key"}, {name: "destination", typ: "key", keySpec: 1},
			{name: "destination-db", typ: "integer", token: "DB", optional: true}, {name: "replace", typ: "pure-token", token: "REPLACE", optional: true}}},
	{name: "getex", arity: -2, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@write", "@string", "@fast"},
		keySpecs: []respKeySpec{{flags: []string{"RW", "ACCESS", "UPDATE"}, begin: 1, lastKey: 0, keyStep: 1}},
		summary:  "Returns the string value of a key after setting its expiration time.", since: "6.2.0", group: "string", complexity: "O(1)",
		args: []respArg{respKey, {name: "expiration", typ: "oneof", optional: true, args: append(respExpiryOption.args[:4:4],
			respArg{name: "persist", typ: "pure-token", token: "PERSIST"})}}},
}

func respExpire(name, summary, since string, when respArg) *respSpec {
	return &respSpec{name: name, arity: -3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1,
		acl:      []string{"@keyspace", "@write", "@fast"},
		keySpecs: []respKeySpec{{flags: []string{"RW", "UPDATE"}, begin: 1, lastKey: 0, keyStep: 1}},
		summary:  summary, since: since, group: "generic", complexity: "O(1)", args: []respArg{respKey, when, respExpireCondition}}
}

func respTTLRead(name, summary string) *respSpec {
	return &respSpec{name: name, arity: 2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1,
		acl:      []string{"@keyspace", "@read", "@fast"},
		keySpecs: []respKeySpec{{flags: []string{"RO", "ACCESS"}, begin: 1, lastKey: 0, keyStep: 1}},
		summary:  summary, since: "1.0.0", group: "generic", complexity: "O(1)", args: []respArg{respKey}}
}
