package elfdiff_test

import (
	"bytes"
	"os/exec"
	"testing"

	"github.com/kpatchgo/kpatch-build/elfdiff"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/symtab"
)

// TestReadelfSymtabSameOutput runs every corpus case with the parent
// symbol table as kpatch passes it (readelf -s --wide text) and as an ELF
// file, and checks the outputs are byte-identical.
func TestReadelfSymtabSameOutput(t *testing.T) {
	readelf := testutil.NeedTool(t, "readelf")
	for _, c := range loadCorpus(t) {
		t.Run(c.name, func(t *testing.T) {
			text, err := exec.Command(readelf, "-s", "--wide", c.orig).Output()
			if err != nil {
				t.Fatal(err)
			}
			textTab, err := symtab.ParseReadelf(c.orig+".symtab", text)
			if err != nil {
				t.Fatal(err)
			}
			elfTab, err := symtab.Load(c.orig)
			if err != nil {
				t.Fatal(err)
			}
			var outs [][]byte
			var codes []int
			for _, tab := range []*symtab.Table{textTab, elfTab} {
				res, err := diffPaths(t, c.orig, c.patched, tab, nil, c.env)
				codes = append(codes, elfdiff.ExitCode(err))
				var b []byte
				if err == nil {
					if b, err = res.Output.Write(); err != nil {
						t.Fatal(err)
					}
				}
				outs = append(outs, b)
			}
			if codes[0] != codes[1] || !bytes.Equal(outs[0], outs[1]) {
				t.Errorf("readelf text and ELF symbol tables give different results (exit %d vs %d)", codes[0], codes[1])
			}
		})
	}
}
