package kbuild_test

import (
	"errors"
	"github.com/kpatchgo/kpatch-build/kbuild"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// kbuildOutput is the shape of a failed kbuild run: warnings and make's
// noise around the compiler's first error, a second error after it.
const kbuildOutput = `make[1]: Entering directory '/tree'
  CC      fs/proc/meminfo.o
fs/proc/meminfo.c: In function 'meminfo_proc_show':
fs/proc/meminfo.c:40:13: warning: unused variable 'x' [-Wunused-variable]
   40 |         int x;
      |             ^
fs/proc/uptime.c: In function 'uptime_proc_show':
fs/proc/uptime.c:38:2: error: expected ';' before 'return'
   38 |         return 0
      |         ^~~~~~
fs/proc/uptime.c:38:2: note: some note
fs/proc/uptime.c:41:1: error: control reaches end of non-void function [-Werror=return-type]
make[3]: *** [scripts/Makefile.build:250: fs/proc/uptime.o] Error 1
make[1]: Leaving directory '/tree'
`

// TestMakeError checks that a failed build's error starts with the first
// compiler error, with gcc's lines around it (its function, the source
// line and the caret), counts the errors, and names the log holding the
// whole output, written whole.
func TestMakeError(t *testing.T) {
	log := filepath.Join(t.TempDir(), "logs", "livepatch-x.log")
	cause := errors.New("exit status 2")
	e := kbuild.NewMakeError("make fs/proc/uptime.o", []byte(kbuildOutput), cause, log)
	want := "fs/proc/uptime.c:38:2: error: expected ';' before 'return'\n" +
		"  fs/proc/uptime.c: In function 'uptime_proc_show':\n" +
		"     38 |         return 0\n" +
		"        |         ^~~~~~\n" +
		"(make fs/proc/uptime.o: exit status 2; 2 error(s); the whole output: " + log + ")"
	if e.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", e.Error(), want)
	}
	if b, err := os.ReadFile(log); err != nil || string(b) != kbuildOutput {
		t.Errorf("log %s: %v\n%s", log, err, b)
	}
	if !errors.Is(e, cause) {
		t.Errorf("errors.Is(cause) is false")
	}

	// No compiler error: the linker's; no error at all: the last lines.
	e = kbuild.NewMakeError("make", []byte("  LD      vmlinux\nld: fs/x.o: in function `f':\nx.c:(.text+0x5): undefined reference to `g'\nmake: *** [Makefile:1: vmlinux] Error 1\n"), cause, "")
	if want := "x.c:(.text+0x5): undefined reference to `g'"; e.First != want || strings.Contains(e.Error(), "whole output") {
		t.Errorf("linker error: first %q, error %q", e.First, e.Error())
	}
	e = kbuild.NewMakeError("make", []byte("something odd\nmake: *** [Makefile:1: all] Error 2\n"), cause, "")
	if want := "make: exit status 2\nsomething odd\nmake: *** [Makefile:1: all] Error 2"; e.Error() != want {
		t.Errorf("error %q, want %q", e.Error(), want)
	}
}

// TestMakeErrorGCC runs the real compiler on a file with a syntax error:
// its first error line is the error's first line.
func TestMakeErrorGCC(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("no gcc")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "broken.c")
	if err := os.WriteFile(src, []byte("int f(void)\n{\n\tint x = 1\n\treturn x;\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gcc, "-c", "-o", filepath.Join(dir, "broken.o"), "broken.c")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("gcc compiled a syntax error")
	}
	e := kbuild.NewMakeError("gcc broken.c", out, err, "")
	if first, _, _ := strings.Cut(e.Error(), "\n"); !strings.HasPrefix(first, "broken.c:4:9:") || !strings.Contains(first, ": error: expected ',' or ';' before 'return'") {
		t.Errorf("first line %q\n%s", first, out)
	}
}
