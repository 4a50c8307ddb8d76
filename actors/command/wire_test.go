package command

import (
	"reflect"
	"testing"

	"castkv/actors/wire"
)

// Every command Parse accepts crosses to a data server and back unchanged
// (but for Args, which data servers never see).
func TestWireRoundTrip(t *testing.T) {
	for _, words := range [][]string{
		{"get", "k"}, {"SET", "k", "v"}, {"set", "k", "", "nx", "get"}, {"set", "k", "v", "XX"},
		{"setnx", "k", "v"}, {"setxx", "k", "v"}, {"getset", "k", "v"}, {"mget", "a", "b", "a"},
		{"mset", "a", "1", "b", "2"}, {"exists", "a", "a"}, {"del", "a", "b"}, {"dbsize"}, {"flushdb"},
	} {
		c := mustParse(t, words...)
		got, bad := FromWire(ToWire(c))
		if bad != nil {
			t.Errorf("%q: %v", words, bad)
			continue
		}
		c.Args = nil
		if !reflect.DeepEqual(got, c) {
			t.Errorf("%q: got %+v, want %+v", words, got, c)
		}
	}
}

// A command no client could have sent (a bug, a stray peer) is refused
// with an error reply, never evaluated.
func TestWireRefusesMalformed(t *testing.T) {
	k, v := []byte("k"), []byte("v")
	for name, w := range map[string]*wire.Command{
		"none":              nil,
		"kind 0":            {Kind: 0, Keys: [][]byte{k}},
		"unknown kind":      {Kind: 200, Keys: [][]byte{k}},
		"get with a value":  {Kind: uint32(Get), Keys: [][]byte{k}, Values: [][]byte{v}},
		"set without value": {Kind: uint32(Set), Keys: [][]byte{k}},
		"set two keys":      {Kind: uint32(Set), Keys: [][]byte{k, k}, Values: [][]byte{v}},
		"set nx and xx":     {Kind: uint32(Set), Keys: [][]byte{k}, Values: [][]byte{v}, Nx: true, Xx: true},
		"setnx with get":    {Kind: uint32(SetNX), Keys: [][]byte{k}, Values: [][]byte{v}, Get: true},
		"mset uneven":       {Kind: uint32(MSet), Keys: [][]byte{k, k}, Values: [][]byte{v}},
		"mget no keys":      {Kind: uint32(MGet)},
		"dbsize with a key": {Kind: uint32(DBSize), Keys: [][]byte{k}},
	} {
		if c, bad := FromWire(w); bad == nil || c != nil {
			t.Errorf("%s: accepted as %+v", name, c)
		}
	}
}
