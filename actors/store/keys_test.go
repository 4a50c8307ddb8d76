package store

import (
	"bytes"
	"testing"

	"pgregory.net/rapid"
)

// keyGen favours the bytes escaping treats specially.
var keyGen = rapid.SliceOfN(rapid.OneOf(
	rapid.SampledFrom([]byte{0x00, 0x01, 0xFE, 0xFF, 'a'}),
	rapid.Byte(),
), 0, 6)

// TestEscapingKeepsOrderAndIsPrefixFree: escaped keys compare like the keys
// and none is a prefix of another, so a key's versions are contiguous.
func TestEscapingKeepsOrderAndIsPrefixFree(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := keyGen.Draw(t, "a"), keyGen.Draw(t, "b")
		ea, eb := appendEscaped(nil, a), appendEscaped(nil, b)
		if got, want := bytes.Compare(ea, eb), bytes.Compare(a, b); got != want {
			t.Fatalf("compare(%x, %x) = %d, escaped %x %x compare %d", a, b, want, ea, eb, got)
		}
		if !bytes.Equal(a, b) && (bytes.HasPrefix(ea, eb) || bytes.HasPrefix(eb, ea)) {
			t.Fatalf("escaped %x and %x: one is a prefix of the other", ea, eb)
		}
		// Every version of a sorts on the same side of every version of b.
		tsA, tsB := rapid.Uint64().Draw(t, "tsA"), rapid.Uint64().Draw(t, "tsB")
		ka, kb := dataKey(7, a, tsA), dataKey(7, b, tsB)
		if c := bytes.Compare(a, b); c != 0 && bytes.Compare(ka, kb) != c {
			t.Fatalf("versions of %x at %d and %x at %d sort out of key order", a, tsA, b, tsB)
		}
		if bytes.Equal(a, b) && tsA != tsB && (bytes.Compare(ka, kb) < 0) != (tsA > tsB) {
			t.Fatalf("versions of %x at %d and %d: newer does not sort first", a, tsA, tsB)
		}
	})
}

func TestPrefixEnd(t *testing.T) {
	for _, c := range []struct{ in, want []byte }{
		{[]byte{'d', 0, 0, 0, 1}, []byte{'d', 0, 0, 0, 2}},
		{[]byte{'l', 0xFF, 0xFF, 0xFF, 0xFF}, []byte{'m'}},
		{[]byte{'a', 0x00, 0x01}, []byte{'a', 0x00, 0x02}},
		{[]byte{0xFF, 0xFF}, nil},
	} {
		if got := prefixEnd(c.in); !bytes.Equal(got, c.want) {
			t.Errorf("prefixEnd(%x) = %x, want %x", c.in, got, c.want)
		}
	}
}
