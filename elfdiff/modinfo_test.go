package elfdiff

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestImportNamespaces(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
		want []string
	}{
		{"module", "license=GPL\x00import_ns=DMA_BUF\x00", []string{"import_ns=DMA_BUF"}},
		{"built-in", "proc.import_ns=KPATCH_TEST\x00proc.license=GPL\x00proc.import_ns=DEVMEM\x00", []string{"import_ns=KPATCH_TEST", "import_ns=DEVMEM"}},
		{"padding", "\x00\x00import_ns=A\x00\x00\x00", []string{"import_ns=A"}},
		{"value mentions import_ns", "description=import_ns=X\x00", nil},
		{"key ends like it", "my_import_ns=X\x00xproc.noimport_ns=Y\x00", nil},
		{"no equals", "import_ns\x00", nil},
		{"empty", "", nil},
	} {
		if diff := cmp.Diff(tc.want, importNamespaces([]byte(tc.data))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}
