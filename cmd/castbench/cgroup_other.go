//go:build !linux

package main

import "errors"

type cpuCap struct{}

func newCPUCap(string, float64) (*cpuCap, error) {
	return nil, errors.New("CPU caps need Linux cgroups; --data-cpu 0 runs without them")
}
func (*cpuCap) add(int) error                  { return nil }
func (*cpuCap) periods() (int64, int64, error) { return 0, 0, nil }
func (*cpuCap) remove() error                  { return nil }
