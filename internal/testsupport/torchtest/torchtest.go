// Package torchtest is the libtorch half of the module's test support,
// apart from testsupport so that pure-Go test packages do not link
// libtorch. For _test.go files only.
package torchtest

import (
	"fmt"
	"os"
	"testing"

	"cyclepix/torch"
)

// Main is TestMain for a package whose tests use libtorch, directly or
// through the packages above it: it sets the process up with torch.Init
// (which may re-execute the test binary, with the same arguments, once)
// and runs the tests.
//
//	func TestMain(m *testing.M) { torchtest.Main(m) }
//
// A TestMain that changes a setting of Init's (the thread count, say)
// calls torch.Init itself first, then Main; Init only acts once.
func Main(m *testing.M) {
	if err := torch.Init(); err != nil {
		fmt.Fprintln(os.Stderr, "torch.Init:", err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}
