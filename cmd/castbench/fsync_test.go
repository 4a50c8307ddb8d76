package main

import "testing"

func TestParsePerfStat(t *testing.T) {
	out := "# started on Mon Nov 30 15:07:54 2026\n\n" +
		"800,,syscalls:sys_enter_fsync,39833505,100.00,,\n" +
		"12,,syscalls:sys_enter_fdatasync,39833505,100.00,,\n" +
		"Events disabled\n"
	n, err := parsePerfStat([]byte(out))
	if err != nil || n != 812 {
		t.Errorf("parsePerfStat = %d, %v; want 812", n, err)
	}
}

func TestParsePerfStatRefusesWhatItCannotCount(t *testing.T) {
	for _, out := range []string{
		"<not supported>,,syscalls:sys_enter_fdatasync,0,100.00,,\n",
		"# started on Mon Nov 30\n",
		"",
	} {
		if n, err := parsePerfStat([]byte(out)); err == nil {
			t.Errorf("parsePerfStat(%q) = %d, want an error", out, n)
		}
	}
}

func TestParsePerfStatNotCountedIsZero(t *testing.T) {
	out := "<not counted>,,syscalls:sys_enter_fsync,0,0.00,,\n3,,syscalls:sys_enter_fdatasync,10,100.00,,\n"
	if n, err := parsePerfStat([]byte(out)); err != nil || n != 3 {
		t.Errorf("parsePerfStat = %d, %v; want 3", n, err)
	}
}
