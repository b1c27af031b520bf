package kerneltree

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

func TestFindRunningDebian(t *testing.T) {
	k := testutil.DebianKernel(t)
	cache := t.TempDir()
	start := time.Now()
	r, err := FindRunning(k.Vmlinux, Overrides{CacheDir: cache, Getenv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cold: %v", time.Since(start))
	if r.Release != k.Release {
		t.Errorf("release %q, want %q", r.Release, k.Release)
	}
	if r.CC != "gcc-12" {
		t.Errorf("compiler %q, want gcc-12 (comment %q)", r.CC, r.Compiler)
	}
	want := map[string]string{"BUG_STRUCT_SIZE": "12", "EX_STRUCT_SIZE": "12", "JUMP_STRUCT_SIZE": "16", "ALT_STRUCT_SIZE": "12",
		"PARA_STRUCT_SIZE": "16", "STATIC_CALL_STRUCT_SIZE": "8", "ORC_STRUCT_SIZE": "6"}
	if d := cmp.Diff(want, r.StructSizes); d != "" {
		t.Errorf("struct sizes (-want +got):\n%s", d)
	}
	if r.Symvers != k.Symvers {
		t.Errorf("symvers %s", r.Symvers)
	}
	start = time.Now()
	r2, err := FindRunning(k.Vmlinux, Overrides{CacheDir: cache, Release: "1.2.3", Symvers: "/x/Module.symvers", DebugModules: "/x",
		CC: "gcc", SkipCompilerCheck: true, Getenv: func(k string) (string, bool) { return "7", k == "BUG_STRUCT_SIZE" }})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cached: %v", time.Since(start))
	if r2.Release != "1.2.3" || r2.Symvers != "/x/Module.symvers" || r2.CC != "gcc" || r2.StructSizes["BUG_STRUCT_SIZE"] != "7" || r2.StructSizes["JUMP_STRUCT_SIZE"] != "16" {
		t.Errorf("overrides not applied: %+v", r2)
	}
	if _, err := FindRunning(k.Vmlinux, Overrides{CacheDir: cache, CC: "gcc-12", Getenv: func(k string) (string, bool) { return "x", k == "ORC_STRUCT_SIZE" }}); err == nil {
		t.Error("a non-numeric struct size was accepted")
	}
	// The first megabyte of the vmlinux, as an interrupted copy leaves it.
	in, err := os.Open(k.Vmlinux)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	head := make([]byte, 1<<20)
	if _, err := io.ReadFull(in, head); err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "vmlinux")
	os.WriteFile(cut, head, 0o644)
	if _, err := FindRunning(cut, Overrides{CacheDir: cache}); err == nil || !strings.Contains(err.Error(), "vmlinux "+cut+" is truncated (1048576 bytes)") {
		t.Errorf("truncated vmlinux: %v", err)
	}
}

func TestFindCompilerMismatch(t *testing.T) {
	testutil.NeedTool(t, "gcc")
	_, err := findCompiler("GCC: (Nowhere 1.0) 1.0", "gcc", "", false)
	var ce *CompilerError
	if err == nil || !errors.As(err, &ce) {
		t.Fatalf("got %v, want a CompilerError", err)
	}
}

func TestConfigCompiler(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	os.WriteFile(cfg, []byte("CONFIG_CC_VERSION_TEXT=\"x86_64-linux-gnu-gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0\"\nCONFIG_CC_IS_GCC=y\n"), 0o644)
	got, err := ConfigCompiler(cfg)
	if err != nil || got != "x86_64-linux-gnu-gcc-12" {
		t.Errorf("ConfigCompiler = %q, %v; want x86_64-linux-gnu-gcc-12", got, err)
	}
	os.WriteFile(cfg, []byte("CONFIG_CC_IS_GCC=y\n"), 0o644)
	if got, err := ConfigCompiler(cfg); err != nil || got != "" {
		t.Errorf("no CONFIG_CC_VERSION_TEXT: %q, %v; want empty", got, err)
	}

	// Two spellings of one compiler: the configuration's comes first,
	// so that olddefconfig sees the CONFIG_CC_VERSION_TEXT it recorded.
	bin := t.TempDir()
	for _, name := range []string{"cross-cc-1", "gcc-1"} {
		script := "#!/bin/sh\necho '" + name + " (Fake 1.0-1) 1.0'\n"
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	if cc, err := findCompiler("GCC: (Fake 1.0-1) 1.0", "", "cross-cc-1", false); err != nil || cc != "cross-cc-1" {
		t.Errorf("with the configuration's spelling: %q, %v; want cross-cc-1", cc, err)
	}
	if cc, err := findCompiler("GCC: (Fake 1.0-1) 1.0", "", "", false); err != nil || cc != "gcc-1" {
		t.Errorf("without: %q, %v; want gcc-1", cc, err)
	}
	if cc, err := findCompiler("GCC: (Fake 1.0-1) 1.0", "", "absent-cc-1", false); err != nil || cc != "gcc-1" {
		t.Errorf("configuration's compiler absent: %q, %v; want gcc-1", cc, err)
	}
}

// TestFindRunningTruncated gives FindRunning a vmlinux cut short (its
// section headers lost) and one whose section runs past its end: both
// are named as truncated, with the file and its size.
func TestFindRunningTruncated(t *testing.T) {
	whole, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "testdata/diffcases/altinstr/orig.o"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cut := filepath.Join(dir, "vmlinux-cut")
	os.WriteFile(cut, whole[:len(whole)/2], 0o644)
	// Section 1's size (its header's sh_size) made larger than the file.
	long := append([]byte(nil), whole...)
	shoff := binary.LittleEndian.Uint64(long[0x28:])
	binary.LittleEndian.PutUint64(long[shoff+64+0x20:], uint64(len(long)))
	past := filepath.Join(dir, "vmlinux-past")
	os.WriteFile(past, long, 0o644)
	for path, want := range map[string]string{
		cut:  fmt.Sprintf("vmlinux %s is truncated (%d bytes): its ELF headers are cut short", cut, len(whole)/2),
		past: fmt.Sprintf("vmlinux %s is truncated: it has %d bytes, its section .text ends at byte", past, len(whole)),
	} {
		_, err := FindRunning(path, Overrides{})
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("got %v, want %s...", err, want)
		}
	}
}
