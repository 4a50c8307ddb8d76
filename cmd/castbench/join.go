package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The last part of `castbench history`: a data server loses its directory
// and rejoins.

type joinReport struct {
	Server     string   `json:"server"`                    // the data server whose directory was wiped
	Config     string   `json:"config"`                    // the config it was a secondary of
	ServingSec float64  `json:"serving_seconds,omitempty"` // process start to a write committed with it a secondary
	Bytes      int64    `json:"bytes"`                     // its directory afterwards
	Error      string   `json:"error,omitempty"`
	Events     []string `json:"events,omitempty"` // config changes and warnings meanwhile
}

// timeJoin wipes the directory of a data server that is a secondary in the
// newest config castd logged, starts castd dev again and times how long
// until a write commits with that server a secondary: under commit-all
// (README, "Replication") that write is on it, and so is every entry
// before it. The config is read from castd's log: castkv has no command
// that shows it. A config change logged just before the write's reply
// could be missed, so two writes in a row, with the config unchanged
// around both, must pass.
func timeJoin(ctx context.Context, cluster *devCluster, wait time.Duration, key, last string) (*joinReport, error) {
	cfgText := cluster.events.lastConfig()
	cfg, err := parseConfig(cfgText)
	if err != nil {
		return nil, fmt.Errorf("join: castd logged no config to pick a secondary from: %w", err)
	}
	victim := ""
	for _, s := range cfg.secondaries {
		if n := cluster.dataServerName(s); n != "" && n > victim {
			victim = n
		}
	}
	if victim == "" {
		return nil, fmt.Errorf("join: no secondary in config %q", cfgText)
	}
	jr := &joinReport{Server: victim}
	dir := filepath.Join(cluster.dataDir, victim)
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	srv, err := cluster.start()
	if err != nil {
		return nil, err
	}
	defer stopQuietly(srv)
	member := func() (string, bool) {
		text := cluster.events.lastConfig()
		c, err := parseConfig(text)
		if err != nil {
			return text, false
		}
		for _, s := range c.secondaries {
			if cluster.dataServerName(s) == victim {
				return text, true
			}
		}
		return text, false
	}
	var first time.Time // the first of the two writes in a row
	_, err = waitServing(ctx, srv, wait, func() error {
		before, ok := member()
		if !ok {
			first = time.Time{}
			return fmt.Errorf("%s is not a secondary in %q", victim, before)
		}
		if err := setOnce(ctx, cluster.listen, probeKey, fmt.Sprint(time.Now().UnixNano())); err != nil {
			first = time.Time{}
			return err
		}
		now := time.Now()
		if after, _ := member(); after != before {
			first = time.Time{}
			return fmt.Errorf("config changed during the write: %q to %q", before, after)
		}
		jr.Config = before
		if first.IsZero() {
			first = now
			return errors.New("one write committed; waiting for a second")
		}
		return nil
	})
	if err != nil {
		if gone := srv.exitedErr(); gone != nil {
			return nil, gone
		}
		jr.Error = err.Error()
	} else {
		jr.ServingSec = first.Sub(srv.started).Seconds()
		c, err := dial(ctx, cluster.listen, probeTimeout)
		if err == nil {
			err = expectValue(c, key, last)
			c.Close()
		}
		if err != nil {
			jr.Error = "after the rejoin: " + err.Error()
		}
	}
	for _, e := range cluster.events.between(srv.started, time.Now()) {
		jr.Events = append(jr.Events, e.String())
	}
	if _, err := srv.stop(); err != nil {
		return nil, err
	}
	u, err := usage(dir)
	if err != nil {
		return nil, err
	}
	jr.Bytes = u.Bytes
	return jr, nil
}
