package data

import (
	"fmt"
	"slices"
	"testing"

	"castkv/actors/command"
	"castkv/actors/wire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// fillEveryField sets every scalar field of m to a non-zero value, so a copy
// that forgets a field shows.
func fillEveryField(m protoreflect.Message, outer ...protoreflect.FullName) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		switch {
		case f.IsList() || f.IsMap():
		case f.Kind() == protoreflect.MessageKind && slices.Contains(outer, f.Message().FullName()):
			// A message that holds its own kind (Config.split_child): one
			// level is enough.
		case f.Kind() == protoreflect.MessageKind:
			fillEveryField(m.Mutable(f).Message(), append(outer, m.Descriptor().FullName())...)
		case f.Kind() == protoreflect.BoolKind:
			m.Set(f, protoreflect.ValueOfBool(true))
		case f.Kind() == protoreflect.BytesKind:
			m.Set(f, protoreflect.ValueOfBytes([]byte("x")))
		case f.Kind() == protoreflect.StringKind:
			m.Set(f, protoreflect.ValueOfString("x"))
		case f.Kind() == protoreflect.EnumKind:
			m.Set(f, protoreflect.ValueOfEnum(1))
		case f.Kind() == protoreflect.Uint32Kind || f.Kind() == protoreflect.Fixed32Kind:
			m.Set(f, protoreflect.ValueOfUint32(7))
		case f.Kind() == protoreflect.Int64Kind:
			m.Set(f, protoreflect.ValueOfInt64(7))
		default:
			m.Set(f, protoreflect.ValueOfUint64(7))
		}
	}
}

// stripStaged copies an entry field by field: a field it forgets (as it
// once forgot Write.prev_ts, and secondaries kept deleted keys) fails here.
func TestStripStagedKeepsEveryField(t *testing.T) {
	e := &wire.Entry{}
	fillEveryField(e.ProtoReflect())
	w := &wire.Write{}
	fillEveryField(w.ProtoReflect())
	e.Writes = []*wire.Write{w}
	orig := proto.Clone(e).(*wire.Entry)

	got := stripStaged(e)
	if !proto.Equal(e, orig) {
		t.Fatal("stripStaged changed the log's own entry")
	}
	want := proto.Clone(orig).(*wire.Entry)
	want.Writes[0].Value, want.Writes[0].ValueOmitted = nil, true
	if !proto.Equal(got, want) {
		t.Fatalf("stripStaged lost a field:\n got  %v\n want %v", got, want)
	}
}

// cmdOf is a command as the API server sends it, parsed from words.
func cmdOf(words ...string) *wire.Command {
	args := make([][]byte, len(words))
	for i, w := range words {
		args[i] = []byte(w)
	}
	c, bad := command.Parse(args)
	if bad != nil {
		panic(fmt.Sprintf("cmdOf(%q): %v", words, bad))
	}
	return command.ToWire(c)
}
