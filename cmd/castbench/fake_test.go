package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeServer is an in-memory RESP server for the driver's tests: PING,
// SET, GET and MSET, and every failEvery-th command answered -TRYAGAIN.
type fakeServer struct {
	addr      string
	failEvery int64
	commands  atomic.Int64
	mu        sync.Mutex
	data      map[string]string
	sets      map[string]int // SETs and MSETs per key
}

func startFake(t *testing.T, failEvery int64) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{addr: ln.Addr().String(), failEvery: failEvery, data: map[string]string{}, sets: map[string]int{}}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				s.serve(c)
			}()
		}
	}()
	return s
}

func (s *fakeServer) serve(c net.Conn) {
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	for {
		args, err := readRequest(r)
		if err != nil {
			return
		}
		w.WriteString(s.answer(args))
		if r.Buffered() == 0 {
			if w.Flush() != nil {
				return
			}
		}
	}
}

func (s *fakeServer) answer(args []string) string {
	n := s.commands.Add(1)
	if s.failEvery > 0 && n%s.failEvery == 0 {
		return "-TRYAGAIN fake\r\n"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch strings.ToUpper(args[0]) {
	case "PING":
		return "+PONG\r\n"
	case "SET":
		s.data[args[1]] = args[2]
		s.sets[args[1]]++
		return "+OK\r\n"
	case "MSET":
		for i := 1; i+1 < len(args); i += 2 {
			s.data[args[i]] = args[i+1]
			s.sets[args[i]]++
		}
		return "+OK\r\n"
	case "GET":
		v, ok := s.data[args[1]]
		if !ok {
			return "$-1\r\n"
		}
		return fmt.Sprintf("$%d\r\n%s\r\n", len(v), v)
	}
	return "-ERR unknown command\r\n"
}

// readRequest reads one RESP array of bulk strings.
func readRequest(r *bufio.Reader) ([]string, error) {
	line := func() (string, error) {
		s, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if !strings.HasSuffix(s, "\r\n") {
			return "", errors.New("no CRLF")
		}
		return s[:len(s)-2], nil
	}
	h, err := line()
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(h, "*") {
		return nil, fmt.Errorf("request %q is not an array", h)
	}
	n, err := strconv.Atoi(h[1:])
	if err != nil || n < 1 {
		return nil, fmt.Errorf("array header %q", h)
	}
	args := make([]string, n)
	for i := range args {
		h, err := line()
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(h, "$") {
			return nil, fmt.Errorf("argument %q is not a bulk string", h)
		}
		l, err := strconv.Atoi(h[1:])
		if err != nil || l < 0 {
			return nil, fmt.Errorf("bulk header %q", h)
		}
		b := make([]byte, l+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		if string(b[l:]) != "\r\n" {
			return nil, errors.New("bulk string without CRLF")
		}
		args[i] = string(b[:l])
	}
	return args, nil
}
