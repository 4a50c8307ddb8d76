package main

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestAppendCommand(t *testing.T) {
	got := string(appendCommand(nil, []byte("SET"), []byte("k"), []byte("")))
	want := "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"
	if got != want {
		t.Errorf("appendCommand = %q, want %q", got, want)
	}
	args, err := readRequest(bufio.NewReader(strings.NewReader(got)))
	if err != nil || len(args) != 3 || args[0] != "SET" || args[1] != "k" || args[2] != "" {
		t.Errorf("a server reads it back as %q, %v", args, err)
	}
}

func TestReadReplies(t *testing.T) {
	stream := "+OK\r\n" +
		"-TRYAGAIN no primary\r\n" +
		":42\r\n" +
		"$5\r\nhello\r\n" +
		"$-1\r\n" +
		"$0\r\n\r\n" +
		"*2\r\n$1\r\na\r\n*1\r\n:1\r\n" +
		"*-1\r\n"
	rr := newReplyReader(strings.NewReader(stream))
	want := []string{"+OK", "-TRYAGAIN no primary", ":42", "$hello", "(nil)", "$", "*2", "*-1"}
	for i, w := range want {
		r, err := rr.read()
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if r.String() != w {
			t.Errorf("reply %d = %s, want %s", i, r, w)
		}
	}
	if _, err := rr.read(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last reply: %v, want EOF", err)
	}
}

func TestReplyKinds(t *testing.T) {
	rr := newReplyReader(strings.NewReader("-ERR x\r\n$-1\r\n*-1\r\n$1\r\nv\r\n"))
	if r, _ := rr.read(); !r.isError() || r.isNull() {
		t.Errorf("-ERR: isError %v isNull %v", r.isError(), r.isNull())
	}
	for range 2 {
		if r, _ := rr.read(); !r.isNull() || r.isError() {
			t.Errorf("%s: isNull %v isError %v", r, r.isNull(), r.isError())
		}
	}
	if r, _ := rr.read(); r.isNull() || string(r.str) != "v" {
		t.Errorf("$1 v read as %s", r)
	}
}

func TestMalformedReplies(t *testing.T) {
	for _, in := range []string{
		"OK\r\n",            // no type
		"+OK\n",             // no CR
		":x\r\n",            // not an integer
		"$3\r\nabcd\r\n",    // wrong length
		"$-2\r\n",           // bad length
		"$999999999999\r\n", // above maxReplyBytes
		"*2\r\n:1\r\n",      // array cut short
		"\r\n",              // empty line
		strings.Repeat("*1\r\n", maxReplyDepth+2) + ":1\r\n", // too deep
	} {
		if _, err := newReplyReader(strings.NewReader(in)).read(); err == nil {
			t.Errorf("%q read without an error", in)
		}
	}
}
