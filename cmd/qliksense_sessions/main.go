// Command qliksense_sessions runs the qliksense_sessions input plugin as a
// Telegraf execd plugin: it reads its plugin config from -config and writes
// metrics in line protocol to stdout.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	_ "time/tzdata" // period_timezone's IANA names on Windows too, which has no zone database of its own

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/common/shim"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/execdrun"
	"github.com/qliksense-telegraf/qliksense-sessions/internal/shimlog"
	"github.com/qliksense-telegraf/qliksense-sessions/internal/version"
	_ "github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		// One E! line per problem, so that Telegraf logs each as an error.
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(os.Stderr, "E! %s\n", line)
		}
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("qliksense_sessions", flag.ContinueOnError)
	configFile := flags.String("config", "", "path to the plugin config file (see sample.conf); required")
	pollInterval := flags.Duration("poll_interval", 10*time.Second, "how often to gather summaries and counters")
	debug := flags.Bool("debug", false, "log debug messages too")
	showVersion := flags.Bool("version", false, "print the version and exit")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // the usage is printed: asking for it is no error
		}
		return err
	}
	if *showVersion {
		_, err := fmt.Fprintln(stdout, version.String("qliksense_sessions"))
		return err
	}
	if *configFile == "" {
		return errors.New("no plugin config given: pass -config /path/to/sample.conf (sample.conf in the repository is a starting point)")
	}

	level := telegraf.Info
	if *debug {
		level = telegraf.Debug
	}
	if _, err := shimlog.Setup(os.Stderr, level); err != nil {
		return err
	}

	// The shim ignores what it does not know; a misspelt option must not
	// run with its default.
	if err := checkConfig(*configFile); err != nil {
		lines := strings.Split(err.Error(), "\n")
		for i, line := range lines {
			lines[i] = fmt.Sprintf("-config %q: %s", *configFile, line)
		}
		return errors.New(strings.Join(lines, "\n"))
	}

	// The shim loads the config and initialises the plugin; execdrun runs
	// it, writing metrics to stdout in batches (see its package comment).
	s := shim.New()
	if err := s.LoadConfig(configFile); err != nil {
		return fmt.Errorf("loading -config %q failed: %w", *configFile, err)
	}
	if s.Input == nil {
		return fmt.Errorf("-config %q has no [[inputs.qliksense_sessions]] section", *configFile)
	}
	return execdrun.Run(s.Input, *pollInterval, os.Stdin, stdout)
}
