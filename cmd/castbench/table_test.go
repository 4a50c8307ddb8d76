package main

import (
	"testing"
	"time"
)

func TestFormatTable(t *testing.T) {
	got := formatTable(
		[]string{"row", "ops/s", "p50"},
		[][]string{{"set/p1", "7,152", "6.52ms"}, {"mset/p16", "12", "0.100ms"}, {"x"}},
	)
	want := "" +
		"row       ops/s      p50\n" +
		"set/p1    7,152   6.52ms\n" +
		"mset/p16     12  0.100ms\n" +
		"x\n"
	if got != want {
		t.Errorf("formatTable:\n%s\nwant:\n%s", got, want)
	}
}

func TestFormatTableCountsRunesNotBytes(t *testing.T) {
	got := formatTable([]string{"a", "b"}, [][]string{{"x", "1.5×"}})
	want := "a     b\nx  1.5×\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFormatMs(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0.000ms"}, {123456, "0.123ms"}, {6520000, "6.52ms"}, {14500000, "14.5ms"}, {131 * time.Millisecond, "131ms"},
		{2 * time.Second, "2000ms"},
	} {
		if got := formatMs(c.d); got != c.want {
			t.Errorf("formatMs(%v) = %s, want %s", c.d, got, c.want)
		}
	}
}

func TestFormatRate(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{{0, "0"}, {999.4, "999"}, {1000, "1,000"}, {618327.2, "618,327"}, {1234567, "1,234,567"}} {
		if got := formatRate(c.v); got != c.want {
			t.Errorf("formatRate(%v) = %s, want %s", c.v, got, c.want)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {999, "999 B"}, {2980, "2.98 KB"}, {113000, "113 KB"}, {56912345, "56.9 MB"}, {3 << 40, "3.30 TB"}} {
		if got := formatBytes(c.n); got != c.want {
			t.Errorf("formatBytes(%d) = %s, want %s", c.n, got, c.want)
		}
	}
}
