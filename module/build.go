package module

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/kpatchgo/kpatch-build/elfobj"
)

//go:embed hook/livepatch-patch-hook.c
var hookSource []byte

//go:embed hook/kpatch.lds
var hookScript []byte

// Options describe a patch module.
type Options struct {
	// Name is the module name (livepatch-NAME); KBUILD_MODNAME is the
	// same with dashes turned into underscores.
	Name string
	// Objects are the diff objects; NewObjects whole objects the patch
	// added, linked as they are.
	Objects, NewObjects []string
	// TreeDir is the kernel tree whose headers the hook is compiled
	// against (with the tree's flags, relative to TreeDir).
	TreeDir string
	// CC, LD are the compiler and linker (default gcc, ld); CFlags are the
	// tree's compile flags; ModuleScript the tree's module linker script,
	// if it has one.
	CC, LD       string
	CFlags       []string
	ModuleScript string
	// Release is the kernel release, recorded as vermagic.
	Release string
	// NonReplace builds a patch that does not replace older ones (-R).
	NonReplace bool
	// WorkDir holds intermediate files; Output is the .ko to write.
	WorkDir, Output string
}

// ModName turns a module name into its KBUILD_MODNAME.
func ModName(name string) string { return strings.ReplaceAll(name, "-", "_") }

var badChars = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// NameFromPatches derives the module name from patch file names the way
// kpatch-build does: livepatch-BASENAME without .patch/.diff, or
// livepatch-patch for several patches; other characters become '-', and
// the name is cut to 55 characters.
func NameFromPatches(paths []string) string {
	n := "livepatch-patch"
	if len(paths) == 1 {
		b := filepath.Base(paths[0])
		b = strings.TrimSuffix(strings.TrimSuffix(b, ".patch"), ".diff")
		n = "livepatch-" + b
	}
	n = badChars.ReplaceAllString(n, "-")
	if len(n) > 55 {
		n = n[:55]
	}
	return n
}

func (o *Options) run(dir string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return nil
}

// Build links the diff objects with the patch hook into a live-patch
// module and converts its klp tables into livepatch relocations. The
// output is written atomically.
func Build(o Options) error {
	if o.CC == "" {
		o.CC = "gcc"
	}
	if o.LD == "" {
		o.LD = "ld"
	}
	if len(o.Objects)+len(o.NewObjects) == 0 {
		return fmt.Errorf("module %s: no objects to link", o.Name)
	}
	if err := os.MkdirAll(o.WorkDir, 0o755); err != nil {
		return err
	}
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	// 1. All diff objects in one relocatable object.
	output := filepath.Join(o.WorkDir, "output.o")
	args := []string{"-r", "-o", abs(output)}
	for _, p := range append(append([]string{}, o.Objects...), o.NewObjects...) {
		args = append(args, abs(p))
	}
	if err := o.run(o.WorkDir, o.LD, args...); err != nil {
		return fmt.Errorf("module %s: link diff objects: %w", o.Name, err)
	}
	// 2. The hook and the module information.
	hook := filepath.Join(o.WorkDir, "livepatch-patch-hook.c")
	mod := filepath.Join(o.WorkDir, "livepatch.mod.c")
	modinfo := fmt.Sprintf("#include <linux/module.h>\nMODULE_INFO(name, KBUILD_MODNAME);\nMODULE_INFO(vermagic, %q);\n", o.Release+" SMP mod_unload")
	if err := os.WriteFile(hook, hookSource, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(mod, []byte(modinfo), 0o644); err != nil {
		return err
	}
	replace := "true"
	if o.NonReplace {
		replace = "false"
	}
	defs := []string{"-DMODULE", fmt.Sprintf("-DKBUILD_MODNAME=\"%s\"", ModName(o.Name)), "-DKLP_REPLACE_ENABLE=" + replace}
	var objs []string
	for _, src := range []string{hook, mod} {
		obj := strings.TrimSuffix(src, ".c") + ".o"
		args := append(append(append([]string{}, o.CFlags...), defs...), "-c", "-o", abs(obj), abs(src))
		if err := o.run(o.TreeDir, o.CC, args...); err != nil {
			return fmt.Errorf("module %s: compile %s: %w", o.Name, filepath.Base(src), err)
		}
		objs = append(objs, abs(obj))
	}
	// 3. The module: hook + diff objects, with the tables bracketed.
	script := filepath.Join(o.WorkDir, "module.lds")
	var lds []byte
	if o.ModuleScript != "" {
		b, err := os.ReadFile(o.ModuleScript)
		if err != nil {
			return fmt.Errorf("module %s: %w", o.Name, err)
		}
		lds = append(b, '\n')
	}
	lds = append(lds, hookScript...)
	if err := os.WriteFile(script, lds, 0o644); err != nil {
		return err
	}
	tmpKO := filepath.Join(o.WorkDir, "tmp.ko")
	args = append([]string{"-r", "-T", abs(script), "-o", abs(tmpKO)}, objs...)
	args = append(args, abs(output))
	if err := o.run(o.WorkDir, o.LD, args...); err != nil {
		return fmt.Errorf("module %s: link: %w", o.Name, err)
	}
	// 4. Livepatch relocations.
	f, err := elfobj.Open(tmpKO)
	if err != nil {
		return fmt.Errorf("module %s: %w", o.Name, err)
	}
	if err := ConvertKLP(f); err != nil {
		return fmt.Errorf("module %s: %w", o.Name, err)
	}
	f.Name = o.Output
	return f.WriteFile(o.Output)
}
