package store

import (
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Memtable sizes for Options. The simulator wants small memtables: on a
// crashable in-memory FS every Sync copies the WAL file, and a memtable's
// WAL grows to about the memtable's size.
const (
	SimMemTableBytes        = 1 << 20
	ProductionMemTableBytes = 16 << 20
)

// SeparateValuesFrom is the size from which pebble keeps a value in a blob
// file of its own instead of in the sstable beside its key.
const SeparateValuesFrom = 32 << 10

// FatalError is what the pebble logger of Options panics with when pebble
// reports a fatal error. The simulator treats it as a crash of the machine;
// a daemon lets it end the process and recovers from disk on restart.
type FatalError struct {
	Msg string
}

func (e *FatalError) Error() string { return "pebble fatal: " + e.Msg }

// Options returns the pebble options castkv opens its DB with, on fs and
// with memtables of memTableBytes. Pebble's info messages go to logger and
// are dropped when it is nil; its errors go to logger, or to pebble's
// default logger when nil. A fatal error panics with *FatalError instead of
// exiting the process.
func Options(fs vfs.FS, memTableBytes uint64, logger pebble.Logger) *pebble.Options {
	o := &pebble.Options{
		FS:                 fs,
		MemTableSize:       memTableBytes,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             fatalLogger{to: logger},
	}
	o.Experimental.ValueSeparationPolicy = func() pebble.ValueSeparationPolicy {
		return pebble.ValueSeparationPolicy{
			Enabled:               true,
			MinimumSize:           SeparateValuesFrom,
			MaxBlobReferenceDepth: 10,
			RewriteMinimumAge:     time.Minute,
			TargetGarbageRatio:    0.2,
		}
	}
	return o
}

type fatalLogger struct {
	to pebble.Logger // nil: drop Infof, Errorf to pebble.DefaultLogger
}

func (l fatalLogger) Infof(format string, args ...any) {
	if l.to != nil {
		l.to.Infof(format, args...)
	}
}

func (l fatalLogger) Errorf(format string, args ...any) {
	if l.to != nil {
		l.to.Errorf(format, args...)
		return
	}
	pebble.DefaultLogger.Errorf(format, args...)
}

// Fatalf panics rather than calling l.to.Fatalf, which may exit the process.
func (l fatalLogger) Fatalf(format string, args ...any) {
	err := &FatalError{Msg: fmt.Sprintf(format, args...)}
	l.Errorf("%v", err)
	panic(err)
}
