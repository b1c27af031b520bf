// Command kpatch-build turns a kernel source patch into a binary live-patch
// module, diffs single object pairs the way kpatch's create-diff-object
// does, inspects patch modules and drives the bundled emulated target.
package main

import (
	"os"
	"runtime/debug"
)

func main() {
	// A run is short and its heap small: collect less often unless the
	// user chose otherwise.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	os.Exit(run(os.Args[1:]))
}
