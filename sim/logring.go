package sim

import (
	"castkv/actors"
	"context"

	"fmt"
	"log/slog"
	"strings"
)

// logRing keeps the last lines the roles logged, stamped with virtual time,
// so a failing seed shows what the cluster did before it failed.
type logRing struct {
	lines []string
	next  int
	full  bool
}

func newLogRing(n int) *logRing { return &logRing{lines: make([]string, n)} }

func (l *logRing) add(s string) {
	l.lines[l.next] = s
	l.next = (l.next + 1) % len(l.lines)
	if l.next == 0 {
		l.full = true
	}
}

// Lines returns the kept lines, oldest first.
func (l *logRing) Lines() []string {
	if !l.full {
		return append([]string(nil), l.lines[:l.next]...)
	}
	return append(append([]string(nil), l.lines[l.next:]...), l.lines[:l.next]...)
}

func (w *world) logf(format string, args ...any) {
	w.logs.add(fmt.Sprintf("%9.3fs %-8s %s", w.now.Seconds(), "sim", fmt.Sprintf(format, args...)))
}

type ringHandler struct {
	w     *world
	node  string
	attrs []slog.Attr
}

func (l *logRing) handler(w *world, node actors.Addr) slog.Handler {
	return &ringHandler{w: w, node: string(node)}
}

func (h *ringHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *ringHandler) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%9.3fs %-8s %s %s", h.w.now.Seconds(), h.node, rec.Level, rec.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.w.logs.add(b.String())
	return nil
}

func (h *ringHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &ringHandler{w: h.w, node: h.node, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *ringHandler) WithGroup(string) slog.Handler { return h }
