package guest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadExpectations(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("a.expect", "desc x\noutcome build\ncheck syscall 2 X\nkmod xfs\ncheck cat /proc/cmdline\npatched kpatch\nunpatched ^console=\n")
	e, err := ReadExpectations(good)
	if err != nil {
		t.Fatal(err)
	}
	want := &Expectations{Checks: []Check{{Command: "cat /proc/cmdline", Patched: "kpatch", Unpatched: "^console="}}, Kmods: []string{"xfs"}}
	if d := cmp.Diff(want, e); d != "" {
		t.Errorf("expectations (-want +got):\n%s", d)
	}
	if e, err := ReadExpectations(filepath.Join(dir, "none.expect")); err != nil || len(e.Checks) != 0 {
		t.Errorf("missing file: %v, %v", e, err)
	}
	for name, body := range map[string]string{
		"orphan.expect": "patched x\n",
		"badre.expect":  "check true\npatched (\n",
		"kmod.expect":   "kmod ../x\n",
	} {
		_, err := ReadExpectations(write(name, body))
		if err == nil || !strings.Contains(err.Error(), name+":") {
			t.Errorf("%s: error %v does not name the file and line", name, err)
		}
	}
	if got := ExpectPath("/p/x.patch"); got != "/p/x.expect" {
		t.Errorf("ExpectPath = %s", got)
	}
}
