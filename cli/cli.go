// Package cli implements cyclepix's subcommands. Each subcommand is one file
// that registers itself; main only calls Run.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"cyclepix/options"
	"cyclepix/torch"
)

// Version is cyclepix's version, set at build time with
// -ldflags "-X cyclepix/cli.Version=…".
var Version = "0.1.0-dev"

// command is one subcommand.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

func register(name, summary string, run func(args []string, stdout, stderr io.Writer) error) {
	commands[name] = command{summary, run}
}

// errUsage marks errors whose message is the whole story (no "error:" prefix
// needed beyond one line).
var errHelp = flag.ErrHelp

// Run executes the subcommand named by args[0] and returns the exit code.
// Errors are printed as one line; libtorch failures never escape as panics.
func Run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "cyclepix: unknown command %q (run 'cyclepix help' for the list)\n", args[0])
		return 2
	}
	err := torch.TryErr(func() error { return cmd.run(args[1:], stdout, stderr) })
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	default:
		fmt.Fprintf(stderr, "cyclepix %s: %s\n", args[0], oneLine(err.Error()))
		return 1
	}
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "cyclepix %s: CycleGAN and pix2pix image-to-image translation\n\nUsage: cyclepix <command> [flags]\n\nCommands:\n", Version)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'cyclepix <command> --help' for a command's flags.")
}

// parseFlags parses a plain flag set (the commands outside the options
// layer) as options.Set.Parse does: an unknown flag is one line naming
// the nearest known flags, not the flag package's message followed by the
// whole usage; --help prints the usage as every other command does
// ("Usage: cyclepix eval [options]", --flags with their defaults).
func parseFlags(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(out)
	if errors.Is(err, flag.ErrHelp) {
		options.FlagUsage(out, fs)
		return err
	}
	return options.FlagError(fs.Name(), err, options.FlagNames(fs))
}
