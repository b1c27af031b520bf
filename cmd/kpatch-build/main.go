// Command kpatch-build turns a kernel source patch into a binary live-patch
// module, diffs single object pairs the way kpatch's create-diff-object
// does, inspects patch modules and drives the bundled emulated target.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:]))
}
