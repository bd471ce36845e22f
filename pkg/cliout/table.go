package cliout

import (
	"io"
	"strings"
	"unicode/utf8"
)

// Table prints rows in columns padded by the width the text shows, two
// spaces apart. A cell's text is escaped (Escape) and its colour applied
// after its padding is measured, so escape codes never widen a column
// (text/tabwriter counts their bytes) and a cell's own never reach the
// terminal.
type Table struct {
	rows [][]Cell
}

// Cell is one cell's text and, optionally, its colour (an ANSI escape code).
type Cell struct {
	Text, Color string
}

// Row adds a row of plain cells.
func (t *Table) Row(cells ...string) {
	row := make([]Cell, len(cells))
	for i, c := range cells {
		row[i] = Cell{Text: c}
	}
	t.rows = append(t.rows, row)
}

// Cells adds a row of cells, some of them coloured.
func (t *Table) Cells(cells ...Cell) { t.rows = append(t.rows, cells) }

// Write prints the table to w; paint colours a cell's text (nil, or a
// function that returns the text unchanged, prints no colour).
func (t *Table) Write(w io.Writer, paint func(color, text string) string) error {
	var widths []int
	texts := make([][]string, len(t.rows))
	for r, row := range t.rows {
		texts[r] = make([]string, len(row))
		for i, c := range row {
			texts[r][i] = Escape(c.Text)
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(texts[r][i]))
		}
	}
	var b strings.Builder
	for r, row := range t.rows {
		for i, c := range row {
			text := texts[r][i]
			pad := widths[i] - utf8.RuneCountInString(text) + 2
			if c.Color != "" && paint != nil {
				text = paint(c.Color, text)
			}
			b.WriteString(text)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", pad))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
