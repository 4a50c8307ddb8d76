//go:build !linux

package main

import (
	"context"
	"errors"
)

// Off Linux there is no perf: fsyncs are not counted.
type fsyncCounter struct{}

type fsyncSession struct{}

func newFsyncCounter(context.Context) (*fsyncCounter, string) {
	return nil, "fsyncs are counted only on Linux, with perf"
}

func (*fsyncCounter) check(int) error {
	return errors.New("fsyncs are counted only on Linux")
}

func (*fsyncCounter) start(int) (*fsyncSession, error) {
	return nil, errors.New("fsyncs are counted only on Linux")
}

func (*fsyncSession) stop() (int64, error) {
	return 0, errors.New("fsyncs are counted only on Linux")
}
