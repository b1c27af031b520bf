package abi

import (
	"bytes"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/abi/internal/cabi"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

const kernelDir = "../kernel"

// drift compares the C values with the Go ones and returns one line per
// difference, naming the constant and both values.
func drift(a *cabi.ABI, goVals []value) []string {
	var out []string
	have := map[string]int64{}
	for _, v := range goVals {
		have[v.name] = v.v
	}
	header := map[string]string{}
	for _, m := range a.Macros {
		header[m.GoName()] = m.Header
	}
	for _, s := range a.Structs {
		header["Sizeof_"+s.Name] = s.Header
		for _, f := range s.Fields {
			header["Offsetof_"+s.Name+"_"+f.Name] = s.Header
			header["Sizeof_"+s.Name+"_"+f.Name] = s.Header
		}
	}
	inC := map[string]bool{}
	for _, c := range a.Values() {
		inC[c.Name] = true
		g, ok := have[c.Name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s: C value %#x (%s), Go has no such constant", c.Name, c.Value, header[c.Name]))
		case g != c.Value:
			out = append(out, fmt.Sprintf("%s: C value %#x (%s), Go value %#x", c.Name, c.Value, header[c.Name], g))
		}
	}
	for _, g := range goVals {
		if !inC[g.name] {
			out = append(out, fmt.Sprintf("%s: Go value %#x, the C headers no longer define it", g.name, g.v))
		}
	}
	return out
}

func extract(t *testing.T, dir string) *cabi.ABI {
	t.Helper()
	testutil.NeedTool(t, "gcc")
	a, err := cabi.Extract(dir)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestDrift fails when a hypercall number, flag or structure layout of
// the kernel's headers differs from the Go constant, or when either side
// has one the other lacks.
func TestDrift(t *testing.T) {
	a := extract(t, kernelDir)
	if d := drift(a, generated); len(d) > 0 {
		t.Errorf("the Go ABI constants drifted from the C headers (run go generate ./emulator/abi):\n%s", strings.Join(d, "\n"))
	}
	src, err := format.Source(cabi.Render(a, "abi"))
	if err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile("zabi.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(src, old) {
		t.Errorf("zabi.go is not what go generate ./emulator/abi writes from the headers: regenerate it")
	}
}

// TestDriftDetected changes a copy of the headers the way a later edit
// could, and checks that every change is reported with its name and
// both values: a layout change, a renumbered hypercall, and a new
// hypercall in a header the fixed list does not name.
func TestDriftDetected(t *testing.T) {
	dir := t.TempDir()
	for _, sub := range []string{"include", "arch/x86/include"} {
		if err := os.CopyFS(filepath.Join(dir, sub), os.DirFS(filepath.Join(kernelDir, sub))); err != nil {
			t.Fatal(err)
		}
	}
	edit := func(rel, old, new string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(old)) {
			t.Fatalf("%s: no %q to edit", rel, old)
		}
		if err := os.WriteFile(p, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// klp_patch grows a member before replace; its asserts go with it.
	edit("include/linux/livepatch.h", "\tbool replace;", "\tunsigned long extra;\n\tbool replace;")
	edit("include/linux/livepatch.h", "static_assert(offsetof(struct klp_patch, replace) == 24", "static_assert(offsetof(struct klp_patch, replace) == 32")
	edit("include/linux/livepatch.h", "static_assert(offsetof(struct klp_patch, model) == 28", "static_assert(offsetof(struct klp_patch, model) == 36")
	edit("arch/x86/include/asm/hypercall.h", "#define HC_YIELD\t\t0x0c", "#define HC_YIELD\t\t0x1c")
	if err := os.WriteFile(filepath.Join(dir, "include/linux/stop_machine.h"),
		[]byte("#ifndef _LINUX_STOP_MACHINE_H\n#define _LINUX_STOP_MACHINE_H\n#define HC_STOP_MACHINE 0x110\n#endif\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := strings.Join(drift(extract(t, dir), generated), "\n")
	for _, want := range []string{
		"HC_YIELD: C value 0x1c (arch/x86/include/asm/hypercall.h), Go value 0xc",
		"HC_STOP_MACHINE: C value 0x110 (include/linux/stop_machine.h), Go has no such constant",
		"Offsetof_klp_patch_replace: C value 0x20 (include/linux/livepatch.h), Go value 0x18",
		"Offsetof_klp_patch_model: C value 0x24",
		"Sizeof_klp_patch: C value 0x28",
		"Offsetof_klp_patch_extra: C value 0x18",
	} {
		if !strings.Contains(d, want) {
			t.Errorf("drift report lacks %q; it is:\n%s", want, d)
		}
	}
}
