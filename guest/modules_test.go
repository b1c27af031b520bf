package guest

import (
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// writeModulesDir writes a depmod-style directory from file contents.
func writeModulesDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestResolveModulesOrder orders dependencies first, follows soft
// dependencies through aliases as optional, and skips built-in modules.
func TestResolveModulesOrder(t *testing.T) {
	dir := writeModulesDir(t, map[string]string{
		"modules.dep": `kernel/fs/top/top-fs.ko: kernel/lib/mid.ko kernel/lib/base.ko
kernel/lib/mid.ko: kernel/lib/base.ko
kernel/lib/base.ko:
kernel/crypto/hash_generic.ko:
kernel/arch/hash_fast.ko: kernel/lib/base.ko
kernel/fs/other.ko.gz:
`,
		"modules.softdep": "# comment\nsoftdep mid pre: hash post: ignored\n",
		"modules.alias":   "alias hash hash_generic\nalias hash hash_fast\nalias pci:v*d* other\n",
		"modules.builtin": "kernel/fs/ext2/ext2.ko\n",
	})
	got, err := ResolveModules(dir, []string{"top-fs", "ext2", "other"})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, m := range got {
		rel, _ := filepath.Rel(dir, m.Path)
		line := m.Name + " " + rel
		if m.Optional {
			line += " optional"
		}
		if m.For != "" {
			line += " for " + m.For
		}
		lines = append(lines, line)
	}
	want := []string{
		"hash_generic kernel/crypto/hash_generic.ko optional for mid",
		"base kernel/lib/base.ko for mid",
		"hash_fast kernel/arch/hash_fast.ko optional for mid",
		"mid kernel/lib/mid.ko for top_fs",
		"top_fs kernel/fs/top/top-fs.ko",
		"other kernel/fs/other.ko.gz",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

// TestResolveModulesErrors names the module and the index file.
func TestResolveModulesErrors(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"unknown", map[string]string{"modules.dep": "kernel/a.ko:\n"}, `module "nosuch": not in`},
		{"cycle", map[string]string{"modules.dep": "kernel/nosuch.ko: kernel/b.ko\nkernel/b.ko: kernel/nosuch.ko\n"}, "dependency cycle"},
		{"dangling", map[string]string{"modules.dep": "kernel/nosuch.ko: kernel/gone.ko\n"}, `dependency "gone" has no line`},
		{"syntax", map[string]string{"modules.dep": "kernel/a.ko\n"}, "modules.dep:1: no ':'"},
		{"no index", map[string]string{}, "modules.dep: no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ResolveModules(writeModulesDir(t, c.files), []string{"nosuch"})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
}

// TestResolveModulesDebian resolves real targets of the installed kernel.
func TestResolveModulesDebian(t *testing.T) {
	dir := filepath.Join("/lib/modules", testRelease(t))
	if _, err := os.Stat(filepath.Join(dir, "modules.dep")); err != nil {
		absent(t, dir+"/modules.dep missing (run tools/realkernel-setup.sh)")
	}
	got, err := ResolveModules(dir, []string{"ext4", "xfs"})
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, m := range got {
		pos[m.Name] = i
		if _, err := readModuleFile(m.Path); err != nil {
			t.Errorf("%s: %v", m.Name, err)
		}
	}
	for _, order := range [][2]string{{"jbd2", "ext4"}, {"mbcache", "ext4"}, {"crc16", "ext4"}, {"libcrc32c", "xfs"}, {"crc32c_generic", "libcrc32c"}} {
		a, okA := pos[order[0]]
		b, okB := pos[order[1]]
		if !okA || !okB || a > b {
			t.Errorf("%s must come before %s: %v", order[0], order[1], pos)
		}
	}
}

// TestReadModuleFile reads plain, gzip and xz modules (Debian's 6.12
// ships .ko.xz) and refuses the rest.
func TestReadModuleFile(t *testing.T) {
	dir := t.TempDir()
	elfBytes := []byte("\x7fELF module bytes")
	os.WriteFile(filepath.Join(dir, "a.ko"), elfBytes, 0o644)
	os.WriteFile(filepath.Join(dir, "a.ko.unverified"), elfBytes, 0o644)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(elfBytes)
	zw.Close()
	os.WriteFile(filepath.Join(dir, "b.ko.gz"), gz.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dir, "c.ko.gz"), []byte("not gzip"), 0o644)
	os.WriteFile(filepath.Join(dir, "d.ko.xz"), []byte("\xfd7zXZ"), 0o644)
	os.WriteFile(filepath.Join(dir, "f.ko.lz4"), []byte("\x04\x22\x4d\x18"), 0o644)
	xz := testutil.NeedTool(t, "xz")
	if out, err := exec.Command("sh", "-c", `printf '\177ELF module bytes' | "$0" -c > "$1"`, xz, filepath.Join(dir, "e.ko.xz")).CombinedOutput(); err != nil {
		t.Fatalf("xz: %v %s", err, out)
	}
	for _, n := range []string{"a.ko", "a.ko.unverified", "b.ko.gz", "e.ko.xz"} {
		if got, err := readModuleFile(filepath.Join(dir, n)); err != nil || !bytes.Equal(got, elfBytes) {
			t.Errorf("%s: %q, %v", n, got, err)
		}
	}
	for n, want := range map[string]string{"c.ko.gz": "c.ko.gz: gzip", "d.ko.xz": "d.ko.xz: xz -dc", "f.ko.lz4": "compressed module format not supported"} {
		if _, err := readModuleFile(filepath.Join(dir, n)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", n, err, want)
		}
	}
}

// TestReadModinfoRefusesNonModules names the file.
func TestReadModinfoRefusesNonModules(t *testing.T) {
	if _, err := ReadModinfo("junk.ko", []byte("not an ELF file")); err == nil || !strings.Contains(err.Error(), "junk.ko") {
		t.Errorf("junk: err = %v", err)
	}
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Skip(err)
	}
	if _, err := ReadModinfo("test.bin", self); err == nil || !strings.Contains(err.Error(), "no .modinfo section") {
		t.Errorf("executable: err = %v", err)
	}
}
