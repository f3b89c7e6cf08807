// Command cyclepix trains and runs CycleGAN and pix2pix image translators.
package main

import (
	"os"

	"cyclepix/cli"
)

func main() { os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr)) }
