// Package clitest runs the cyclepix command line inside a test, for the
// tests of the commands and of the packages they drive. It is apart from
// testsupport and torchtest because it imports cli, and with it every
// package of the module: the tests of those packages' own (non-_test)
// package could not import it. For _test.go files only.
package clitest

import (
	"bytes"

	"cyclepix/cli"
)

// Run runs `cyclepix args…` as main would and returns what it printed and
// its exit code. The test binary's TestMain must have called torch.Init
// (torchtest.Main).
func Run(args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	code = cli.Run(args, &o, &e)
	return o.String(), e.String(), code
}
