package livepatch_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/emulator/livepatch"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
	"github.com/kpatchgo/kpatch-build/emulator/workload"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// variants are modules built from a base module's source with defines
// prepended: name -> base, defines.
var variants = map[string]struct{ base, defs string }{
	"test_klp_callbacks_demo_fail":     {"test_klp_callbacks_demo", "#define LP_PRE_PATCH_RET (-19)\n"},
	"test_klp_callbacks_demo_modfail":  {"test_klp_callbacks_demo", "#define LP_MOD_PRE_PATCH_RET (-19)\n"},
	"test_klp_callbacks_demo2":         {"test_klp_callbacks_demo", "#define LP_TAG \"test_klp_callbacks_demo2\"\n"},
	"test_klp_callbacks_demo2_replace": {"test_klp_callbacks_demo", "#define LP_TAG \"test_klp_callbacks_demo2\"\n#define LP_REPLACE true\n"},
	"test_klp_state2":                  {"test_klp_state", "#define LP_STATE_VERSION 2\n"},
	"test_klp_state3":                  {"test_klp_state", "#define LP_STATE_VERSION 2\n"},
	"test_klp_state_nostate_replace":   {"test_klp_livepatch", "#define LP_REPLACE true\n"},
	"lp_sleep_hybrid":                  {"lp_sleep", "#define LP_MODEL KLP_MODEL_HYBRID\n#define LP_NANOSLEEP\n"},
	"lp_sleep_immediate":               {"lp_sleep", "#define LP_MODEL KLP_MODEL_IMMEDIATE\n#define LP_NANOSLEEP\n#define LP_LONG_WAIT\n"},
	"lp_sleep_stop":                    {"lp_sleep", "#define LP_MODEL KLP_MODEL_STOP_MACHINE\n#define LP_NANOSLEEP\n"},
	"lp_sleep_refcount":                {"lp_sleep", "#define LP_MODEL KLP_MODEL_REFCOUNT\n#define LP_NANOSLEEP\n"},
	"lp_sleep_kthread_stop":            {"lp_sleep", "#define LP_MODEL KLP_MODEL_STOP_MACHINE\n#define LP_LONG_WAIT\n"},
	"lp_sleep_kthread_hybrid":          {"lp_sleep", "#define LP_MODEL KLP_MODEL_HYBRID\n#define LP_LONG_WAIT\n"},
	"lp_sleep_kthread_refcount":        {"lp_sleep", "#define LP_MODEL KLP_MODEL_REFCOUNT\n#define LP_LONG_WAIT\n"},
	"lp_sched_hybrid":                  {"lp_sched", "#define LP_MODEL KLP_MODEL_HYBRID\n"},
	"lp_sched_stop":                    {"lp_sched", "#define LP_MODEL KLP_MODEL_STOP_MACHINE\n"},
	"lp_sched_stop_force":              {"lp_sched", "#define LP_MODEL KLP_MODEL_STOP_MACHINE\n#define LP_FLAGS KLP_FUNC_FORCE\n"},
	"lp_sched_immediate_flag":          {"lp_sched", "#define LP_MODEL KLP_MODEL_HYBRID\n#define LP_FLAGS KLP_FUNC_IMMEDIATE\n"},
	"lp_ip":                            {"lp_sched", "#define LP_SCHED_INNER\n"},
	"lp_ip_stop":                       {"lp_sched", "#define LP_SCHED_INNER\n#define LP_MODEL KLP_MODEL_STOP_MACHINE\n"},
	"lp_ip_refcount":                   {"lp_sched", "#define LP_SCHED_INNER\n#define LP_MODEL KLP_MODEL_REFCOUNT\n"},
	"lp_bad_nosym":                     {"lp_bad", "#define LP_OLD_NAME \"no_such_function\"\n"},
	"lp_bad_ambig":                     {"lp_bad", "#define LP_OLD_NAME \"show_val_kb\"\n"},
	"lp_bad_sympos":                    {"lp_bad", "#define LP_OLD_NAME \"show_val_kb\"\n#define LP_SYMPOS 3\n"},
	"lp_bad_fentry":                    {"lp_bad", "#define LP_OLD_NAME \"__fentry__\"\n"},
	"test_klp_livepatch_stop":          {"test_klp_livepatch", "#define LP_MODEL KLP_MODEL_STOP_MACHINE\n"},
	"test_klp_livepatch_refcount":      {"test_klp_livepatch", "#define LP_MODEL KLP_MODEL_REFCOUNT\n"},
	"test_klp_livepatch_immediate":     {"test_klp_livepatch", "#define LP_MODEL KLP_MODEL_IMMEDIATE\n"},
	"test_klp_livepatch2":              {"test_klp_livepatch", "#define LP_TAG \"test_klp_livepatch2\"\n"},
	"test_klp_livepatch_replace":       {"test_klp_livepatch", "#define LP_REPLACE true\n"},
	"test_klp_callbacks_busy_block":    {"test_klp_callbacks_busy", "#define LP_BLOCK\n"},
}

var (
	buildMu sync.Mutex
	builds  = map[string]builtKernel{}
)

type builtKernel struct {
	b   *boot.Build
	err error
}

func modulesDir() string { return filepath.Join("testdata", "modules") }

// kernelBuild builds the kernel with every test module once per test
// binary.
func kernelBuild(t testing.TB) *boot.Build { return kernelBuildFlags(t, "") }

// kernelBuildFlags is kernelBuild with extra compiler flags (KCFLAGS).
func kernelBuildFlags(t testing.TB, kcflags string) *boot.Build {
	t.Helper()
	if !boot.HaveToolchain() {
		testutil.Missing(t, "gcc, ld or make not installed: cannot build the target kernel")
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	bk, ok := builds[kcflags]
	if !ok {
		// A failed build is not tried again by the next test.
		bk.b, bk.err = buildWithVariants(kcflags)
		builds[kcflags] = bk
	}
	if bk.err != nil {
		t.Fatal(bk.err)
	}
	return bk.b
}

func buildWithVariants(kcflags string) (*boot.Build, error) {
	tmp, err := os.MkdirTemp("", "lp-variants-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var extra []string
	ents, _ := os.ReadDir(modulesDir())
	for _, e := range ents {
		if e.IsDir() {
			abs, _ := filepath.Abs(filepath.Join(modulesDir(), e.Name()))
			extra = append(extra, abs)
		}
	}
	var names []string
	for n := range variants {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v := variants[n]
		src, err := os.ReadFile(filepath.Join(modulesDir(), v.base, v.base+".c"))
		if err != nil {
			return nil, err
		}
		d := filepath.Join(tmp, n)
		os.MkdirAll(d, 0o755)
		if err := os.WriteFile(filepath.Join(d, n+".c"), append([]byte(v.defs), src...), 0o644); err != nil {
			return nil, err
		}
		extra = append(extra, d)
	}
	return boot.BuildKernel(boot.BuildOptions{ExtraModules: extra, KCFLAGS: kcflags})
}

// sys is a booted kernel with the livepatch core, its consistency
// checker and a script driver.
type sys struct {
	t    *testing.T
	k    *boot.Kernel
	c    *livepatch.Core
	chk  *livepatch.Checker
	mark int
	log  strings.Builder
	// inconsistent is set by a test that expects the checker to find
	// violations (it checks them itself).
	inconsistent bool
}

func bootSys(t *testing.T, opts boot.Options) *sys {
	t.Helper()
	return bootSysBuild(t, kernelBuild(t), opts)
}

// bootSysBuild is bootSys with the kernel b.
func bootSysBuild(t *testing.T, b *boot.Build, opts boot.Options) *sys {
	t.Helper()
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	k, err := boot.Boot(b, opts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := livepatch.New(k)
	if err != nil {
		t.Fatal(err)
	}
	s := &sys{t: t, k: k, c: c, chk: c.Check()}
	s.mark = k.M.ConsoleLen()
	// Every test runs under the consistency checker: whatever the model,
	// no task may run code its patch state does not select.
	t.Cleanup(func() {
		if err := s.chk.Err(); err != nil && !s.inconsistent {
			t.Error(err)
		}
	})
	return s
}

// step logs a command like the selftests' "% cmd" lines, runs it and
// appends the console output it caused.
func (s *sys) step(cmd string, fn func() error) error {
	s.t.Helper()
	s.log.WriteString("% " + cmd + "\n")
	err := fn()
	s.flush()
	if err != nil {
		s.log.WriteString("error: " + err.Error() + "\n")
	}
	return err
}

func (s *sys) flush() {
	out := s.k.M.ConsoleSince(s.mark)
	s.mark = s.k.M.ConsoleLen()
	for _, l := range strings.SplitAfter(out, "\n") {
		if l == "" {
			continue
		}
		// Drop the timestamps: the transcripts are about order and text.
		if i := strings.Index(l, "] "); strings.HasPrefix(l, "[") && i > 0 {
			l = l[i+2:]
		}
		s.log.WriteString(l)
	}
}

func (s *sys) insmod(name string) error {
	return s.step("insmod "+name+".ko", func() error {
		ko := s.k.Build.Modules[name]
		if ko == "" {
			s.t.Fatalf("no module %s in the build", name)
		}
		_, err := s.k.LoadModule(ko)
		if err == nil {
			_, err = s.c.WaitTransition(2_000_000_000)
		}
		return err
	})
}

func (s *sys) rmmod(name string) error {
	return s.step("rmmod "+name, func() error { return s.k.Loader.Unload(name) })
}

func (s *sys) disable(name string) error {
	return s.step("echo 0 > /sys/kernel/livepatch/"+name+"/enabled", func() error {
		if err := s.c.Disable(name); err != nil {
			return err
		}
		_, err := s.c.WaitTransition(2_000_000_000)
		return err
	})
}

// syscall runs one system call in a fresh process and returns its text.
func (s *sys) text(nr uint64) string {
	s.t.Helper()
	var out string
	done := false
	s.k.M.Spawn("cat", func(u *machine.User) {
		out, _ = workload.ReadText(u, nr)
		done = true
	})
	if err := s.k.M.RunUntil(func() bool { return done }, s.k.M.Now()+100_000_000); err != nil {
		s.t.Fatalf("%v\n%s", err, s.k.M.Console())
	}
	if !done {
		s.t.Fatalf("system call %d did not return", nr)
	}
	return out
}

func (s *sys) cat(nr uint64, what string) string {
	s.log.WriteString("% cat " + what + "\n")
	out := s.text(nr)
	s.flush()
	s.log.WriteString(out)
	return out
}
