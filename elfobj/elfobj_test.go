package elfobj_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// summary renders the parts of the model a round trip must keep.
func summary(f *elfobj.File) string {
	var b strings.Builder
	for _, s := range f.Sections {
		b.WriteString(s.Name)
		b.WriteByte(' ')
		b.WriteString(s.Type.String())
		if s.Base != nil {
			b.WriteString(" base=" + s.Base.Name)
		}
		for _, r := range s.Relocs {
			b.WriteString("\n  ")
			b.WriteString(r.Sym.Name)
			b.WriteString(strings.Repeat(" ", 1))
			b.WriteString(string(rune('0' + r.Type%10)))
		}
		b.WriteByte('\n')
	}
	for _, sym := range f.Symbols {
		sec := ""
		if sym.Section != nil {
			sec = sym.Section.Name
		}
		b.WriteString(sym.Name + " " + sym.Type.String() + " " + sym.Bind.String() + " " + sec + "\n")
	}
	return b.String()
}

func TestRoundTripCorpus(t *testing.T) {
	dir := testutil.CorpusDir(t)
	objs, _ := filepath.Glob(filepath.Join(dir, "*.o"))
	if len(objs) == 0 {
		t.Fatalf("no objects in the corpus %s", dir)
	}
	readelf := testutil.NeedTool(t, "readelf")
	for _, path := range objs {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := elfobj.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			before := summary(f)
			out, err := f.Write()
			if err != nil {
				t.Fatal(err)
			}
			g, err := elfobj.Read("out", out)
			if err != nil {
				t.Fatalf("re-read: %v", err)
			}
			if after := summary(g); after != before {
				t.Fatalf("round trip changed the object")
			}
			// Sections keep their data.
			for i, s := range f.Sections {
				if !bytes.Equal(s.Data, g.Sections[i].Data) {
					t.Errorf("section %s data differs", s.Name)
				}
			}
			out2, err := g.Write()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, out2) {
				t.Errorf("second write differs")
			}
			tmp := filepath.Join(t.TempDir(), "o.o")
			os.WriteFile(tmp, out, 0o644)
			cmd := exec.Command(readelf, "-a", "--wide", tmp)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			cmd.Stdout = nil
			if err := cmd.Run(); err != nil || stderr.Len() > 0 {
				t.Errorf("readelf: %v %s", err, stderr.String())
			}
		})
	}
}
