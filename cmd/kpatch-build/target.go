package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/emulator/livepatch"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
	"github.com/kpatchgo/kpatch-build/emulator/workload"
)

// targetFlags are the options of "kpatch-build target run".
type targetFlags struct {
	cpus        int
	seed        int64
	quantum     uint64
	features    []string
	workloads   []string
	src         string
	script      string
	exec        []string
	interactive bool
}

func newTargetCmd() *cobra.Command {
	var tf targetFlags
	cmd := &cobra.Command{
		Use:   "target",
		Short: "Boot and drive the bundled emulated target",
		Long: `target builds the bundled kernel (emulator/kernel) with gcc, boots it on the
emulated x86-64 machine and runs commands against it: run a workload for a
stretch of virtual time, load and unload modules, print the console and
the tasks with their stacks.

Commands (one per line in a script, or with -e, or at the prompt):
  run DURATION      run for DURATION of virtual time (ns, us, ms, s)
  workload NAME     start a workload (` + strings.Join(workload.Names(), ", ") + `)
  load MODULE       load a module: a .ko path or a module of the build
  unload NAME       unload a module
  lsmod             list loaded modules
  console           print the console output not printed yet
  tasks             list the tasks with their symbolized stacks
  time              print the virtual time
  help              this list
  quit              stop`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	run := &cobra.Command{
		Use:   "run [flags]",
		Short: "Boot the target and run commands from -e, --script or a prompt",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTarget(cmd, &tf)
		},
	}
	f := run.Flags()
	f.IntVar(&tf.cpus, "cpus", 1, fmt.Sprintf("number of virtual CPUs (1-%d)", machine.NrCPUs))
	f.Int64Var(&tf.seed, "seed", 1, "scheduler seed")
	f.Uint64Var(&tf.quantum, "quantum", 0, fmt.Sprintf("instructions per CPU per scheduling round (at least %d; 0: the default, %d)", machine.MinQuantum, machine.DefaultQuantum))
	f.StringSliceVar(&tf.features, "features", nil, "extra CPU features (popcnt, sse4_2)")
	f.StringArrayVarP(&tf.workloads, "workload", "w", nil, "workload started when the kernel has booted (repeatable)")
	f.StringVar(&tf.src, "kernel-src", "", "kernel source tree (default: emulator/kernel of this checkout)")
	f.StringVarP(&tf.script, "script", "f", "", "file of commands to run")
	f.StringArrayVarP(&tf.exec, "exec", "e", nil, "command to run (repeatable; after --script)")
	f.BoolVarP(&tf.interactive, "interactive", "i", false, "read commands from stdin with a prompt")
	cmd.AddCommand(run)
	cmd.AddCommand(&cobra.Command{
		Use:   "workloads",
		Short: "List the named workloads",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, n := range workload.Names() {
				w, _ := workload.Get(n)
				fmt.Fprintf(cmd.OutOrStdout(), "%-10s %s\n", n, w.Description)
			}
			return nil
		},
	})
	return cmd
}

// targetSession is a booted target and the state of its command loop.
type targetSession struct {
	k       *boot.Kernel
	out     io.Writer
	printed int
	lp      *livepatch.Core // see target_livepatch.go
}

func runTarget(cmd *cobra.Command, tf *targetFlags) error {
	if tf.cpus < 1 || tf.cpus > machine.NrCPUs {
		return usagef("--cpus %d: must be 1 to %d", tf.cpus, machine.NrCPUs)
	}
	if tf.quantum != 0 && tf.quantum < machine.MinQuantum {
		return usagef("--quantum %d: must be at least %d instructions (0: the default, %d)", tf.quantum, machine.MinQuantum, machine.DefaultQuantum)
	}
	out := cmd.OutOrStdout()
	var bits []int
	for _, f := range tf.features {
		switch strings.TrimSpace(f) {
		case "popcnt":
			bits = append(bits, boot.FeaturePOPCNT)
		case "sse4_2", "sse4.2":
			bits = append(bits, boot.FeatureXMM4_2)
		default:
			return usagef("--features: unknown CPU feature %q (have popcnt, sse4_2)", f)
		}
	}
	for _, w := range tf.workloads {
		if _, err := workload.Get(w); err != nil {
			return usagef("-w/--workload: %w", err)
		}
	}
	b, err := boot.BuildKernel(boot.BuildOptions{Src: tf.src})
	if err != nil {
		return err
	}
	opts := boot.Options{CPUs: tf.cpus, Seed: tf.seed, Quantum: tf.quantum, OnBootDone: func(k *boot.Kernel) {
		for _, w := range tf.workloads {
			_ = workload.Start(k.M, w)
		}
	}}
	if len(bits) > 0 {
		opts.CPUID = boot.WithFeatures(bits...)
	}
	k, err := boot.Boot(b, opts)
	if err != nil {
		if k != nil {
			fmt.Fprint(out, k.M.Console())
		}
		return err
	}
	s := &targetSession{k: k, out: out}
	if s.lp, err = livepatch.New(k); err != nil {
		return err
	}
	fmt.Fprintf(out, "booted %d CPU(s), seed %d, in %s of virtual time\n", tf.cpus, tf.seed, fmtNS(k.BootTime))

	var lines []string
	if tf.script != "" {
		data, err := os.ReadFile(tf.script)
		if err != nil {
			return err
		}
		lines = append(lines, strings.Split(string(data), "\n")...)
	}
	lines = append(lines, tf.exec...)
	for i, l := range lines {
		quit, err := s.do(l)
		if err != nil {
			return fmt.Errorf("command %d (%q): %w", i+1, strings.TrimSpace(l), err)
		}
		if quit {
			return nil
		}
	}
	in := cmd.InOrStdin()
	if tf.interactive || (len(lines) == 0 && isTerminal(in)) {
		return s.prompt(in, isTerminal(in) || tf.interactive)
	}
	if len(lines) == 0 {
		_, err := s.do("console")
		return err
	}
	return nil
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// prompt reads commands until EOF or quit; errors are printed, not fatal.
func (s *targetSession) prompt(in io.Reader, show bool) error {
	sc := bufio.NewScanner(in)
	for {
		if show {
			fmt.Fprint(s.out, "target> ")
		}
		if !sc.Scan() {
			if show {
				fmt.Fprintln(s.out)
			}
			return sc.Err()
		}
		quit, err := s.do(sc.Text())
		if err != nil {
			fmt.Fprintf(s.out, "error: %v\n", err)
		}
		if quit {
			return nil
		}
	}
}

// do runs one command line.
func (s *targetSession) do(line string) (quit bool, err error) {
	line = strings.TrimSpace(line)
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = strings.TrimSpace(line[:i])
	}
	f := strings.Fields(line)
	if len(f) == 0 {
		return false, nil
	}
	k, m := s.k, s.k.M
	arg := func() (string, error) {
		if len(f) != 2 {
			return "", fmt.Errorf("%s takes one argument", f[0])
		}
		return f[1], nil
	}
	switch f[0] {
	case "run":
		a, err := arg()
		if err != nil {
			return false, err
		}
		ns, err := parseNS(a)
		if err != nil {
			return false, err
		}
		return false, m.RunFor(ns)
	case "workload":
		a, err := arg()
		if err != nil {
			return false, err
		}
		return false, workload.Start(m, a)
	case "load":
		a, err := arg()
		if err != nil {
			return false, err
		}
		path := a
		if !strings.Contains(a, "/") && !strings.HasSuffix(a, ".ko") && k.Build != nil {
			p, ok := k.Build.Modules[a]
			if !ok {
				return false, fmt.Errorf("no module %s in the build", a)
			}
			path = p
		}
		mod, err := k.LoadModule(path)
		if err != nil {
			return false, err
		}
		fmt.Fprintf(s.out, "loaded %s (%d bytes)\n", mod.Name, mod.Size)
	case "unload":
		a, err := arg()
		if err != nil {
			return false, err
		}
		if err := k.Loader.Unload(a); err != nil {
			return false, err
		}
		fmt.Fprintf(s.out, "unloaded %s\n", a)
	case "lsmod":
		mods := k.Loader.Modules()
		sort.Slice(mods, func(i, j int) bool { return mods[i].Name < mods[j].Name })
		fmt.Fprintln(s.out, "Module                  Size")
		for _, md := range mods {
			fmt.Fprintf(s.out, "%-20s %7d\n", md.Name, md.Size)
		}
	case "console":
		fmt.Fprint(s.out, m.ConsoleSince(s.printed))
		s.printed = m.ConsoleLen()
	case "tasks":
		fmt.Fprint(s.out, m.FormatTasks())
	case "time":
		fmt.Fprintf(s.out, "%s\n", fmtNS(m.Now()))
	case "help":
		fmt.Fprintln(s.out, "commands: run DURATION, workload NAME, load MODULE, unload NAME, lsmod, console, tasks, time, help, quit")
	case "quit", "exit":
		return true, nil
	case "livepatch":
		return false, s.livepatchCmd(f[1:])
	default:
		return false, fmt.Errorf("unknown command %q (try help)", f[0])
	}
	return false, nil
}

// parseNS parses a virtual duration: 100ms, 2s, 500us, 1000ns, 1000.
func parseNS(s string) (uint64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}}
	mult := 1.0
	num := s
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad duration %q (want e.g. 100ms, 2s, 500us)", s)
	}
	return uint64(v * mult), nil
}

func fmtNS(ns uint64) string {
	return fmt.Sprintf("%d.%06ds", ns/1e9, ns%1e9/1e3)
}
