package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
)

// collectorRow is the collector's ingest rate with mTLS from N agent streams.
type collectorRow struct {
	Streams int     `json:"agent_streams"`
	Rate    float64 `json:"alerts_per_second"`
	Command string  `json:"command"`
}

var ingestLine = regexp.MustCompile(`^BenchmarkIngest/streams=(\d+)\S*\s+\d+\s+.*?\s([\d.]+) alerts/s`)

// collectorIngest runs the collector's ingest benchmark: real mTLS gRPC
// streams into the SQLite store.
func collectorIngest(n int) ([]collectorRow, error) {
	args := []string{"test", "-run", "^$", "-bench", "BenchmarkIngest", "-benchtime", fmt.Sprintf("%dx", n), "./pkg/collector/"}
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("collector benchmark: %v\n%s", err, out)
	}
	var rows []collectorRow
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := ingestLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		streams, _ := strconv.Atoi(m[1])
		rate, _ := strconv.ParseFloat(m[2], 64)
		rows = append(rows, collectorRow{Streams: streams, Rate: rate, Command: "go " + fmt.Sprint(args)})
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("no ingest rate in the collector benchmark's output:\n%s", out)
	}
	return rows, nil
}
