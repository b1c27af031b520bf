package elfdiff

import (
	"strings"
)

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// mangledEqual reports whether two names designate the same element across
// builds: gcc's numeric suffixes (foo.isra.16, x.12345, foo.cold.1) and the
// counters in __UNIQUE_ID_ names may differ.
func mangledEqual(a, b string) bool {
	if strings.Contains(a, ".str1.") || strings.Contains(b, ".str1.") {
		return a == b
	}
	if strings.HasPrefix(a, "__UNIQUE_ID_") || strings.Contains(a, "__UNIQUE_ID_ddebug") {
		return uniqueIDEqual(a, b)
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if a[i] == '.' && i+1 < len(a) && isDigit(a[i+1]) {
			if b[j] != '.' || j+1 >= len(b) || !isDigit(b[j+1]) {
				return false
			}
			i++
			j++
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
			continue
		}
		if a[i] != b[j] {
			return false
		}
		i++
		j++
	}
	return dotDigitsOnly(a[i:]) && dotDigitsOnly(b[j:])
}

// dotDigitsOnly reports whether s is empty or "." followed by digits.
func dotDigitsOnly(s string) bool {
	if s == "" {
		return true
	}
	if len(s) < 2 || s[0] != '.' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func uniqueIDEqual(a, b string) bool {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	ra, rb := a[i:], b[i:]
	for ra != "" && isDigit(ra[0]) {
		ra = ra[1:]
	}
	for rb != "" && isDigit(rb[0]) {
		rb = rb[1:]
	}
	return dotDigitsOnly(ra) && dotDigitsOnly(rb)
}

// nameKey maps a name to a bucket such that mangledEqual names always
// share a bucket; correlation looks for twins only inside a bucket.
func nameKey(n string) string {
	if strings.Contains(n, ".str1.") {
		return n
	}
	if strings.HasPrefix(n, "__UNIQUE_ID_") || strings.Contains(n, "__UNIQUE_ID_ddebug") {
		// Drop every digit and dot after the point where two such names
		// may start to differ; the prefix up to the first digit is safe.
		k := strings.IndexFunc(n, func(r rune) bool { return r >= '0' && r <= '9' })
		if k < 0 {
			return "U:" + n
		}
		return "U:" + strings.TrimRight(n[:k], ".")
	}
	if strings.IndexByte(n, '.') < 0 {
		return n
	}
	var b strings.Builder
	b.Grow(len(n))
	for i := 0; i < len(n); i++ {
		if n[i] == '.' && i+1 < len(n) && isDigit(n[i+1]) {
			i++
			for i+1 < len(n) && isDigit(n[i+1]) {
				i++
			}
			continue
		}
		b.WriteByte(n[i])
	}
	return b.String()
}
