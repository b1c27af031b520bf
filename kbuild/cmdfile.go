package kbuild

import (
	"fmt"
	"strings"
)

// UnescapeCommand undoes kbuild's escaping of a command in its .cmd files
// (file names the record, for the error): "$$" for "$", "$(pound)" for
// "#". Any other "$" is make syntax that only make can expand: an error.
func UnescapeCommand(file, s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "$$"):
			b.WriteByte('$')
			i++
		case strings.HasPrefix(s[i:], "$(pound)"):
			b.WriteByte('#')
			i += len("$(pound)") - 1
		default:
			return "", fmt.Errorf("%s: make syntax at column %d of the command", file, i+1)
		}
	}
	return b.String(), nil
}
