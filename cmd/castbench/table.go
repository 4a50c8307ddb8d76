package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// formatTable lays out a header and rows in columns two spaces apart: the
// first column left-aligned, the others (numbers) right-aligned.
func formatTable(header []string, rows [][]string) string {
	widths := make([]int, len(header))
	for _, r := range append([][]string{header}, rows...) {
		for i, cell := range r {
			if i < len(widths) {
				widths[i] = max(widths[i], len([]rune(cell)))
			}
		}
	}
	var b strings.Builder
	line := func(r []string) {
		var s strings.Builder
		for i, w := range widths {
			cell := ""
			if i < len(r) {
				cell = r[i]
			}
			pad := strings.Repeat(" ", w-len([]rune(cell)))
			switch {
			case i == 0:
				s.WriteString(cell + pad)
			default:
				s.WriteString("  " + pad + cell)
			}
		}
		b.WriteString(strings.TrimRight(s.String(), " ") + "\n")
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
	return b.String()
}

// formatMs shows a latency in milliseconds with three significant digits.
func formatMs(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms < 1:
		return fmt.Sprintf("%.3fms", ms)
	case ms < 10:
		return fmt.Sprintf("%.2fms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1fms", ms)
	}
	return fmt.Sprintf("%.0fms", ms)
}

// formatRate shows a rate with thousands separators: 12,345.
func formatRate(perSec float64) string {
	s := fmt.Sprintf("%.0f", perSec)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// formatBytes shows a size in B, KB, MB or GB (powers of 1000, as du --si),
// with three significant digits.
func formatBytes(n int64) string {
	units := []string{"B", "KB", "MB", "GB", "TB"}
	v := float64(n)
	u := 0
	for v >= 1000 && u < len(units)-1 {
		v /= 1000
		u++
	}
	switch {
	case u == 0:
		return fmt.Sprintf("%d B", n)
	case v < 10:
		return fmt.Sprintf("%.2f %s", v, units[u])
	case v < 100:
		return fmt.Sprintf("%.1f %s", v, units[u])
	}
	return fmt.Sprintf("%.0f %s", v, units[u])
}

// formatSeconds shows a duration in seconds with millisecond precision.
func formatSeconds(d time.Duration) string {
	return fmt.Sprintf("%.3fs", d.Seconds())
}

// emit prints a mode's report: one indented JSON object, or its text.
func emit(w io.Writer, asJSON bool, rep any, text func() string) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	_, err := io.WriteString(w, text())
	return err
}
