package net

import (
	"crypto/subtle"
	gonet "net"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"castkv/actors/command"
	"castkv/actors/wire"
)

// respRedisVersion is the Redis version whose client-visible behaviour the
// port follows; HELLO and INFO report it so that clients enable the
// features they would for that Redis. castkv's own version is INFO's
// castkv_version.
const respRedisVersion = "7.2.0"

// local answers the connection commands the port handles itself, as Redis
// 7 answers them for a standalone server with one database and no
// scripts. ok is false for a command the Gateway answers.
func (s *RESPServer) local(cl *respClient, name string, args [][]byte) (reply *wire.Reply, ok bool) {
	switch name {
	case "ping":
		return s.ping(args), true
	case "echo":
		if len(args) != 2 {
			return respArity(name), true
		}
		return command.Bulk(args[1]), true
	case "time":
		if len(args) != 1 {
			return respArity(name), true
		}
		// This server's clock, as Redis answers from its own. Expiry runs
		// on the cluster's TSO clock, which keeps pace with the meta
		// leader's: the two agree as well as the machines' clocks do.
		now := time.Now()
		return command.Array(command.Bulk(strconv.AppendInt(nil, now.Unix(), 10)),
			command.Bulk(strconv.AppendInt(nil, int64(now.Nanosecond()/1000), 10))), true
	case "hello":
		cl.info.Lock() // it may set the name and protocol CLIENT LIST shows
		defer cl.info.Unlock()
		return s.hello(cl, args), true
	case "auth":
		return s.auth(cl, args), true
	case "select":
		return s.selectDB(args), true
	case "client":
		return s.client(cl, args), true
	case "command":
		return s.command(args), true
	case "info":
		return s.info(args), true
	case "role":
		if len(args) != 1 {
			return respArity(name), true
		}
		// Every API server is a front door to primaries: as Redis's ROLE
		// of a master with no replicas of its own.
		return command.Array(command.Bulk([]byte("master")), command.Int(0), command.Array()), true
	case "reset":
		if len(args) != 1 {
			return respArity(name), true
		}
		// Redis's RESET: out of MULTI (dispatch ended the block), unnamed,
		// back to RESP2, and back to needing AUTH when a password is set.
		cl.info.Lock()
		defer cl.info.Unlock()
		cl.name = ""
		cl.proto = respProto2
		cl.unauthenticated = s.cfg.RequirePass != ""
		return command.Status("RESET"), true
	case "config":
		return s.config(args), true
	case "cluster":
		// CLUSTER KEYSLOT needs no map: the slot is a hash of the key (or
		// its {hash tag}), the same on every server. The other
		// subcommands ask the cluster.
		if len(args) < 2 || command.Name(args[1:]) != "keyslot" {
			return nil, false
		}
		if len(args) != 3 {
			return respArity("cluster|keyslot"), true
		}
		return command.Int(int64(command.Slot(args[2]))), true
	case "function", "script":
		return s.flushScripts(name, args), true
	}
	return nil, false
}

func respArity(name string) *wire.Reply {
	return command.Error("ERR wrong number of arguments for '" + name + "' command")
}

// respUnknownSubcommand is Redis's commandCheckExistence text for a
// container command: the subcommand cut to 128 bytes, the container's name
// in capitals.
func respUnknownSubcommand(container string, sub []byte) *wire.Reply {
	if len(sub) > 128 {
		sub = sub[:128]
	}
	return command.Error("ERR unknown subcommand '" + string(sub) + "'. Try " + strings.ToUpper(container) + " HELP.")
}

func (s *RESPServer) ping(args [][]byte) *wire.Reply {
	switch len(args) {
	case 1:
		return command.Status("PONG")
	case 2:
		return command.Bulk(args[1])
	}
	return respArity("ping")
}

// hello follows Redis 7's helloCommand: the protocol version first, then
// options, then AUTH, then the authentication check, then SETNAME, then
// the switch to the protocol asked for (2 or 3; none keeps the current
// one), whose encoding the reply already uses.
func (s *RESPServer) hello(cl *respClient, args [][]byte) *wire.Reply {
	next, proto := 1, cl.proto
	if len(args) >= 2 {
		ver, ok := respParseInt(args[1])
		if !ok {
			return command.Error("ERR Protocol version is not an integer or out of range")
		}
		if ver != respProto2 && ver != respProto3 {
			return command.Error("NOPROTO unsupported protocol version")
		}
		next, proto = 2, int(ver)
	}
	var user, pass, name []byte
	hasAuth, hasName := false, false
	for j := next; j < len(args); j++ {
		more := len(args) - 1 - j
		switch opt := command.Name(args[j:]); {
		case opt == "auth" && more >= 2:
			user, pass, hasAuth = args[j+1], args[j+2], true
			j += 2
		case opt == "setname" && more >= 1:
			name, hasName = args[j+1], true
			if !respValidName(name) {
				return command.Error("ERR Client names cannot contain spaces, newlines or special characters.")
			}
			j++
		default:
			return command.Error("ERR Syntax error in HELLO option '" + string(args[j]) + "'")
		}
	}
	if hasAuth {
		if !s.checkPassword(user, pass) {
			return respWrongPass()
		}
		cl.unauthenticated = false
	}
	if cl.unauthenticated {
		return command.Error("NOAUTH HELLO must be called with the client already authenticated, " +
			"otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client " +
			"and select the RESP protocol version at the same time")
	}
	if hasName {
		cl.name = string(name)
	}
	cl.proto = proto
	return respMap(
		command.Bulk([]byte("server")), command.Bulk([]byte("castkv")),
		command.Bulk([]byte("version")), command.Bulk([]byte(respRedisVersion)),
		command.Bulk([]byte("proto")), command.Int(int64(proto)),
		command.Bulk([]byte("id")), command.Int(int64(cl.id)),
		command.Bulk([]byte("mode")), command.Bulk([]byte("standalone")),
		command.Bulk([]byte("role")), command.Bulk([]byte("master")),
		command.Bulk([]byte("modules")), command.Array(),
	)
}

func respWrongPass() *wire.Reply {
	return command.Error("WRONGPASS invalid username-password pair or user is disabled.")
}

// checkPassword is Redis's check for its only user, "default": with no
// password configured the user is nopass and any password works.
func (s *RESPServer) checkPassword(user, pass []byte) bool {
	if string(user) != "default" {
		return false
	}
	if s.cfg.RequirePass == "" {
		return true
	}
	return subtle.ConstantTimeCompare(pass, []byte(s.cfg.RequirePass)) == 1
}

// auth follows Redis 7's authCommand. A failed AUTH leaves an
// authenticated connection authenticated, as in Redis.
func (s *RESPServer) auth(cl *respClient, args [][]byte) *wire.Reply {
	switch {
	case len(args) < 2:
		return respArity("auth")
	case len(args) > 3:
		return command.Error("ERR syntax error")
	case len(args) == 2 && s.cfg.RequirePass == "":
		return command.Error("ERR AUTH <password> called without any password configured for the default user. " +
			"Are you sure your configuration is correct?")
	}
	user, pass := []byte("default"), args[1]
	if len(args) == 3 {
		user, pass = args[1], args[2]
	}
	if !s.checkPassword(user, pass) {
		return respWrongPass()
	}
	cl.unauthenticated = false
	return command.OK()
}

// selectDB: castkv has one database, so 0 is the only index in range.
func (s *RESPServer) selectDB(args [][]byte) *wire.Reply {
	if len(args) != 2 {
		return respArity("select")
	}
	id, ok := respParseInt(args[1])
	if !ok || id != int64(int32(id)) {
		return command.Error("ERR value is not an integer or out of range")
	}
	if id != 0 {
		return command.Error("ERR DB index is out of range")
	}
	return command.OK()
}

// respValidName is Redis's validateClientName (and validateClientAttr):
// printable ASCII without spaces, so CLIENT LIST stays splittable.
func respValidName(name []byte) bool {
	for _, b := range name {
		if b < '!' || b > '~' {
			return false
		}
	}
	return true
}

func (s *RESPServer) client(cl *respClient, args [][]byte) *wire.Reply {
	if len(args) < 2 {
		return respArity("client")
	}
	sub := command.Name(args[1:])
	spec := respLookup("client|" + sub)
	if spec == nil || sub == "help" {
		if sub == "help" {
			return respHelp(respLookup("client"))
		}
		return respUnknownSubcommand("client", args[1])
	}
	if !spec.accepts(len(args)) {
		return respArity(spec.name)
	}
	if reply, ok := s.clientAdmin(cl, sub, args); ok {
		return reply // resp_client.go
	}
	switch sub {
	case "id":
		return command.Int(int64(cl.id))
	case "getname":
		if cl.name == "" {
			return command.Nil()
		}
		return command.Bulk([]byte(cl.name))
	case "setname":
		if !respValidName(args[2]) {
			return command.Error("ERR Client names cannot contain spaces, newlines or special characters.")
		}
		cl.info.Lock()
		cl.name = string(args[2])
		cl.info.Unlock()
		return command.OK()
	case "setinfo":
		attr := command.Name(args[2:])
		if attr != "lib-name" && attr != "lib-ver" {
			return command.Error("ERR Unrecognized option '" + string(args[2]) + "'")
		}
		if !respValidName(args[3]) {
			return command.Error("ERR " + string(args[2]) + " cannot contain spaces, newlines or special characters.")
		}
		cl.info.Lock()
		if attr == "lib-name" {
			cl.libName = string(args[3])
		} else {
			cl.libVer = string(args[3])
		}
		cl.info.Unlock()
		return command.OK()
	case "info":
		return respVerbatim(s.clientInfo(cl))
	}
	return respUnknownSubcommand("client", args[1])
}

// clientInfo is the connection's line in Redis's CLIENT LIST format, with
// the fields castkv can fill. Another connection's is read under its info
// lock (clientLine).
func (s *RESPServer) clientInfo(cl *respClient) string {
	now := time.Now()
	cmd := cl.cmd
	if cmd == "" || cmd == "unknown" {
		cmd = "NULL" // Redis's for a client whose last command it does not know
	}
	var b strings.Builder
	b.WriteString("id=" + strconv.FormatUint(cl.id, 10))
	b.WriteString(" addr=" + cl.conn.RemoteAddr().String())
	b.WriteString(" laddr=" + cl.conn.LocalAddr().String())
	b.WriteString(" name=" + cl.name)
	b.WriteString(" age=" + strconv.FormatInt(int64(now.Sub(cl.created)/time.Second), 10))
	b.WriteString(" idle=" + strconv.FormatInt(int64(now.Sub(cl.lastCmd)/time.Second), 10))
	b.WriteString(" flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 cmd=" + cmd + " user=default redir=-1 resp=" + strconv.Itoa(cl.proto))
	b.WriteString(" lib-name=" + cl.libName + " lib-ver=" + cl.libVer + "\n")
	return b.String()
}

// info answers INFO [section ...] in Redis's format: "# Section" headers,
// "field:value" lines, CRLF line ends, a blank line between sections.
// Unknown sections are skipped; "all" and "everything" mean every
// section, and none or "default" every one but commandstats and
// latencystats, as in Redis 7 (genInfoSectionDict's defaults).
func (s *RESPServer) info(args [][]byte) *wire.Reply {
	sections := s.infoSections()
	want := map[string]bool{}
	for i := 1; i < len(args); i++ {
		want[command.Name(args[i:])] = true
	}
	all := want["all"] || want["everything"]
	byDefault := len(want) == 0 || want["default"]
	var b strings.Builder
	for _, sec := range sections {
		title := strings.ToLower(sec.title)
		if !all && !want[title] && !(byDefault && title != "commandstats" && title != "latencystats") {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("# " + sec.title + "\r\n")
		for _, f := range sec.fields {
			b.WriteString(respInfoText(f[0]) + ":" + respInfoText(f[1]) + "\r\n")
		}
	}
	return respVerbatim(b.String())
}

type respInfoSection struct {
	title  string
	fields [][2]string
}

func (s *RESPServer) infoSections() []respInfoSection {
	now := time.Now()
	uptime := int64(now.Sub(s.started) / time.Second)
	_, port, _ := gonet.SplitHostPort(s.Addr())
	st := s.Stats()
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	sections := []respInfoSection{
		{"Server", [][2]string{
			{"redis_version", respRedisVersion},
			{"castkv_version", castkvVersion()},
			{"redis_mode", "standalone"},
			{"os", runtime.GOOS + " " + runtime.GOARCH},
			{"arch_bits", strconv.Itoa(strconv.IntSize)},
			{"go_version", runtime.Version()},
			{"process_id", strconv.Itoa(os.Getpid())},
			{"run_id", s.runID},
			{"tcp_port", port},
			{"server_time_usec", strconv.FormatInt(now.UnixMicro(), 10)},
			{"uptime_in_seconds", strconv.FormatInt(uptime, 10)},
			{"uptime_in_days", strconv.FormatInt(uptime/86400, 10)},
		}},
		{"Clients", [][2]string{
			{"connected_clients", strconv.Itoa(st.ConnectedClients)},
			{"blocked_clients", strconv.FormatInt(s.pause.waiting.Load(), 10)}, // held by CLIENT PAUSE
			{"maxclients", strconv.Itoa(s.cfg.MaxClients)},
			{"max_pipeline", strconv.Itoa(s.cfg.MaxPipeline)},
			{"max_pipeline_bytes", strconv.Itoa(s.cfg.MaxPipelineBytes)},
		}},
		// Redis reports its clients' memory here too (mem_clients_normal,
		// maxmemory_clients); castkv's is the client memory budget.
		{"Memory", [][2]string{
			{"mem_clients_normal", strconv.FormatInt(st.ClientMemoryBytes, 10)},
			{"mem_clients_peak", strconv.FormatInt(st.ClientMemoryPeakBytes, 10)},
			{"maxmemory_clients", strconv.Itoa(s.cfg.ClientMemoryBytes)},
		}},
		{"Stats", [][2]string{
			{"total_connections_received", u(st.TotalConnections)},
			{"total_commands_processed", u(st.TotalCommands)},
			{"rejected_connections", u(st.RejectedConnections)},
			{"total_protocol_errors", u(st.ProtocolErrors)},
			{"client_memory_refused", u(st.ClientMemoryRefused)},
			{"total_error_replies", u(st.ErrorReplies)},
		}},
		{"Commandstats", s.stats.commandStats()},
		{"Errorstats", s.stats.errorStats()},
		{"Latencystats", s.stats.latencyStats()},
	}
	// cfg.Stats's sections follow, sorted, with Keyspace last as in Redis.
	extra := map[string]*respInfoSection{}
	if s.cfg.Stats != nil {
		for k, v := range s.cfg.Stats() {
			sec, field, ok := strings.Cut(k, ".")
			if !ok {
				sec, field = "keyspace", k
			}
			sec = strings.ToLower(sec)
			if i := slices.IndexFunc(sections, func(b respInfoSection) bool { return strings.ToLower(b.title) == sec }); i >= 0 {
				sections[i].fields = append(sections[i].fields, [2]string{field, v}) // one of the port's own sections
				continue
			}
			if extra[sec] == nil {
				extra[sec] = &respInfoSection{title: strings.ToUpper(sec[:1]) + sec[1:]}
			}
			extra[sec].fields = append(extra[sec].fields, [2]string{field, v})
		}
	}
	if extra["keyspace"] == nil {
		extra["keyspace"] = &respInfoSection{title: "Keyspace"}
	}
	names := make([]string, 0, len(extra))
	for name := range extra {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		if (a == "keyspace") != (b == "keyspace") {
			if a == "keyspace" {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	for _, name := range names {
		sec := extra[name]
		slices.SortFunc(sec.fields, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
		sections = append(sections, *sec)
	}
	return sections
}

// respInfoText keeps a field or value on its INFO line.
func respInfoText(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

// castkvVersion is the main module's version as the Go toolchain stamped
// it ("(devel)" for a build from a work tree).
func castkvVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// respConfigParams are the parameters CONFIG GET reports, read-only.
// redis-benchmark reads "save" and "appendonly" on start and warns when
// it cannot; the rest describe the port.
func (s *RESPServer) respConfigParams() [][2]string {
	host, port, _ := gonet.SplitHostPort(s.Addr())
	return [][2]string{
		{"appendonly", "no"},
		{"bind", host},
		{"databases", "1"},
		{"maxclients", strconv.Itoa(s.cfg.MaxClients)},
		{"maxmemory-clients", strconv.Itoa(s.cfg.ClientMemoryBytes)},
		{"port", port},
		{"proto-max-bulk-len", strconv.Itoa(s.cfg.MaxValueBytes)},
		{"save", ""},
		{"timeout", strconv.FormatInt(int64(s.cfg.IdleTimeout/time.Second), 10)},
	}
}

func (s *RESPServer) config(args [][]byte) *wire.Reply {
	if len(args) < 2 {
		return respArity("config")
	}
	sub := command.Name(args[1:])
	if sub == "help" {
		return respHelp(respLookup("config"))
	}
	spec := respLookup("config|" + sub)
	if spec == nil {
		return respUnknownSubcommand("config", args[1])
	}
	if !spec.accepts(len(args)) {
		return respArity(spec.name)
	}
	params := s.respConfigParams()
	switch sub {
	case "get":
		var out []*wire.Reply
		for _, p := range params {
			for _, pattern := range args[2:] {
				if command.Match(pattern, []byte(p[0]), true) {
					out = append(out, command.Bulk([]byte(p[0])), command.Bulk([]byte(p[1])))
					break
				}
			}
		}
		return respMap(out...)
	case "set":
		if len(args)%2 != 0 {
			return command.Error("ERR wrong number of arguments for 'config|set' command")
		}
		name := command.Name(args[2:])
		for _, p := range params {
			if p[0] == name {
				return command.Error("ERR CONFIG SET failed (possibly related to argument '" + name + "') - can't set immutable config")
			}
		}
		return command.Error("ERR Unknown option or number of arguments for CONFIG SET - '" + string(args[2]) + "'")
	case "resetstat":
		s.totalConns.Store(0)
		s.totalCommands.Store(0)
		s.rejected.Store(0)
		s.protocolErrors.Store(0)
		s.memoryRefused.Store(0)
		s.budget.resetPeak()
		s.stats.reset()
		return command.OK()
	}
	return respUnknownSubcommand("config", args[1])
}

// flushScripts answers FUNCTION FLUSH and SCRIPT FLUSH: castkv runs no
// scripts, so there is nothing to flush and Redis's answer in that state is
// +OK. Their option errors are Redis's texts, which differ by one letter.
func (s *RESPServer) flushScripts(name string, args [][]byte) *wire.Reply {
	if len(args) < 2 {
		return respArity(name)
	}
	sub := command.Name(args[1:])
	if sub == "help" {
		return respHelp(respLookup(name))
	}
	if sub != "flush" {
		return respUnknownSubcommand(name, args[1])
	}
	if len(args) == 2 || len(args) == 3 && (command.Name(args[2:]) == "sync" || command.Name(args[2:]) == "async") {
		return command.OK()
	}
	if name == "script" {
		return command.Error("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
	}
	return command.Error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
}
