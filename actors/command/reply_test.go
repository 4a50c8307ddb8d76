package command

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"castkv/actors/wire"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

// decodeRESP reads one RESP2 value from the front of b and returns it with
// the bytes after it. It is written from the RESP2 specification, apart
// from AppendRESP, and accepts only well-formed input.
func decodeRESP(b []byte) (*wire.Reply, []byte, error) {
	if len(b) == 0 {
		return nil, nil, errors.New("empty input")
	}
	end := bytes.Index(b, []byte("\r\n"))
	if end < 0 {
		return nil, nil, fmt.Errorf("no CRLF after %q", b)
	}
	line, rest := string(b[1:end]), b[end+2:]
	switch b[0] {
	case '+':
		return &wire.Reply{Kind: wire.Reply_STATUS, Str: line}, rest, nil
	case '-':
		return &wire.Reply{Kind: wire.Reply_ERROR, Str: line}, rest, nil
	case ':':
		n, err := strconv.ParseInt(line, 10, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("integer %q: %v", line, err)
		}
		return &wire.Reply{Kind: wire.Reply_INT, Int: n}, rest, nil
	case '$':
		n, err := strconv.Atoi(line)
		if err != nil || n < -1 {
			return nil, nil, fmt.Errorf("bulk length %q", line)
		}
		if n == -1 {
			return &wire.Reply{Kind: wire.Reply_NIL}, rest, nil
		}
		if len(rest) < n+2 || string(rest[n:n+2]) != "\r\n" {
			return nil, nil, fmt.Errorf("bulk of %d bytes not followed by CRLF in %q", n, rest)
		}
		return &wire.Reply{Kind: wire.Reply_BULK, Bulk: rest[:n:n]}, rest[n+2:], nil
	case '*':
		n, err := strconv.Atoi(line)
		if err != nil || n < 0 {
			return nil, nil, fmt.Errorf("array length %q", line)
		}
		r := &wire.Reply{Kind: wire.Reply_ARRAY}
		for range n {
			var e *wire.Reply
			if e, rest, err = decodeRESP(rest); err != nil {
				return nil, nil, err
			}
			r.Array = append(r.Array, e)
		}
		return r, rest, nil
	}
	return nil, nil, fmt.Errorf("unknown type byte %q", b[0])
}

func TestAppendRESPExact(t *testing.T) {
	for _, tc := range []struct {
		r    *wire.Reply
		want string
	}{
		{OK(), "+OK\r\n"},
		{Nil(), "$-1\r\n"},
		{nil, "$-1\r\n"},
		{Int(0), ":0\r\n"},
		{Int(-42), ":-42\r\n"},
		{Bulk(nil), "$0\r\n\r\n"},
		{Bulk([]byte("a\r\nb")), "$4\r\na\r\nb\r\n"},
		{Status("PONG"), "+PONG\r\n"},
		{Error("ERR syntax error"), "-ERR syntax error\r\n"},
		{Error("ERR a\r\nb\nc"), "-ERR a  b c\r\n"},
		{&wire.Reply{Kind: wire.Reply_STATUS, Str: "x\ry"}, "+x y\r\n"},
		{&wire.Reply{Kind: wire.Reply_ERROR, Str: "ERR \n"}, "-ERR  \r\n"},
		{Array(), "*0\r\n"},
		{Array(Bulk([]byte("v")), Nil(), Array(Int(1))), "*3\r\n$1\r\nv\r\n$-1\r\n*1\r\n:1\r\n"},
		{&wire.Reply{Kind: 99}, "-ERR castkv: unknown reply kind 99\r\n"},
	} {
		if got := string(AppendRESP([]byte("pre"), tc.r)); got != "pre"+tc.want {
			t.Errorf("AppendRESP(%v) = %q, want %q", tc.r, got, "pre"+tc.want)
		}
	}
}

func TestReplyStringsAreSafe(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ERR plain", "ERR plain"},
		{"ERR a\r\nb", "ERR a  b"},
		{"ERR \xff\xfe x", "ERR ?? x"},
		{"ERR é", "ERR é"},
		{"ERR \xc3", "ERR ?"}, // a cut multi-byte rune
	} {
		if got := Error(tc.in).GetStr(); got != tc.want {
			t.Errorf("Error(%q).Str = %q, want %q", tc.in, got, tc.want)
		}
		if got := Status(tc.in).GetStr(); got != tc.want {
			t.Errorf("Status(%q).Str = %q, want %q", tc.in, got, tc.want)
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		s := string(rapid.SliceOf(rapid.Byte()).Draw(t, "s"))
		for _, r := range []*wire.Reply{Error(s), Status(s)} {
			// Replacements are byte for byte, so the length is kept.
			if strings.ContainsAny(r.GetStr(), "\r\n") || len(r.GetStr()) != len(s) {
				t.Fatalf("%v from %q is %q: holds CR or LF, or changed length", r.GetKind(), s, r.GetStr())
			}
			if utf8.ValidString(s) && !strings.ContainsAny(s, "\r\n") && r.GetStr() != s {
				t.Fatalf("%v from %q is %q: changed a safe string", r.GetKind(), s, r.GetStr())
			}
			if _, err := proto.Marshal(r); err != nil {
				t.Fatalf("%v from %q does not marshal: %v", r.GetKind(), s, err)
			}
		}
	})
}

// genLine is a status or error string: no CR or LF, valid UTF-8.
var genLine = rapid.StringMatching(`[ -~é€]{0,12}`)

// genReply draws a reply tree of at most depth levels of arrays.
func genReply(depth int) *rapid.Generator[*wire.Reply] {
	leaves := []*rapid.Generator[*wire.Reply]{
		rapid.Just(Nil()),
		rapid.Map(genLine, Status),
		rapid.Map(genLine, Error),
		rapid.Map(rapid.Int64(), Int),
		rapid.Map(rapid.SliceOfN(rapid.Byte(), 0, 20), Bulk),
	}
	if depth > 0 {
		leaves = append(leaves, rapid.Map(rapid.SliceOfN(genReply(depth-1), 0, 4), func(elems []*wire.Reply) *wire.Reply {
			return Array(elems...)
		}))
	}
	return rapid.OneOf(leaves...)
}

// TestAppendRESPRoundTrip checks every reply encodes to RESP that decodes
// to the same reply, and that replies concatenate cleanly (a pipeline).
func TestAppendRESPRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		replies := rapid.SliceOfN(genReply(3), 1, 4).Draw(t, "replies")
		var buf []byte
		for _, r := range replies {
			buf = AppendRESP(buf, r)
		}
		rest := buf
		for i, want := range replies {
			got, after, err := decodeRESP(rest)
			if err != nil {
				t.Fatalf("reply %d: decoding %q: %v", i, buf, err)
			}
			if !proto.Equal(got, want) {
				t.Fatalf("reply %d: decoded %v, want %v (RESP %q)", i, got, want, buf)
			}
			rest = after
		}
		if len(rest) != 0 {
			t.Fatalf("%d bytes left after the replies: %q", len(rest), rest)
		}
	})
}

// TestAppendRESPFramesAnyString checks that status and error strings with
// CR and LF, however built, still frame as one line.
func TestAppendRESPFramesAnyString(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := string(rapid.SliceOf(rapid.SampledFrom([]byte("ab\r\n "))).Draw(t, "s"))
		kind := rapid.SampledFrom([]wire.Reply_Kind{wire.Reply_STATUS, wire.Reply_ERROR}).Draw(t, "kind")
		buf := AppendRESP(nil, &wire.Reply{Kind: kind, Str: s})
		got, rest, err := decodeRESP(buf)
		if err != nil || len(rest) != 0 {
			t.Fatalf("AppendRESP(%q) = %q: decode err %v, %d bytes left", s, buf, err, len(rest))
		}
		want := strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
		if got.GetKind() != kind || got.GetStr() != want {
			t.Fatalf("AppendRESP(%q) decodes to %v %q, want %v %q", s, got.GetKind(), got.GetStr(), kind, want)
		}
	})
}
