package net

import (
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics is what a castd process exports for Prometheus (castd --http
// ADDR serves it at /metrics): per role, the messages it handled and how
// long each took, and its fsyncs; on the RESP port, commands by name and
// outcome with their latency. Every series is labelled with the role's
// cluster address (castd dev holds several roles in one process). The
// roles in actors/ know nothing of it: the runtime and the port count
// around them, so the simulator runs the same roles without it.
//
// A nil *Metrics records nothing.
type Metrics struct {
	Registry *prometheus.Registry

	handled  *prometheus.CounterVec   // role, msg
	handle   *prometheus.HistogramVec // role
	fsync    *prometheus.HistogramVec // role
	commands *prometheus.CounterVec   // cmd, result
	latency  *prometheus.HistogramVec // cmd
	conns    prometheus.Gauge

	names sync.Map // reflect.Type → message name
}

// NewMetrics makes a registry with castkv's metrics and Go's own (memory,
// goroutines, GC) and the process's (CPU, open files).
func NewMetrics() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	// Buckets from 50 µs to about 1.6 s, doubling: a handler step is
	// microseconds, an fsync or a write's round trip milliseconds.
	buckets := prometheus.ExponentialBuckets(50e-6, 2, 16)
	m.handled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "castkv_role_messages_total", Help: "Messages a role handled, by message type (timers and persistence reports included).",
	}, []string{"role", "msg"})
	m.handle = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "castkv_role_handle_seconds", Help: "Time a role spent handling one message.", Buckets: buckets,
	}, []string{"role"})
	m.fsync = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "castkv_fsync_seconds", Help: "Duration of each sync of a role's write-ahead log (one covers every write asked for before it: group commit).", Buckets: buckets,
	}, []string{"role"})
	m.commands = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "castkv_commands_total", Help: "Commands answered on the RESP port, by command and result: ok, or the error's code (ERR, TRYAGAIN, UNCERTAIN, ...).",
	}, []string{"cmd", "result"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "castkv_command_duration_seconds", Help: "Time from reading a command on the RESP port to its reply being ready.", Buckets: buckets,
	}, []string{"cmd"})
	m.conns = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "castkv_resp_connections", Help: "Client connections open on the RESP port.",
	})
	m.Registry.MustRegister(m.handled, m.handle, m.fsync, m.commands, m.latency, m.conns,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// messageName is a message's type without its package: "Commit", "Prepare".
func (m *Metrics) messageName(msg any) string {
	t := reflect.TypeOf(msg)
	if n, ok := m.names.Load(t); ok {
		return n.(string)
	}
	name := t.String()
	name = name[strings.LastIndexByte(name, '.')+1:]
	m.names.Store(t, name)
	return name
}

func (m *Metrics) roleHandled(role string, msg any, took time.Duration) {
	if m == nil {
		return
	}
	m.handled.WithLabelValues(role, m.messageName(msg)).Inc()
	m.handle.WithLabelValues(role).Observe(took.Seconds())
}

func (m *Metrics) synced(role string, took time.Duration) {
	if m == nil {
		return
	}
	m.fsync.WithLabelValues(role).Observe(took.Seconds())
}

// command counts one answered command. name is the command's lowercase
// name when the cluster or the port knows it, else "unknown", so a client
// cannot grow the label set.
func (m *Metrics) command(name, result string, took time.Duration) {
	if m == nil {
		return
	}
	m.commands.WithLabelValues(name, result).Inc()
	m.latency.WithLabelValues(name).Observe(took.Seconds())
}

func (m *Metrics) connections(delta float64) {
	if m == nil {
		return
	}
	m.conns.Add(delta)
}

// replyResult is a reply's result label: "ok", or an error's code, its
// first word in capitals when it is one (ERR, TRYAGAIN, UNCERTAIN,
// EXECABORT), else "error".
func replyResult(isError bool, text string) string {
	if !isError {
		return "ok"
	}
	code, _, _ := strings.Cut(text, " ")
	if code == "" || len(code) > 16 || strings.ToUpper(code) != code {
		return "error"
	}
	for _, r := range code {
		if (r < 'A' || r > 'Z') && r != '_' {
			return "error"
		}
	}
	return code
}
