package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"cyclepix/data"
	"cyclepix/options"
	"cyclepix/quality"
	"cyclepix/viz"
)

// runQuality is `cyclepix eval --quality NAME`: the figures of
// quality.Evaluate, a verdict, and with --strict an error (exit status 1)
// when a figure misses its threshold.
func runQuality(c *evalConfig, stdout, stderr io.Writer) error {
	if c.results == "" {
		return fmt.Errorf("--quality %s needs --results DIR or --name RUN", c.quality)
	}
	if c.real != "" || c.fake != "" {
		return fmt.Errorf("--quality reads a 'cyclepix test' result folder (--results or --name), not --real/--fake")
	}
	if c.sideBySideRows < 1 {
		return fmt.Errorf("--side_by_side_rows %d: want at least 1", c.sideBySideRows)
	}
	if !slices.Contains(quality.Datasets(), c.quality) {
		return fmt.Errorf("--quality %q: no checks for that dataset (choose from %s)", c.quality, strings.Join(quality.Datasets(), ", "))
	}
	th, err := parseThresholds(c.thresholds)
	if err != nil {
		return err
	}
	for k := range th {
		if !slices.Contains(quality.Figures(c.quality), k) {
			return fmt.Errorf("--threshold: unknown figure %q for %s (its figures: %s)", k, c.quality, strings.Join(quality.Figures(c.quality), ", "))
		}
	}
	res, err := quality.LoadResults(c.results)
	if err != nil {
		return fmt.Errorf("--results: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	rep, err := quality.Evaluate(ctx, res, quality.Options{Dataset: c.quality, Thresholds: th, Seed: c.qualitySeed, Log: log})
	if err != nil {
		return err
	}
	rep.Write(stdout)
	if c.sideBySide != "" {
		if err := writeSideBySide(c.sideBySide, res, c.sideBySideRows); err != nil {
			return fmt.Errorf("--side_by_side: %w", err)
		}
		fmt.Fprintf(stdout, "side by side: %s\n", c.sideBySide)
	}
	if c.jsonOut != "" {
		b, err := json.MarshalIndent(rep.Values(), "", "  ")
		if err != nil {
			return err
		}
		if err := options.WriteFileAtomic(c.jsonOut, append(b, '\n')); err != nil {
			return fmt.Errorf("--json: %w", err)
		}
	}
	if c.strict && len(rep.Failures()) > 0 {
		return fmt.Errorf("--strict: %d quality figures of %s miss their thresholds (see above)", len(rep.Failures()), res.Dir)
	}
	return nil
}

// parseThresholds reads FIGURE=VALUE[,FIGURE=VALUE…].
func parseThresholds(s string) (map[string]float64, error) {
	out := map[string]float64{}
	if s == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if !ok || k == "" || err != nil {
			return nil, fmt.Errorf("--threshold %q: want FIGURE=NUMBER[,FIGURE=NUMBER…]", kv)
		}
		out[strings.TrimSpace(k)] = f
	}
	return out, nil
}

// writeSideBySide draws the first rows samples' visuals in a grid, small
// images enlarged by a whole factor to at least 96 pixels so that they
// can be seen, pixels and artefacts as they are.
func writeSideBySide(path string, res *quality.Results, rows int) error {
	var grid [][]*data.Image
	cell := 0
	for _, s := range res.Samples[:min(rows, len(res.Samples))] {
		var row []*data.Image
		for _, v := range res.Visuals {
			p := res.Path(s, v)
			if p == "" {
				row = append(row, nil)
				continue
			}
			m, err := data.LoadImage(p)
			if err != nil {
				return err
			}
			cell = max(cell, m.W, m.H)
			row = append(row, m)
		}
		grid = append(grid, row)
	}
	columns := make([]string, len(res.Visuals))
	for i, v := range res.Visuals {
		columns[i] = v
		if n := res.Notes[v]; n != "" {
			// Short enough for a cell: "ch 0,1,2 of 4".
			n = strings.NewReplacer("channels ", "ch ", "channel ", "ch ", " as RGB", "", ", grey", "").Replace(n)
			columns[i] += "\n" + n
		}
	}
	m, err := viz.SideBySide(columns, grid, cell*((96+cell-1)/cell))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return viz.SavePNG(path, m)
}
