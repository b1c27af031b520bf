package testutil

import (
	"bytes"
	"debug/elf"
	"fmt"
	"testing"
)

// DifferingSections names the sections whose contents differ between two
// ELF files with the same section list, or says where their lists
// differ.
func DifferingSections(t testing.TB, a, b []byte) []string {
	t.Helper()
	fa, err := elf.NewFile(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	fb, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(fa.Sections) != len(fb.Sections) {
		return []string{fmt.Sprintf("%d sections against %d", len(fa.Sections), len(fb.Sections))}
	}
	var diff []string
	for i, sa := range fa.Sections {
		sb := fb.Sections[i]
		if sa.Name != sb.Name {
			return []string{fmt.Sprintf("section %d: %s against %s", i, sa.Name, sb.Name)}
		}
		if sa.Type == elf.SHT_NOBITS {
			continue
		}
		da, _ := sa.Data()
		db, _ := sb.Data()
		if !bytes.Equal(da, db) {
			diff = append(diff, sa.Name)
		}
	}
	return diff
}
