package checker

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Input is one client command as issued.
type Input struct {
	// Cmd is the command name in lowercase: get set setnx setxx getset mget
	// mset msetnx exists del dbsize flushall flushdb incrby pexpire rename
	// (source, destination) exec.
	Cmd  string
	Keys []string
	// Values holds the written values: one for set, setnx, setxx and getset,
	// one per key for mset and msetnx.
	Values []string
	// NX, XX and Get are the options of set.
	NX, XX, Get bool
	// Incr is incrby's step, signed: INCR is incrby 1, DECRBY k 5 is
	// incrby -5.
	Incr int64
	// PX is a time to live in milliseconds: set's PX option, or pexpire's
	// time (pexpire key ms replies 1, or 0 for an absent key). 0: none.
	PX int64
	// Sub is an exec's block (MULTI ... EXEC), run as one step: commands
	// of one key each (get, set, setnx, setxx, getset, incrby, del, with
	// no time to live). An exec's Keys are its commands' keys, each once.
	Sub []Input
}

// written is every value in writes: its own and its block's.
func (in *Input) written() []string {
	if len(in.Sub) == 0 {
		return in.Values
	}
	out := slices.Clone(in.Values)
	for i := range in.Sub {
		out = append(out, in.Sub[i].Values...)
	}
	return out
}

// OutputKind is the shape of a reply. The zero value is not a kind, so a
// forgotten output is caught by Check.
type OutputKind int

const (
	OutOK    OutputKind = iota + 1 // +OK
	OutNil                         // nil bulk string
	OutInt                         // integer, in Output.Int
	OutBulk                        // bulk string, in Output.Str
	OutArray                       // array of bulk-or-nil, in Output.Strs
	OutErr                         // error, in Output.Err
)

func (k OutputKind) String() string {
	switch k {
	case OutOK:
		return "ok"
	case OutNil:
		return "nil"
	case OutInt:
		return "int"
	case OutBulk:
		return "bulk"
	case OutArray:
		return "array"
	case OutErr:
		return "error"
	}
	return "OutputKind(" + strconv.Itoa(int(k)) + ")"
}

// Output is the reply a client saw.
type Output struct {
	Kind OutputKind
	Int  int64
	Str  string    // bulk value
	Strs []*string // mget: a nil entry is a nil reply
	Err  string    // error text without the leading '-', e.g. "TRYAGAIN shard 3 moving"
	// Items are exec's replies, one per command of its block (Kind
	// OutArray, Strs nil).
	Items []Output
}

// Op is one operation of a history.
type Op struct {
	// Client is the porcupine client id. A client whose op has an unknown
	// outcome is retired by the caller: its next op uses a fresh id.
	Client int
	// Call and Return are virtual times in nanoseconds. Check treats the
	// Return of an Unknown op as +infinity.
	Call, Return int64
	Input        Input
	Output       Output
	// Unknown marks an outcome the client could not learn (a timeout, or an
	// error after which the command may have taken effect): any output is
	// accepted, and the op may or may not have taken effect.
	Unknown bool

	// anyCount marks a DEL cut out of a DEL of several keys by a key's
	// projection (project.go): it took effect within its interval, but
	// its reply counted other keys too, so any count is accepted.
	anyCount bool
}

// String describes the op as the visualization shows it, for example
// `set k1 "v" NX -> OK` or `mset a "1" b "2" -> ? (unknown: timeout)`.
func (op Op) String() string {
	if op.anyCount {
		return op.Input.String() + " -> (a count over other keys too)"
	}
	if op.Unknown {
		if op.Output.Kind == OutErr {
			return op.Input.String() + " -> ? (unknown: " + op.Output.Err + ")"
		}
		return op.Input.String() + " -> ? (unknown)"
	}
	return op.Input.String() + " -> " + op.Output.String()
}

// String describes the command, keys bare and values quoted:
// `set k1 "v" NX GET`, `mset a "1" b "2"`.
func (in Input) String() string {
	var b strings.Builder
	b.WriteString(in.Cmd)
	if len(in.Sub) > 0 {
		parts := make([]string, len(in.Sub))
		for i, sub := range in.Sub {
			parts[i] = sub.String()
		}
		return "exec [" + strings.Join(parts, "; ") + "]"
	}
	if (in.Cmd == "mset" || in.Cmd == "msetnx") && len(in.Keys) == len(in.Values) {
		for i, k := range in.Keys {
			b.WriteString(" " + describeKey(k) + " " + describeValue(in.Values[i]))
		}
	} else {
		for _, k := range in.Keys {
			b.WriteString(" " + describeKey(k))
		}
		for _, v := range in.Values {
			b.WriteString(" " + describeValue(v))
		}
	}
	if in.Cmd == "incrby" {
		b.WriteString(" " + strconv.FormatInt(in.Incr, 10))
	}
	if in.NX {
		b.WriteString(" NX")
	}
	if in.XX {
		b.WriteString(" XX")
	}
	if in.Get {
		b.WriteString(" GET")
	}
	if in.PX != 0 {
		if in.Cmd == "set" {
			b.WriteString(" PX")
		}
		b.WriteString(" " + strconv.FormatInt(in.PX, 10))
	}
	return b.String()
}

// String describes the reply: OK, nil, 3, "v", ["a" nil], (error) ERR ....
func (out Output) String() string {
	switch out.Kind {
	case OutOK:
		return "OK"
	case OutNil:
		return "nil"
	case OutInt:
		return strconv.FormatInt(out.Int, 10)
	case OutBulk:
		return describeValue(out.Str)
	case OutArray:
		if out.Items != nil {
			parts := make([]string, len(out.Items))
			for i, item := range out.Items {
				parts[i] = item.String()
			}
			return "[" + strings.Join(parts, "; ") + "]"
		}
		parts := make([]string, len(out.Strs))
		for i, s := range out.Strs {
			if s == nil {
				parts[i] = "nil"
			} else {
				parts[i] = describeValue(*s)
			}
		}
		return "[" + strings.Join(parts, " ") + "]"
	case OutErr:
		return "(error) " + out.Err
	}
	return out.Kind.String()
}

// maxDescribedValueBytes bounds a value's text in descriptions; the
// visualization has one line per op.
const maxDescribedValueBytes = 40

func describeValue(v string) string {
	if len(v) <= maxDescribedValueBytes {
		return strconv.Quote(v)
	}
	return strconv.Quote(v[:maxDescribedValueBytes]) + fmt.Sprintf("…(%d bytes)", len(v))
}

func describeKey(k string) string {
	if k == "" {
		return `""`
	}
	for _, r := range k {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) || r == '"' {
			return strconv.Quote(k)
		}
	}
	return k
}

// describeTime prints virtual nanoseconds as a duration since the start of
// the run, which is how the simulator's traces print time.
func describeTime(ns int64) string {
	return time.Duration(ns).String()
}

// validate reports why an op cannot be checked. Such an op is a bug in the
// caller that recorded it, not a finding about castkv.
func (op *Op) validate() error {
	in := &op.Input
	c, ok := commands[in.Cmd]
	if !ok {
		return fmt.Errorf("unknown command %q", in.Cmd)
	}
	if !op.Unknown && op.Return < op.Call {
		return fmt.Errorf("returns at %d before its call at %d", op.Return, op.Call)
	}
	if (in.NX || in.XX || in.Get) && c != cmdSet {
		return errors.New("NX, XX and GET are options of set only")
	}
	if in.NX && in.XX {
		return errors.New("set with both NX and XX")
	}
	if in.Incr != 0 && c != cmdIncrBy {
		return errors.New("a step is an option of incrby only")
	}
	if in.PX != 0 && c != cmdSet && c != cmdPExpire || in.PX < 0 || c == cmdPExpire && in.PX == 0 {
		return errors.New("a time to live is positive, and an option of set and pexpire only")
	}
	nk, nv := len(in.Keys), len(in.Values)
	switch c {
	case cmdGet, cmdIncrBy, cmdPExpire:
		if nk != 1 || nv != 0 {
			return fmt.Errorf("%d keys and %d values, want 1 key and no value", nk, nv)
		}
	case cmdSet, cmdSetNX, cmdSetXX, cmdGetSet:
		if nk != 1 || nv != 1 {
			return fmt.Errorf("%d keys and %d values, want 1 key and 1 value", nk, nv)
		}
	case cmdMSet, cmdMSetNX:
		if nk == 0 || nv != nk {
			return fmt.Errorf("%d keys and %d values, want as many values as keys, at least one", nk, nv)
		}
	case cmdMGet, cmdExists, cmdDel:
		if nk == 0 || nv != 0 {
			return fmt.Errorf("%d keys and %d values, want at least one key and no value", nk, nv)
		}
	case cmdRename:
		if nk != 2 || nv != 0 || in.Keys[0] == in.Keys[1] {
			return fmt.Errorf("%d keys and %d values, want 2 distinct keys and no value", nk, nv)
		}
	case cmdDBSize, cmdFlush:
		if nk != 0 || nv != 0 {
			return fmt.Errorf("%d keys and %d values, want none", nk, nv)
		}
	case cmdExec:
		if err := in.validateBlock(); err != nil {
			return err
		}
	}
	if len(in.Sub) > 0 && c != cmdExec {
		return errors.New("a block is an option of exec only")
	}
	if !op.Unknown {
		k := op.Output.Kind
		if k < OutOK || k > OutErr {
			return fmt.Errorf("output kind %d is not an OutputKind", int(k))
		}
	}
	return nil
}

// validateBlock checks an exec's block and its Keys.
func (in *Input) validateBlock() error {
	if len(in.Sub) == 0 || len(in.Values) != 0 {
		return errors.New("exec with no block, or with values of its own")
	}
	var keys []string
	for i := range in.Sub {
		sub := Op{Input: in.Sub[i], Unknown: true}
		switch commands[sub.Input.Cmd] {
		case cmdGet, cmdSet, cmdSetNX, cmdSetXX, cmdGetSet, cmdIncrBy, cmdDel:
		default:
			return fmt.Errorf("exec's block holds %s", sub.Input.Cmd)
		}
		if err := sub.validate(); err != nil {
			return fmt.Errorf("exec's command %d: %v", i, err)
		}
		if len(sub.Input.Keys) != 1 || sub.Input.PX != 0 {
			return fmt.Errorf("exec's command %d is not on one key with no time to live", i)
		}
		if !slices.Contains(keys, sub.Input.Keys[0]) {
			keys = append(keys, sub.Input.Keys[0])
		}
	}
	if !slices.Equal(keys, in.Keys) {
		return fmt.Errorf("exec's keys %v are not its block's, each once: %v", in.Keys, keys)
	}
	return nil
}
