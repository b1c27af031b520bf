package distro

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/kpatchgo/kpatch-build/expect"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/kernel"
	"github.com/kpatchgo/kpatch-build/patch"
	"github.com/kpatchgo/kpatch-build/refusal"
	"github.com/kpatchgo/kpatch-build/symtab"
)

// kernel.Kernel is implemented by a distribution kernel.
var _ kernel.Kernel = (*Kernel)(nil)

// TestWithoutVmlinux: a distribution kernel's facts need its vmlinux (it
// is never built here); its verifier is qemu, and the last line of a
// verification says what was proved.
func TestWithoutVmlinux(t *testing.T) {
	k := New(kernel.Settings{SourceDir: t.TempDir(), CacheDir: t.TempDir()})
	if k.Verifier() != expect.Qemu {
		t.Errorf("verifier %q, want %q", k.Verifier(), expect.Qemu)
	}
	_, err := k.Facts(context.Background())
	var re *refusal.Error
	if !errors.As(err, &re) || re.Key != refusal.NeedVmlinux {
		t.Errorf("facts without -v: %v, want %s", err, refusal.NeedVmlinux)
	}
	if _, err := k.Build(context.Background(), nil); !errors.Is(err, kernel.ErrNoFacts) {
		t.Errorf("build before the facts: %v, want %v", err, kernel.ErrNoFacts)
	}
	for _, c := range []struct {
		checks, distinct int
		want             string
	}{
		{0, 0, "VERIFIED (load, transition, unload; no behaviour checks)"},
		{3, 1, "VERIFIED (load, transition, unload; 3 behaviour check(s), 1 telling the patch from no patch)"},
	} {
		if got := verifiedLine(c.checks, c.distinct); got != c.want {
			t.Errorf("verifiedLine(%d, %d) = %q, want %q", c.checks, c.distinct, got, c.want)
		}
	}
}

// TestKernel asks the installed Debian kernel of linux-source its facts
// (from the -dbg vmlinux, the headers' config and Module.symvers), builds
// a one-file patch's object, original and patched, with vmlinux as its
// parent, and proves the original the running kernel's.
func TestKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("prepares a kernel tree and builds an object (minutes cold)")
	}
	src := testutil.LinuxSource(t)
	dk := testutil.DebianKernel(t)
	k := New(kernel.Settings{SourceDir: src, Vmlinux: dk.Vmlinux, CacheDir: testutil.CacheDir(t), Jobs: 2, Fuzz: patch.DefaultFuzz, Log: t.Logf})
	f, err := k.Facts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if f.Release != dk.Release || f.Vmlinux != dk.Vmlinux || f.Symvers != dk.Symvers || f.Config != dk.Config || f.CC == "" {
		t.Errorf("facts %+v, want the release, vmlinux, Module.symvers and config of %+v and a compiler", f, dk)
	}
	for _, s := range []string{"BUG_STRUCT_SIZE", "EX_STRUCT_SIZE", "JUMP_STRUCT_SIZE", "ALT_STRUCT_SIZE"} {
		if f.StructSizes[s] == "" {
			t.Errorf("struct sizes %v lack %s", f.StructSizes, s)
		}
	}
	pf := filepath.Join(t.TempDir(), "meminfo.patch")
	if err := os.WriteFile(pf, []byte(testutil.LinuxMeminfoPatch), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := patch.Read(pf)
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.Build(context.Background(), []*patch.Patch{p})
	if b != nil {
		defer os.RemoveAll(b.WorkDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Objects) != 1 || b.Objects[0].Name != "fs/proc/meminfo.o" || b.Objects[0].Parent != kernel.Vmlinux || b.Objects[0].Symtab != dk.Vmlinux {
		t.Fatalf("objects %+v, want fs/proc/meminfo.o of vmlinux", b.Objects)
	}
	table, err := symtab.Load(dk.Vmlinux)
	if err != nil {
		t.Fatal(err)
	}
	proved, err := k.Check(b.Objects, map[string]*symtab.Table{dk.Vmlinux: table})
	if err != nil {
		t.Fatal(err)
	}
	if len(proved) != 1 || proved[0].Proven == 0 {
		t.Errorf("proof %+v, want meminfo.o's functions proven", proved)
	}
}
