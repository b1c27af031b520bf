package loader_test

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/emulator/loader"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
	"github.com/kpatchgo/kpatch-build/emulator/mem"
	"github.com/kpatchgo/kpatch-build/emulator/targettest"
	"github.com/kpatchgo/kpatch-build/emulator/workload"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// state is everything a module load may leave behind.
type state struct {
	Regions []mem.Region
	Tables  []string
	Objects []string
	Exports int
	Sites   int
	Modules int
}

func snapshot(k *boot.Kernel) state {
	return state{k.M.Mem.Regions(), k.M.RegisteredTables(), k.M.Syms.Objects(),
		len(k.Loader.Exports()), k.Ftrace.Sites(""), len(k.Loader.Modules())}
}

func readHello(t *testing.T, k *boot.Kernel) (string, int64) {
	var text string
	var n int64
	targettest.RunScript(t, k, "cat", func(u *machine.User) { text, n = workload.ProcRead(u, "hello") })
	return text, n
}

func TestLoadUnloadHello(t *testing.T) {
	k := targettest.Boot(t, boot.Options{CPUs: 2, Seed: 1})
	// Only user-space memory may differ between the snapshots: compare
	// the kernel's view after the cat processes.
	if _, n := readHello(t, k); n != -2 {
		t.Fatalf("hello before loading: %d, want -ENOENT", n)
	}
	before := snapshot(k)
	mod, err := k.LoadModule(k.Build.Modules["hello"])
	if err != nil {
		t.Fatal(err)
	}
	if mod.Name != "hello" || mod.Init == 0 || mod.Exit == 0 {
		t.Fatalf("module %+v", mod)
	}
	if !strings.Contains(k.M.Console(), "hello: loaded") {
		t.Errorf("init did not run:\n%s", k.M.Console())
	}
	if s, err := k.M.Syms.Find("hello", "hello_show", 0); err != nil || s.Addr < mod.Base || s.Addr >= mod.Base+mod.Size {
		t.Errorf("kallsyms hello_show: %v %v", s, err)
	}
	if a, ok := k.Loader.SymbolAddr("hello_greeting"); !ok || a == 0 {
		t.Error("hello_greeting not exported")
	}
	if k.Ftrace.Sites("hello") == 0 {
		t.Error("no mcount sites registered for hello")
	}
	text, _ := readHello(t, k)
	if text != "Hello from the hello module (read 1 times)\n" {
		t.Errorf("hello reads %q", text)
	}
	readHello(t, k)
	mid := snapshot(k)
	if err := k.Loader.Unload("hello"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(k.M.Console(), "hello: unloaded after 2 reads") {
		t.Errorf("exit did not run:\n%s", k.M.Console())
	}
	if _, n := readHello(t, k); n != -2 {
		t.Errorf("hello after unloading: %d, want -ENOENT", n)
	}
	after := snapshot(k)
	after.Regions, before.Regions = kernelOnly(after.Regions), kernelOnly(before.Regions)
	mid.Regions = kernelOnly(mid.Regions)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("state after unload differs (-before +after):\n%s", diff)
	}
	if cmp.Equal(before, mid) {
		t.Error("loading changed nothing")
	}
	// Loaded again, it starts afresh.
	if _, err := k.LoadModule(k.Build.Modules["hello"]); err != nil {
		t.Fatal(err)
	}
	if text, _ := readHello(t, k); !strings.Contains(text, "read 1 times") {
		t.Errorf("reloaded hello reads %q", text)
	}
}

// kernelOnly drops user memory, kernel stacks and task structs (tasks
// come and go with the user processes of the test) and keeps the module
// area.
func kernelOnly(rs []mem.Region) []mem.Region {
	var out []mem.Region
	for _, r := range rs {
		if r.Addr >= machine.ModuleAreaBase {
			out = append(out, r)
		}
	}
	return out
}

func hello(t *testing.T, k *boot.Kernel) []byte {
	b, err := os.ReadFile(k.Build.Modules["hello"])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// corruptRelaType changes the type of the first relocation of the first
// .rela section of a .ko to typ.
func corruptRelaType(t *testing.T, ko []byte, typ elf.R_X86_64) []byte {
	return corruptRela(t, ko, func(r []byte) {
		info := binary.LittleEndian.Uint64(r[8:])
		binary.LittleEndian.PutUint64(r[8:], info&^0xffffffff|uint64(typ))
	})
}

// corruptRela lets edit change the first relocation (24 bytes: offset,
// info, addend) of the first .rela.text section of a .ko.
func corruptRela(t *testing.T, ko []byte, edit func(r []byte)) []byte {
	f, err := elf.NewFile(strings.NewReader(string(ko)))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range f.Sections {
		if s.Type == elf.SHT_RELA && strings.HasPrefix(s.Name, ".rela.text") {
			out := slices.Clone(ko)
			edit(out[s.Offset : s.Offset+24])
			return out
		}
	}
	t.Fatal("no .rela.text section")
	return nil
}

func TestLoadRefusals(t *testing.T) {
	k := targettest.Boot(t, boot.Options{CPUs: 1, Seed: 1})
	badsym, err := os.ReadFile(k.Build.Modules["badsym"])
	if err != nil {
		t.Fatal(err)
	}
	ko := hello(t, k)
	for _, tc := range []struct {
		name string
		data []byte
		want []string
	}{
		{"undefined non-exported symbol", badsym, []string{"module badsym", "unknown symbol sched_init", "not exported"}},
		{"unsupported relocation", corruptRelaType(t, ko, elf.R_X86_64_GOTPCREL), []string{"module hello", "section .rela.text", "unsupported relocation type R_X86_64_GOTPCREL"}},
		// A kernel address in a zero-extended 32-bit field.
		{"relocation overflow", corruptRelaType(t, ko, elf.R_X86_64_32), []string{"module hello", "section .rela.text", "relocation 0 at .text",
			"symbol ", "R_X86_64_32: value 0xffffffff", "does not fit in a 32-bit unsigned field"}},
		{"relocation beyond its section", corruptRela(t, ko, func(r []byte) { binary.LittleEndian.PutUint64(r, 1<<20) }),
			[]string{"module hello", "section .rela.text", "relocation 0 at .text", "+0x100000", "beyond the section"}},
		{"truncated", ko[:len(ko)*3/4], []string{"module hello", "not a valid ELF"}},
		{"section past the end", growSection(t, ko, ".text"), []string{"module hello", "section .text: truncated"}},
		{"truncated headers", ko[:40], []string{"module hello", "not a valid ELF"}},
		{"plain relocatable object", plainObject(t), []string{"module hello", "not a kernel module", "no .modinfo section", "no .gnu.linkonce.this_module"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot(k)
			cons := k.M.ConsoleLen()
			mod, err := k.Loader.Load(tc.data, "hello")
			if err == nil {
				t.Fatalf("loaded %s", mod.Name)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if diff := cmp.Diff(before, snapshot(k)); diff != "" {
				t.Errorf("a failed load left state behind (-before +after):\n%s", diff)
			}
			if out := k.M.ConsoleSince(cons); out != "" {
				t.Errorf("a refused module ran code:\n%s", out)
			}
		})
	}
	// The real module still loads afterwards.
	if _, err := k.Loader.Load(ko, "hello"); err != nil {
		t.Fatal(err)
	}
}

// growSection makes section name's header claim more bytes than the file
// has, as in a module truncated in the middle of its sections.
func growSection(t *testing.T, ko []byte, name string) []byte {
	f, err := elf.NewFile(strings.NewReader(string(ko)))
	if err != nil {
		t.Fatal(err)
	}
	shoff := binary.LittleEndian.Uint64(ko[0x28:])
	for i, s := range f.Sections {
		if s.Name == name {
			out := slices.Clone(ko)
			hdr := shoff + uint64(i)*64
			binary.LittleEndian.PutUint64(out[hdr+32:], uint64(len(ko)))
			return out
		}
	}
	t.Fatalf("no section %s", name)
	return nil
}

// plainObject compiles a C file into a relocatable object that is not a
// module: it has an init_module but no .modinfo.
func plainObject(t *testing.T) []byte {
	t.Helper()
	gcc := testutil.NeedTool(t, "gcc")
	dir := t.TempDir()
	src := filepath.Join(dir, "plain.c")
	if err := os.WriteFile(src, []byte("int init_module(void) { return 0; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	obj := filepath.Join(dir, "plain.o")
	if out, err := exec.Command(gcc, "-c", "-O2", "-fno-pic", "-mcmodel=kernel", "-o", obj, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	b, err := os.ReadFile(obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUnloadHooks: Removable is asked before the exit function runs and
// can refuse the unload; Going runs after the exit function, as Linux
// calls klp_module_going, and the module's ftrace sites go after it.
func TestUnloadHooks(t *testing.T) {
	k := targettest.Boot(t, boot.Options{CPUs: 2, Seed: 1})
	if _, err := k.LoadModule(k.Build.Modules["hello"]); err != nil {
		t.Fatal(err)
	}
	var order []string
	refuse := true
	k.Loader.Removable = func(mod *loader.Module) error {
		order = append(order, "removable")
		if refuse {
			return errors.New("in use")
		}
		return nil
	}
	k.Loader.Going = func(mod *loader.Module) error {
		unloaded := strings.Contains(k.M.Console(), "hello: unloaded")
		order = append(order, fmt.Sprintf("going (exit ran: %v, sites: %d)", unloaded, k.Ftrace.Sites("hello")))
		return nil
	}
	if err := k.Loader.Unload("hello"); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("refused unload: %v", err)
	}
	if k.Loader.Module("hello") == nil || strings.Contains(k.M.Console(), "hello: unloaded") {
		t.Error("a refused unload ran the exit function or removed the module")
	}
	refuse = false
	sites := k.Ftrace.Sites("hello")
	if err := k.Loader.Unload("hello"); err != nil {
		t.Fatal(err)
	}
	if k.Ftrace.Sites("hello") != 0 {
		t.Error("ftrace sites left after the unload")
	}
	want := []string{"removable", "removable", fmt.Sprintf("going (exit ran: true, sites: %d)", sites)}
	if diff := cmp.Diff(want, order); diff != "" || sites == 0 {
		t.Errorf("hook order (-want +got):\n%s", diff)
	}
}
