package main

import (
	"testing"

	"github.com/vigil-dev/vigil/test/testutil"
)

func TestExamples(t *testing.T) { testutil.CheckExamples(t, newRootCmd()) }
