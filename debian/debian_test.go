package debian

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// install makes the files of release's image, headers and -dbg packages
// under root; parts says which packages.
func install(t *testing.T, root, release string, image, headers, dbg bool) {
	t.Helper()
	k := At(root, release)
	var files []string
	if image {
		files = append(files, k.Image, filepath.Join(k.Modules, "modules.dep"))
	}
	if headers {
		files = append(files, k.Config, k.Symvers)
	}
	if dbg {
		files = append(files, k.Vmlinux, filepath.Join(k.DebugModules, "kernel", "x"))
	}
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func releases(ks []Kernel) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k.Release)
	}
	return out
}

func TestInstalledAndNewest(t *testing.T) {
	root := t.TempDir()
	install(t, root, "6.1.0-91-test", true, true, true)
	install(t, root, "6.1.0-92-test", true, true, true)
	install(t, root, "6.1.0-93-test", true, true, false) // no -dbg: not buildable
	install(t, root, "6.1.0-94-test", true, false, true) // no headers
	install(t, root, "6.12.0-909-test", true, true, true)
	install(t, root, "6.12.0-910-test", true, true, true)
	all, err := Installed(root, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"6.1.0-91-test", "6.1.0-92-test", "6.12.0-909-test", "6.12.0-910-test"}
	if d := cmp.Diff(want, releases(all)); d != "" {
		t.Errorf("Installed (-want +got):\n%s", d)
	}
	for series, want := range map[string]string{"6.1": "6.1.0-92-test", "6.12": "6.12.0-910-test", "": "6.12.0-910-test"} {
		k, err := Newest(root, series)
		if err != nil || k.Release != want {
			t.Errorf("Newest(%q) = %q, %v; want %q", series, k.Release, err, want)
		}
	}
	if _, err := Newest(root, "6.6"); err == nil || !strings.Contains(err.Error(), "no Debian 6.6 kernel is installed") {
		t.Errorf("Newest(6.6): %v", err)
	}
	k := At(root, "6.1.0-92-test")
	if m := k.Missing(); len(m) != 0 {
		t.Errorf("complete kernel reports missing %v", m)
	}
	if m := At(root, "6.1.0-93-test").Missing(); len(m) != 2 || !strings.Contains(m[0], "-dbg") {
		t.Errorf("kernel without -dbg: missing %v", m)
	}
}

func TestCompareVersions(t *testing.T) {
	ordered := []string{"6.1.0~rc90-test", "6.1.0-91-test", "6.1.0-92-test", "6.1.0-95-test", "6.1.1-90-test",
		"6.12.0-909~rc-test", "6.12.0-909-test", "6.12.0-910-test", "6.12.0-995-test"}
	for i := range ordered {
		for j := range ordered {
			got := CompareVersions(ordered[i], ordered[j])
			want := sign(i - j)
			if got != want {
				t.Errorf("CompareVersions(%q, %q) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
}

func TestSeries(t *testing.T) {
	for rel, want := range map[string]string{"6.1.0-95-test": "6.1", "6.12.0-995-test": "6.12", "7.0-amd64": "7.0", "x": "x"} {
		if got := Series(rel); got != want {
			t.Errorf("Series(%q) = %q, want %q", rel, got, want)
		}
	}
}

func TestWithoutPackagingOptions(t *testing.T) {
	in := "CONFIG_A=y\nCONFIG_BUILD_SALT=\"x\"\nCONFIG_MODULE_SIG_ALL=y\n# CONFIG_MODULE_SIG_KEY is not set\nCONFIG_MODULE_SIG_ALLX=y\n"
	want := "CONFIG_A=y\nCONFIG_MODULE_SIG_ALLX=y\n"
	if got := string(WithoutPackagingOptions([]byte(in))); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
