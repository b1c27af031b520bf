package bundled

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/expect"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/kernel"
	"github.com/kpatchgo/kpatch-build/module"
	"github.com/kpatchgo/kpatch-build/patch"
	"github.com/kpatchgo/kpatch-build/refusal"
)

// kernel.Kernel is implemented by the bundled kernel.
var _ kernel.Kernel = (*Kernel)(nil)

// readPatches reads catalogue patches of testdata/patches.
func readPatches(t *testing.T, names ...string) []*patch.Patch {
	t.Helper()
	var ps []*patch.Patch
	for _, n := range names {
		p, err := patch.Read(filepath.Join(testutil.RepoRoot(), "testdata", "patches", n+".patch"))
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

// TestKernel asks the bundled kernel of a copy of emulator/kernel its
// facts and builds a patch to vmlinux and one to a module: each changed
// object has its parent and that parent's binary, a renamed file's
// object is paired with its original, the compiler is the configured one
// and the verifier is the emulated target.
func TestKernel(t *testing.T) {
	tree := testutil.KernelTree(t)
	cache := t.TempDir()
	k := New(kernel.Settings{SourceDir: tree, CacheDir: cache, Jobs: 2, Fuzz: patch.DefaultFuzz})
	if k.Verifier() != expect.Emulated {
		t.Errorf("verifier %q, want %q", k.Verifier(), expect.Emulated)
	}
	f, err := k.Facts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if f.Release == "" || f.CC != "gcc" || f.Config != "" {
		t.Errorf("facts: release %q, compiler %q, config %q; want a release, gcc and no config", f.Release, f.CC, f.Config)
	}
	for _, p := range []string{f.Vmlinux, f.Symvers} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("facts: %v", err)
		}
	}
	if f.Vmlinux != filepath.Join(f.Tree, "vmlinux") {
		t.Errorf("vmlinux %s, want the running build's %s", f.Vmlinux, filepath.Join(f.Tree, "vmlinux"))
	}
	for _, s := range []string{"BUG_STRUCT_SIZE", "EX_STRUCT_SIZE", "JUMP_STRUCT_SIZE"} {
		if f.StructSizes[s] == "" {
			t.Errorf("struct sizes %v lack %s", f.StructSizes, s)
		}
	}

	b, err := k.Build(context.Background(), readPatches(t, "meminfo-string", "module-hello"))
	if b != nil {
		defer os.RemoveAll(b.WorkDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	var parents []string
	for _, o := range b.Objects {
		parents = append(parents, o.Name+" "+o.Parent)
		want := f.Vmlinux
		if o.Parent != kernel.Vmlinux {
			want = filepath.Join(f.Tree, "modules", "hello", "hello.ko")
		}
		if o.Symtab != want {
			t.Errorf("%s: symbol table %s, want %s", o.Name, o.Symtab, want)
		}
		for _, p := range []string{o.Orig, o.Patched} {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s: %v", o.Name, err)
			}
		}
	}
	slices.Sort(parents)
	if want := []string{"fs/proc/meminfo.o vmlinux", "modules/hello/hello.o " + module.ModName("hello")}; !slices.Equal(parents, want) {
		t.Errorf("objects %v, want %v", parents, want)
	}
	if res, err := k.Check(b.Objects, nil); res != nil || err != nil {
		t.Errorf("check: %v, %v; the bundled kernel has nothing to check", res, err)
	}

	b2, err := k.Build(context.Background(), readPatches(t, "rename-with-change"))
	if b2 != nil {
		defer os.RemoveAll(b2.WorkDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(b2.Objects, func(o kernel.Object) bool { return o.Name == "fs/proc/meminfo_show.o" })
	if i < 0 || filepath.Base(b2.Objects[i].Orig) != "meminfo.o" || len(b2.New) != 0 {
		t.Errorf("renamed file: objects %+v, new %v; want fs/proc/meminfo_show.o paired with meminfo.o", b2.Objects, b2.New)
	}

	// A build that changes nothing is refused.
	empty := filepath.Join(t.TempDir(), "empty.patch")
	if err := os.WriteFile(empty, []byte("--- a/README.md\n+++ b/README.md\n@@ -1 +1,2 @@\n"+firstLine(t, tree)+"\n+more\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := patch.Read(empty)
	if err != nil {
		t.Fatal(err)
	}
	b3, err := k.Build(context.Background(), []*patch.Patch{p})
	if b3 != nil {
		defer os.RemoveAll(b3.WorkDir)
	}
	var re *refusal.Error
	if !errors.As(err, &re) || re.Key != refusal.NoChangedObjects {
		t.Errorf("a patch to no source: %v, want %s", err, refusal.NoChangedObjects)
	}
}

// firstLine is the first line of the tree's README.md, as a context
// line of a patch.
func firstLine(t *testing.T, tree string) string {
	b, err := os.ReadFile(filepath.Join(tree, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return " " + line
}

// TestModuleOf: an object under modules/NAME/ is module NAME's; every
// other one is vmlinux's.
func TestModuleOf(t *testing.T) {
	for obj, want := range map[string]string{"modules/hello/hello.o": "hello", "modules/x.o": "", "fs/proc/meminfo.o": "", "modules/a/b/c.o": "a"} {
		if got := moduleOf(obj); got != want {
			t.Errorf("moduleOf(%s) = %q, want %q", obj, got, want)
		}
	}
}

// TestNoFacts: the kernel builds nothing before its facts are known.
func TestNoFacts(t *testing.T) {
	k := New(kernel.Settings{SourceDir: t.TempDir(), CacheDir: t.TempDir()})
	if _, err := k.Build(context.Background(), nil); !errors.Is(err, kernel.ErrNoFacts) {
		t.Errorf("build: %v, want %v", err, kernel.ErrNoFacts)
	}
	if err := k.BuildModule(context.Background(), kernel.Module{}); !errors.Is(err, kernel.ErrNoFacts) {
		t.Errorf("module: %v, want %v", err, kernel.ErrNoFacts)
	}
}
