package main

import (
	"github.com/vigil-dev/vigil/pkg/cliout"
)

// humanFormat is the name of vigilctl's readable -o format.
const humanFormat = "text"

// print writes v in the machine format asked for (-o json: a line; -o
// yaml: a document).
func (o *options) print(v any) error {
	if o.printer == nil {
		o.printer = cliout.NewPrinter(o.out, o.format)
	}
	return o.printer.Print(v)
}
