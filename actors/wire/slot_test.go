package wire

import (
	"bytes"
	"testing"

	"pgregory.net/rapid"
)

func TestCRC16Vectors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint16
	}{
		{"", 0},
		{"123456789", 0x31C3}, // CRC-16/XMODEM check value
		{string([]byte{83, 153, 134, 118, 229, 214, 244, 75, 140, 37, 215, 215}), 21847},
	} {
		if got := crc16([]byte(tc.in)); got != tc.want {
			t.Errorf("crc16(%q) = %#04x, want %#04x", tc.in, got, tc.want)
		}
	}
}

func TestSlotVectors(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want uint16
	}{
		{"", 0},
		{"123456789", 12739},
		{"foo", 12182},
		{"bar", 5061},
		{"hello", 866},
		{"{}foo", 9500},
		{"foo{}", 5542},
		{"foo{}{bar}", 8363}, // empty first tag: the whole key is hashed
		{string([]byte{83, 153, 134, 118, 229, 214, 244, 75, 140, 37, 215, 215}), 5463},
		{"{foo}", 12182},
		{"x{foo}y", 12182},
		{"{foo", crc16([]byte("{foo")) & 0x3FFF},
		{"foo}", crc16([]byte("foo}")) & 0x3FFF},
		{"}foo{", crc16([]byte("}foo{")) & 0x3FFF},
	} {
		if got := Slot([]byte(tc.key)); got != tc.want {
			t.Errorf("Slot(%q) = %d, want %d", tc.key, got, tc.want)
		}
	}
}

func TestSlotHashTagPairs(t *testing.T) {
	for _, tc := range []struct{ one, two string }{
		{"foo{bar}", "bar"},
		{"{foo}bar", "foo"},
		{"{user1000}.following", "{user1000}.followers"},
		{"foo{{bar}}zap", "{bar"}, // tag runs from the first '{' to the first '}' after it
		{"foo{bar}{zap}", "bar"},  // only the first tag counts
		{"a{b}c{d", "b"},
	} {
		if a, b := Slot([]byte(tc.one)), Slot([]byte(tc.two)); a != b {
			t.Errorf("Slot(%q) = %d, Slot(%q) = %d, want equal", tc.one, a, tc.two, b)
		}
	}
}

// crc16Bitwise is CRC-16/XMODEM computed bit by bit, to check the table.
func crc16Bitwise(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc ^= uint16(c) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

func TestCRC16MatchesBitwise(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b := rapid.SliceOf(rapid.Byte()).Draw(t, "b")
		if got, want := crc16(b), crc16Bitwise(b); got != want {
			t.Fatalf("crc16(%q) = %#04x, bitwise %#04x", b, got, want)
		}
	})
}

func TestSlotProperties(t *testing.T) {
	noByte := func(c byte) *rapid.Generator[[]byte] {
		return rapid.SliceOf(rapid.Byte().Filter(func(b byte) bool { return b != c }))
	}
	rapid.Check(t, func(t *rapid.T) {
		// A non-empty tag after the first '{' decides the slot alone.
		prefix := noByte('{').Draw(t, "prefix")
		tag := rapid.SliceOfN(rapid.Byte().Filter(func(b byte) bool { return b != '}' }), 1, 20).Draw(t, "tag")
		suffix := rapid.SliceOf(rapid.Byte()).Draw(t, "suffix")
		key := bytes.Join([][]byte{prefix, {'{'}, tag, {'}'}, suffix}, nil)
		if got, want := Slot(key), crc16Bitwise(tag)%Slots; got != want {
			t.Fatalf("Slot(%q) = %d, want the tag %q's %d", key, got, tag, want)
		}

		// A key with no '{' hashes whole, and every slot is in range.
		plain := noByte('{').Draw(t, "plain")
		if got, want := Slot(plain), crc16Bitwise(plain)%Slots; got != want {
			t.Fatalf("Slot(%q) = %d, want %d", plain, got, want)
		}
		if any := rapid.SliceOf(rapid.Byte()).Draw(t, "any"); Slot(any) >= Slots {
			t.Fatalf("Slot(%q) = %d, out of range", any, Slot(any))
		}
	})
}
