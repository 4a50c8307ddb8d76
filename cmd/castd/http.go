package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"castkv/actors/wire"
	cnet "castkv/net"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The operator's HTTP endpoints (castd --http ADDR), on every role:
//
//	/metrics  Prometheus: each role's messages and handling time, fsyncs,
//	          and on an API server the RESP port's commands by name and
//	          result with their latency (net/metrics.go); Go and process
//	          metrics too
//	/healthz  200 while the process runs
//	/readyz   200 once the role serves: a data or meta role once it is
//	          started; an API server once a GET through it is answered
//	          (a primary holds a lease and its barrier committed); else
//	          503 with the reason

// readyProbeTimeout bounds one /readyz check.
const readyProbeTimeout = 2 * time.Second

// httpServer is what --http serves; ready is set once the role starts.
type httpServer struct {
	metrics *cnet.Metrics
	ready   atomic.Pointer[func(context.Context) error]
}

func (h *httpServer) setReady(f func(context.Context) error) {
	if h != nil {
		h.ready.Store(&f)
	}
}

// startHTTP listens on addr and serves the endpoints in a goroutine.
func startHTTP(addr string) (*httpServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usageError{fmt.Errorf("--http: %v", err)}
	}
	h := &httpServer{metrics: cnet.NewMetrics()}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(h.metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		f := h.ready.Load()
		if f == nil {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), readyProbeTimeout)
		defer cancel()
		if err := (*f)(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return h, nil
}

// metricsOf is h's metrics, nil without --http.
func (h *httpServer) metricsOf() *cnet.Metrics {
	if h == nil {
		return nil
	}
	return h.metrics
}

// apiReady reports an API server ready once a GET through gw is answered
// without an error.
func apiReady(gw cnet.Gateway) func(context.Context) error {
	return func(ctx context.Context) error {
		rep, err := cnet.Call(ctx, gw, [][]byte{[]byte("GET"), []byte("castkv:readyz")})
		switch {
		case err != nil:
			return err
		case rep.GetKind() == wire.Reply_ERROR:
			return errors.New(rep.GetStr())
		}
		return nil
	}
}
