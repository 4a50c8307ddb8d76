package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pipelineReplyTimeout bounds the wait for each reply of a long pipeline:
// the pipeline as a whole may take far longer on a loaded machine, but
// one reply more than this after the previous one means the port is
// stuck.
const pipelineReplyTimeout = e2eCommandTimeout

// TestDevPipeline: one connection pipelines 10,000 SETs and 10,000 GETs,
// each GET right after the SET of its key, against `castd dev`, and gets
// every reply in order and correct. Keys repeat (1,000 of them), so a GET
// that ran before the SET ahead of it on the same connection would return
// an older value.
func TestDevPipeline(t *testing.T) {
	const n, keys = 10000, 1000
	dir := workDir(t)
	ps := newProcs(t, dir)
	dc := startDev(t, ps)
	conn := dialRaw(t, dc.clientAddr)

	var req strings.Builder
	for i := range n {
		k, v := fmt.Sprintf("pipe:%d", i%keys), fmt.Sprintf("value-%d", i)
		fmt.Fprintf(&req, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(k), k, len(v), v)
		fmt.Fprintf(&req, "*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", len(k), k)
	}
	sent := make(chan error, 1)
	go func() {
		// The port stops reading while 1,024 commands are unanswered, so
		// the pipeline goes out while the replies are read.
		_ = conn.c.SetWriteDeadline(time.Now().Add(manyCommandsTimeout))
		_, err := io.WriteString(conn.c, req.String())
		sent <- err
	}()

	for i := range n {
		v := fmt.Sprintf("value-%d", i)
		if got := pipelineReply(t, conn); got != "+OK" {
			t.Fatalf("reply to SET #%d (pipe:%d %s): %q, want +OK", i, i%keys, v, got)
		}
		if got := pipelineReply(t, conn); got != v {
			t.Fatalf("reply to GET #%d (pipe:%d), right after its SET: %q, want %q", i, i%keys, got, v)
		}
	}
	if err := <-sent; err != nil {
		t.Fatalf("sending the pipeline: %v", err)
	}
	// The connection still serves one command at a time afterwards.
	conn.expectPrefix("PING\r\n", "+PONG")
}

// pipelineReply reads one reply: a status or error line as it came
// ("+OK", "-ERR ..."), or a bulk string's contents.
func pipelineReply(t *testing.T, conn *rawConn) string {
	t.Helper()
	rd := conn.r
	_ = conn.c.SetReadDeadline(time.Now().Add(pipelineReplyTimeout))
	line, err := rd.ReadString('\n')
	if err != nil {
		t.Fatalf("reading a reply: %q, %v", line, err)
	}
	line = strings.TrimSuffix(line, "\r\n")
	if !strings.HasPrefix(line, "$") {
		return line
	}
	size, err := strconv.Atoi(line[1:])
	if err != nil || size < 0 {
		return line // a nil bulk, or garbage the caller reports
	}
	body := make([]byte, size+2)
	if _, err := io.ReadFull(rd, body); err != nil {
		t.Fatalf("reading a %d-byte bulk reply: %v", size, err)
	}
	return string(body[:size])
}
