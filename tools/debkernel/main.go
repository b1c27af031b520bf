// Command debkernel prints, as shell assignments, the Debian kernel of a
// series that kpatch-build and its tests use (package debian's Newest:
// the newest installed release with its headers and debug vmlinux), for
// the scripts in tools/:
//
//	eval "$(go run ./tools/debkernel 6.1)"
//
// sets release, config, vmlinux, symvers and tarball (linux-source's).
// It exits 1 with a message when the series has no complete kernel.
package main

import (
	"fmt"
	"os"

	"github.com/kpatchgo/kpatch-build/debian"
)

func main() {
	series := "6.1"
	if len(os.Args) > 1 {
		series = os.Args[1]
	}
	k, err := debian.Newest("/", series)
	if err != nil {
		fmt.Fprintf(os.Stderr, "debkernel: %v\n", err)
		os.Exit(1)
	}
	for _, v := range [][2]string{{"release", k.Release}, {"config", k.Config}, {"vmlinux", k.Vmlinux},
		{"symvers", k.Symvers}, {"tarball", debian.SourceTarball("/", series)}} {
		fmt.Printf("%s='%s'\n", v[0], v[1])
	}
}
