package cpu

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/mem"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// emuCFlags are the flags the differential tests build emulator code with:
// those of a kernel build.
var emuCFlags = []string{"-O2", "-mcmodel=kernel", "-mno-red-zone", "-mgeneral-regs-only",
	"-fno-pic", "-fno-asynchronous-unwind-tables", "-ffreestanding", "-fno-stack-protector"}

// hostCFlags build the same sources for the host.
var hostCFlags = []string{"-O2", "-mno-red-zone", "-fno-stack-protector"}

// Fixed addresses of the test machine.
const (
	haltAddr  = 0xffffffff80000000 // a page holding hlt: the return address of calls
	stackBase = 0xffffc90000000000
	stackSize = 64 << 10
)

func needTools(t testing.TB) string {
	t.Helper()
	gcc := testutil.NeedTool(t, "gcc")
	testutil.NeedTool(t, "ld")
	return gcc
}

func run(t testing.TB, dir string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// runParallel runs name with each argument list, two at a time.
func runParallel(t testing.TB, dir, name string, argLists [][]string) {
	t.Helper()
	errs := make([]error, len(argLists))
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for i, args := range argLists {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.Command(name, args...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// buildEmu compiles sources (paths relative to testdata) with the kernel
// flags plus extra and links them at the kernel address.
func buildEmu(t testing.TB, dir string, extra []string, sources ...string) string {
	t.Helper()
	td, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var objs []string
	var cmds [][]string
	for _, src := range append(sources, "emu_lib.c", "emu_start.S") {
		obj := filepath.Join(dir, "emu-"+strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))+".o")
		flags := append(append([]string{}, emuCFlags...), extra...)
		if src == "emu_lib.c" {
			flags = append(flags, "-fno-builtin")
		}
		cmds = append(cmds, append(flags, "-I", td, "-c", "-o", obj, filepath.Join(td, src)))
		objs = append(objs, obj)
	}
	runParallel(t, dir, "gcc", cmds)
	out := filepath.Join(dir, "emu.elf")
	run(t, dir, "ld", append([]string{"-static", "-nostdlib", "--build-id=none", "-z", "noexecstack",
		"-T", filepath.Join(td, "emu.lds"), "-o", out}, objs...)...)
	return out
}

// machine is a minimal machine for tests: an ELF image, a stack and a
// return address that halts.
type machine struct {
	m    *mem.Memory
	cpu  *CPU
	syms map[string]uint64
	// names maps addresses to symbols, for error messages.
	names []elf.Symbol
}

func loadELF(t testing.TB, path string, cfg Config) *machine {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mm := &machine{m: mem.New(), syms: map[string]uint64{}}
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Memsz == 0 {
			continue
		}
		start := p.Vaddr &^ mem.PageMask
		end := (p.Vaddr + p.Memsz + mem.PageMask) &^ mem.PageMask
		perm := mem.PermNone
		if p.Flags&elf.PF_R != 0 {
			perm |= mem.PermRead
		}
		if p.Flags&elf.PF_W != 0 {
			perm |= mem.PermWrite
		}
		if p.Flags&elf.PF_X != 0 {
			perm |= mem.PermExec
		}
		if err := mm.m.Map(start, end-start, perm); err != nil {
			t.Fatal(err)
		}
		data := make([]byte, p.Filesz)
		if n, err := p.ReadAt(data, 0); n != len(data) {
			t.Fatal(err)
		}
		if err := mm.m.Poke(p.Vaddr, data); err != nil {
			t.Fatal(err)
		}
	}
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC || elf.ST_TYPE(s.Info) == elf.STT_OBJECT {
			mm.syms[s.Name] = s.Value
			mm.names = append(mm.names, s)
		}
	}
	sort.Slice(mm.names, func(i, j int) bool { return mm.names[i].Value < mm.names[j].Value })
	if err := mm.m.Map(haltAddr, mem.PageSize, mem.PermRX); err != nil {
		t.Fatal(err)
	}
	if err := mm.m.Poke(haltAddr, []byte{0xf4}); err != nil {
		t.Fatal(err)
	}
	if err := mm.m.Map(stackBase, stackSize, mem.PermRW); err != nil {
		t.Fatal(err)
	}
	if cfg.Symbolize == nil {
		cfg.Symbolize = mm.symbolize
	}
	mm.cpu = New(mm.m, cfg)
	return mm
}

func (mm *machine) symbolize(addr uint64) (string, uint64, bool) {
	i := sort.Search(len(mm.names), func(i int) bool { return mm.names[i].Value > addr }) - 1
	if i < 0 {
		return "", 0, false
	}
	s := mm.names[i]
	if s.Size != 0 && addr >= s.Value+s.Size {
		return "", 0, false
	}
	return s.Name, addr - s.Value, true
}

// call runs fn(args...) to completion and returns %rax.
func (mm *machine) call(fn uint64, args ...uint64) (uint64, error) {
	c := mm.cpu
	c.Regs = [16]uint64{}
	regs := []int{RDI, RSI, RDX, RCX, R8, R9}
	for i, a := range args {
		c.Regs[regs[i]] = a
	}
	sp := uint64(stackBase + stackSize - 64)
	if err := mm.m.Write64(sp, haltAddr); err != nil {
		return 0, err
	}
	c.Regs[RSP] = sp
	c.RIP = fn
	c.SetRFLAGS(0x2)
	// The caller's frame, as the machine sets up a task's entry.
	c.SetShadow(append(c.Shadow()[:0], Frame{Ret: haltAddr, Callee: fn, SP: sp}))
	for budget := 0; budget < 1000; budget++ {
		_, reason, err := c.Run(1 << 22)
		switch reason {
		case StopBudget:
			continue
		case StopHalt:
			if c.RIP != haltAddr+1 {
				return 0, fmt.Errorf("hlt at %s", c.Symbol(c.RIP-1))
			}
			return c.Regs[RAX], nil
		default:
			return 0, fmt.Errorf("stopped: %v: %v", reason, err)
		}
	}
	return 0, fmt.Errorf("function at %s did not return", c.Symbol(fn))
}

// hostRun builds the host program and runs every test on inputs.
func hostRun(t testing.TB, dir string, names []string, sources []string, inputs [][3]uint64) map[string][]uint64 {
	t.Helper()
	td, _ := filepath.Abs("testdata")
	var tbl strings.Builder
	tbl.WriteString("#include \"difftest.h\"\n")
	for _, n := range names {
		fmt.Fprintf(&tbl, "u64 t_%s(u64, u64, u64);\n", n)
	}
	tbl.WriteString("struct test { const char *name; u64 (*fn)(u64, u64, u64); } tests[] = {\n")
	for _, n := range names {
		fmt.Fprintf(&tbl, "\t{\"%s\", t_%s},\n", n, n)
	}
	fmt.Fprintf(&tbl, "};\nint ntests = %d;\n", len(names))
	if err := os.WriteFile(filepath.Join(dir, "table.c"), []byte(tbl.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var cmds [][]string
	objs := []string{}
	for _, src := range append([]string{filepath.Join(td, "host_main.c"), filepath.Join(dir, "table.c")}, sources...) {
		if !filepath.IsAbs(src) {
			src = filepath.Join(td, src)
		}
		obj := filepath.Join(dir, "host-"+strings.TrimSuffix(filepath.Base(src), ".c")+".o")
		cmds = append(cmds, append(append([]string{}, hostCFlags...), "-I", td, "-c", "-o", obj, src))
		objs = append(objs, obj)
	}
	runParallel(t, dir, "gcc", cmds)
	run(t, dir, "gcc", append([]string{"-o", filepath.Join(dir, "host")}, objs...)...)

	var in bytes.Buffer
	le := func(v uint64) {
		var b [8]byte
		for i := range b {
			b[i] = byte(v >> (8 * i))
		}
		in.Write(b[:])
	}
	le(uint64(len(inputs)))
	for _, x := range inputs {
		le(x[0])
		le(x[1])
		le(x[2])
	}
	cmd := exec.Command(filepath.Join(dir, "host"))
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("host run: %v\n%s", err, stderr.String())
	}
	if len(out) != 8*len(inputs)*len(names) {
		t.Fatalf("host wrote %d bytes, want %d", len(out), 8*len(inputs)*len(names))
	}
	res := map[string][]uint64{}
	for ti, n := range names {
		vals := make([]uint64, len(inputs))
		for i := range vals {
			vals[i] = le64(out[8*(ti*len(inputs)+i):])
		}
		res[n] = vals
	}
	return res
}
