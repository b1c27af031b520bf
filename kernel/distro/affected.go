package distro

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/kpatchgo/kpatch-build/kernel"
	"github.com/kpatchgo/kpatch-build/kerneltree"
	"github.com/kpatchgo/kpatch-build/patch"
	"github.com/kpatchgo/kpatch-build/refusal"
)

// lineOf returns the line of the patch's header for the tree path f.
func lineOf(p *patch.Patch, f string) int {
	for _, tp := range p.Paths() {
		if tp.Path == f {
			return tp.Line
		}
	}
	return 0
}

// affectedObjects are the objects of the running kernel a patch can
// change, with why each was chosen (kerneltree.Affected): a C file's
// object, and for a header the objects its changed entities reach. The
// choices are logged; more than the most objects allowed is refused
// before anything is compiled.
func (k *Kernel) affectedObjects(patches []*patch.Patch) ([]*kerneltree.Object, []kerneltree.Reason, error) {
	objs, reasons, choices, err := kerneltree.Affected(k.index, k.tree.Dir, patches)
	for _, c := range choices {
		k.s.Logf("%s", c)
	}
	if err != nil {
		return nil, nil, err
	}
	max := k.s.MaxObjects
	if max == 0 {
		max = DefaultMaxObjects
	}
	if max > 0 && len(objs) > max {
		big := slices.Clone(choices)
		sort.SliceStable(big, func(a, b int) bool { return big[a].Objects > big[b].Objects })
		var parts []string
		for _, c := range big[:min(3, len(big))] {
			if c.Objects > 0 {
				parts = append(parts, c.String())
			}
		}
		return nil, nil, refusal.New(refusal.TooManyObjects, len(objs), max, strings.Join(parts, "; "))
	}
	return objs, reasons, nil
}

// DefaultMaxObjects is the most objects a patch may need compiled
// unless told otherwise (--max-objects): about 10 minutes on 2 cores.
// Measured (README, benchmarks): 13 objects compiled twice in 105 s
// with no original cached (7.4 a minute), the patched build alone in
// 55 s (14 a minute): 100 objects take 7 to 14 minutes.
const DefaultMaxObjects = 100

// chosen is the report's account of why the objects were compiled.
func chosen(reasons []kerneltree.Reason) []kernel.Chosen {
	var out []kernel.Chosen
	for _, r := range reasons {
		out = append(out, kernel.Chosen{Object: r.Object.Path, Parent: r.Object.Parent, File: r.File, Entity: r.Entity, Why: r.Why})
	}
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].Object != out[b].Object {
			return out[a].Object < out[b].Object
		}
		return out[a].Parent < out[b].Parent
	})
	return out
}

// distcc returns the environment and the jobs of the object compiles:
// when asked (Distcc, or DISTCC_HOSTS set), PATH starts with a directory
// (in work) where the kernel's compiler's name is a script that runs it
// through distcc, so that kbuild's CC stays the same, with as many jobs
// as the helpers take (distcc -j) when that is more than Jobs; else no
// environment and Jobs.
func (k *Kernel) distcc(cc, work string) ([]string, int, error) {
	if !k.s.Distcc && os.Getenv("DISTCC_HOSTS") == "" {
		return nil, k.s.Jobs, nil
	}
	bin, err := exec.LookPath("distcc")
	if err != nil {
		return nil, 0, fmt.Errorf("distcc (asked for by --distcc or DISTCC_HOSTS): %w (Debian: apt-get install distcc)", err)
	}
	if strings.ContainsAny(cc, "/ '") {
		return nil, 0, fmt.Errorf("distcc: the compiler %q must be a command name found on PATH", cc)
	}
	hosts, from := distccHosts(os.Getenv, "/etc/distcc/hosts")
	if hosts == "" {
		return nil, 0, fmt.Errorf("distcc: no helpers: %s (set DISTCC_HOSTS or write ~/.distcc/hosts: HOST/JOBS ...)", from)
	}
	jobs := k.s.Jobs
	out, err := exec.Command(bin, "-j").Output()
	if err != nil {
		return nil, 0, fmt.Errorf("distcc -j: %w (set DISTCC_HOSTS or ~/.distcc/hosts to the helpers)", err)
	}
	if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > jobs {
		jobs = n
	}
	dir := filepath.Join(work, "distcc")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, 0, err
	}
	if err := os.WriteFile(filepath.Join(dir, cc), []byte(distccScript(bin, cc, os.Getenv("PATH"))), 0o755); err != nil {
		return nil, 0, fmt.Errorf("distcc: %w", err)
	}
	k.s.Logf("compiling through distcc (helpers from %s: %s), %d jobs: every helper must have the kernel's compiler %s", from, hosts, jobs, cc)
	return []string{"PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH")}, jobs, nil
}

// distccHosts is the helpers' list distcc reads, as distcc looks for it
// (DISTCC_HOSTS, then $DISTCC_DIR/hosts or ~/.distcc/hosts, then the
// system's file, sys), without its comments, and where it comes from;
// "" and what was looked at when there is none or it is empty.
func distccHosts(getenv func(string) string, sys string) (hosts, from string) {
	if h := strings.TrimSpace(getenv("DISTCC_HOSTS")); h != "" {
		return h, "DISTCC_HOSTS"
	}
	dir := getenv("DISTCC_DIR")
	if dir == "" && getenv("HOME") != "" {
		dir = filepath.Join(getenv("HOME"), ".distcc")
	}
	var looked []string
	for _, f := range []string{filepath.Join(dir, "hosts"), sys} {
		if dir == "" && f != sys {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			looked = append(looked, f+" absent")
			continue
		}
		var fields []string
		for _, line := range strings.Split(string(b), "\n") {
			line, _, _ = strings.Cut(line, "#")
			fields = append(fields, strings.Fields(line)...)
		}
		if len(fields) == 0 {
			return "", f + " lists none"
		}
		return strings.Join(fields, " "), f
	}
	return "", "DISTCC_HOSTS unset, " + strings.Join(looked, ", ")
}

// distccScript is the compiler cc as kbuild runs it with distcc: its
// compiles through distcc, and its version text (which kbuild's
// configuration records, and which distcc would print under the name
// the compiler's link resolves to: x86_64-linux-gnu-gcc-12) from the
// compiler itself. PATH is the one without the script's directory.
func distccScript(distcc, cc, path string) string {
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	return "#!/bin/sh\n" +
		"# kpatch-build: " + cc + " through distcc\n" +
		"PATH=" + q(path) + "\nexport PATH\n" +
		"case \" $* \" in\n" +
		"*' --version '*|*' -v '*|*' -dumpversion '*|*' -dumpfullversion '*) exec " + cc + " \"$@\" ;;\n" +
		"esac\n" +
		"exec " + q(distcc) + " " + cc + " \"$@\"\n"
}
