// Command cyclepix trains and runs CycleGAN and pix2pix image translators.
package main

import (
	"fmt"
	"os"

	"cyclepix/cli"
	"cyclepix/torch"
)

func main() {
	// First, before any tensor: it may re-execute the process.
	if err := torch.Init(); err != nil {
		fmt.Fprintln(os.Stderr, "cyclepix:", err)
		os.Exit(2)
	}
	os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr))
}
