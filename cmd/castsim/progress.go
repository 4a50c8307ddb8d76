package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progressBarWidth is the number of cells in the terminal progress bar.
const progressBarWidth = 30

// progress draws a sweep's progress on stderr: on a terminal one line
// redrawn with \r as each seed finishes; otherwise (a log file, CI) one line
// per tenth of the sweep, so the log stays short.
type progress struct {
	w          io.Writer
	terminal   bool
	total      uint64
	start      time.Time
	lastTenth  uint64 // tenths already printed, when not on a terminal
	lastLength int    // length of the last terminal line, to blank its tail
}

func newProgress(w io.Writer, terminal bool, total uint64, start time.Time) *progress {
	p := &progress{w: w, terminal: terminal, total: total, start: start}
	if terminal {
		p.update(0, 0)
	}
	return p
}

func (p *progress) update(done uint64, failures int) {
	elapsed := time.Since(p.start)
	eta := "?"
	if done > 0 {
		remaining := time.Duration(float64(elapsed) / float64(done) * float64(p.total-done))
		eta = remaining.Round(time.Second).String()
	}
	status := fmt.Sprintf("%d/%d seeds, %d failed, %s elapsed, ETA %s",
		done, p.total, failures, elapsed.Round(100*time.Millisecond), eta)

	if !p.terminal {
		tenth := done * 10 / p.total
		if tenth > p.lastTenth {
			p.lastTenth = tenth
			fmt.Fprintf(p.w, "castsim sweep: %3d%% %s\n", tenth*10, status)
		}
		return
	}
	filled := int(done * progressBarWidth / p.total)
	line := fmt.Sprintf("[%s%s] %s", strings.Repeat("#", filled), strings.Repeat(".", progressBarWidth-filled), status)
	pad := ""
	if n := p.lastLength - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	p.lastLength = len(line)
	fmt.Fprintf(p.w, "\r%s%s", line, pad)
}

// finish ends the terminal line so what follows starts on its own.
func (p *progress) finish() {
	if p.terminal {
		fmt.Fprintln(p.w)
	}
}
