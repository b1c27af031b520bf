// Command gen writes package abi's zabi.go from the bundled kernel's
// headers (run by go generate in emulator/abi).
package main

import (
	"fmt"
	"go/format"
	"os"

	"github.com/kpatchgo/kpatch-build/emulator/abi/internal/cabi"
)

func main() {
	if err := run("../kernel", "zabi.go"); err != nil {
		fmt.Fprintln(os.Stderr, "abi gen:", err)
		os.Exit(1)
	}
}

func run(kernelDir, out string) error {
	a, err := cabi.Extract(kernelDir)
	if err != nil {
		return err
	}
	src, err := format.Source(cabi.Render(a, "abi"))
	if err != nil {
		return fmt.Errorf("formatting %s: %w", out, err)
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, src, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
