package kerneltree

import (
	"fmt"
	"strings"
)

// EntityKind is what a top-level entity of a header is.
type EntityKind string

// The kinds of a header's entities.
const (
	// KindFunction is a function with its body (a static inline).
	KindFunction EntityKind = "function"
	// KindMacro is a #define or #undef.
	KindMacro EntityKind = "macro"
	// KindType is a struct, union or enum definition or a typedef.
	KindType EntityKind = "type"
	// KindDeclaration is a global declaration: an extern variable, a
	// function's prototype, a variable defined in the header.
	KindDeclaration EntityKind = "declaration"
	// KindOther is everything else: #include, #if and the other
	// directives, a macro invoked at the top level, an anonymous enum,
	// text this scanner does not take apart.
	KindOther EntityKind = "other"
)

// Entity is one top-level entity of a header: its kind, its names (a
// function's, a macro's, a type's tag and typedef name, a declaration's
// names; none for most of KindOther) and its lines (1-based, inclusive).
type Entity struct {
	Kind       EntityKind
	Names      []string
	Start, End int
	// Text is the entity's first line, trimmed (for KindOther's
	// messages).
	Text string
	// Tag is "struct", "union" or "enum" for such a type.
	Tag string
}

// String names the entity as the progress lines and the report do:
// "function seq_show_option", "macro SEQ_START_TOKEN", "type struct
// seq_file", "other #ifdef CONFIG_X (line 12)".
func (e Entity) String() string {
	switch {
	case e.Kind == KindOther:
		t := e.Text
		if len(t) > 40 {
			t = t[:40] + "..."
		}
		return fmt.Sprintf("top-level %q (line %d)", t, e.Start)
	case len(e.Names) == 0:
		return fmt.Sprintf("%s at line %d", e.Kind, e.Start)
	}
	if e.Tag != "" {
		return fmt.Sprintf("%s %s %s", e.Kind, e.Tag, strings.Join(e.Names, "/"))
	}
	return string(e.Kind) + " " + strings.Join(e.Names, "/")
}

// attributeMacros are the kernel's attribute macros that take arguments
// and may sit before or after a function's name in its definition.
var attributeMacros = map[string]bool{"__attribute__": true, "__attribute": true, "__printf": true, "__scanf": true,
	"__aligned": true, "__section": true, "__must_hold": true, "__acquires": true, "__releases": true,
	"__cond_acquires": true, "__alloc_size": true, "__realloc_size": true, "__assume_aligned": true,
	"__diagnose_as": true, "__counted_by": true, "__no_sanitize_address": true, "__access": true, "__malloc": true}

// HeaderEntities splits a header into its top-level entities. Comments
// and blank lines belong to none; a #define inside a struct or function
// is an entity of its own inside the other's lines, other directives
// inside them belong to them. It is a scanner, not a C parser: what it
// cannot name is KindOther, which callers treat as reaching every
// includer.
func HeaderEntities(src []byte) []Entity {
	lines := strings.Split(stripComments(string(src)), "\n")
	var out []Entity
	var cur *Entity
	var text strings.Builder
	depth := 0 // (), [] and {} together
	closeEntity := func(end int) {
		cur.End = end
		classify(cur, text.String())
		out = append(out, *cur)
		cur = nil
		text.Reset()
		depth = 0
	}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			start := i
			full := trimmed
			for strings.HasSuffix(strings.TrimRight(lines[i], " \t"), "\\") && i+1 < len(lines) {
				i++
				full += " " + strings.TrimSpace(lines[i])
			}
			d := directive(full, start+1, i+1)
			if cur == nil || d.Kind == KindMacro {
				out = append(out, d)
			}
			continue
		}
		for j := 0; j < len(line); j++ {
			c := line[j]
			if cur == nil {
				if c == ' ' || c == '\t' || c == '\r' || c == ';' {
					continue
				}
				cur = &Entity{Start: i + 1, Text: strings.TrimSpace(line[j:])}
			}
			text.WriteByte(c)
			switch c {
			case '"', '\'':
				// A literal: copied whole, its brackets not counted.
				k := j + 1
				for k < len(line) && line[k] != c {
					if line[k] == '\\' {
						k++
					}
					k++
				}
				if k < len(line) {
					text.WriteString(line[j+1 : k+1])
				}
				j = k
			case '(', '[', '{':
				depth++
			case ')', ']':
				depth--
			case '}':
				depth--
				if depth == 0 && isFunctionHead(text.String()) {
					closeEntity(i + 1)
				}
			case ';':
				if depth == 0 {
					closeEntity(i + 1)
				}
			}
		}
		if cur != nil {
			text.WriteByte('\n')
		}
	}
	if cur != nil {
		closeEntity(len(lines))
	}
	return out
}

// directive makes the entity of a preprocessor line (with its
// continuations joined).
func directive(full string, start, end int) Entity {
	e := Entity{Kind: KindOther, Start: start, End: end, Text: full}
	rest := strings.TrimSpace(strings.TrimPrefix(full, "#"))
	word, args, _ := strings.Cut(rest, " ")
	word, args = strings.TrimSpace(word), strings.TrimSpace(args)
	if word == "define" || word == "undef" {
		if name := leadingIdent(args); name != "" {
			e.Kind, e.Names = KindMacro, []string{name}
		}
	}
	return e
}

// leadingIdent returns the identifier s starts with.
func leadingIdent(s string) string {
	n := 0
	for n < len(s) && isIdentByte(s[n]) {
		n++
	}
	if n == 0 || (s[0] >= '0' && s[0] <= '9') {
		return ""
	}
	return s[:n]
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// stripComments replaces the comments of C text by spaces, keeping its
// newlines (so that line numbers stay), and leaves literals alone.
func stripComments(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '"' || b[i] == '\'':
			q := b[i]
			for i++; i < len(b) && b[i] != q && b[i] != '\n'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case b[i] == '/' && i+1 < len(b) && b[i+1] == '*':
			b[i], b[i+1] = ' ', ' '
			for i += 2; i < len(b) && !(b[i] == '*' && i+1 < len(b) && b[i+1] == '/'); i++ {
				if b[i] != '\n' {
					b[i] = ' '
				}
			}
			if i < len(b) {
				b[i], b[i+1] = ' ', ' '
				i++
			}
		case b[i] == '/' && i+1 < len(b) && b[i+1] == '/':
			for ; i < len(b) && b[i] != '\n'; i++ {
				b[i] = ' '
			}
		}
	}
	return string(b)
}

// token is a C token: an identifier or one punctuation byte.
type token struct {
	s     string
	depth int // bracket depth before the token
}

// tokens splits C text into identifiers (and numbers) and punctuation,
// with the bracket depth of each.
func tokens(s string) []token {
	var out []token
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		case isIdentByte(c):
			j := i
			for j < len(s) && isIdentByte(s[j]) {
				j++
			}
			out = append(out, token{s[i:j], depth})
			i = j - 1
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(s) && s[j] != c {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			out = append(out, token{"\"\"", depth})
			i = j
		default:
			if c == ')' || c == ']' || c == '}' {
				depth--
			}
			out = append(out, token{string(c), depth})
			if c == '(' || c == '[' || c == '{' {
				depth++
			}
		}
	}
	return out
}

// isFunctionHead reports whether C text that has just closed a
// top-level brace is a function definition: its head (before the first
// top-level '{') ends with a parameter list (attributes after it
// aside) and holds no '='.
func isFunctionHead(s string) bool {
	toks := tokens(s)
	head := headOf(toks)
	if head == nil {
		return false
	}
	for _, t := range head {
		if t.depth == 0 && t.s == "=" {
			return false
		}
	}
	return functionName(head) != ""
}

// headOf returns the tokens before the first top-level '{', or nil.
func headOf(toks []token) []token {
	for i, t := range toks {
		if t.depth == 0 && t.s == "{" {
			return toks[:i]
		}
	}
	return nil
}

// functionName returns the name of the function whose head (type,
// name, parameters, attributes) toks is: the identifier before the last
// top-level parameter list that is not an attribute macro's, with at
// least one token before it (a macro invoked at the top level has
// none); "" when there is none.
func functionName(toks []token) string {
	if len(toks) == 0 || toks[len(toks)-1].s != ")" {
		return ""
	}
	for i := len(toks) - 1; i > 0; i-- {
		t := toks[i]
		if t.depth != 0 || t.s != "(" {
			continue
		}
		name := toks[i-1]
		if name.depth != 0 || !isIdentByte(name.s[0]) || attributeMacros[name.s] {
			continue
		}
		if i-1 == 0 {
			return ""
		}
		return name.s
	}
	return ""
}

// keywords are C's words that are never a declared name.
var keywords = map[string]bool{"static": true, "inline": true, "extern": true, "const": true, "volatile": true,
	"struct": true, "union": true, "enum": true, "typedef": true, "unsigned": true, "signed": true, "int": true,
	"long": true, "short": true, "char": true, "void": true, "bool": true, "_Bool": true, "float": true, "double": true}

// classify sets the kind and names of a C entity from its text.
func classify(e *Entity, s string) {
	e.Kind = KindOther
	toks := tokens(s)
	if len(toks) > 0 && toks[len(toks)-1].s == ";" {
		toks = toks[:len(toks)-1]
	}
	if len(toks) == 0 {
		return
	}
	if head := headOf(toks); head != nil {
		aggregate := len(head) >= 1 && (head[0].s == "struct" || head[0].s == "union" || head[0].s == "enum") ||
			len(head) >= 2 && head[0].s == "typedef" && (head[1].s == "struct" || head[1].s == "union" || head[1].s == "enum")
		assign := false
		for _, t := range head {
			if t.depth == 0 && t.s == "=" {
				assign = true
			}
		}
		switch {
		case assign:
			if name := declaredName(head); name != "" {
				e.Kind, e.Names = KindDeclaration, []string{name}
			}
		case aggregate:
			var names []string
			if last := head[len(head)-1]; isIdentByte(last.s[0]) && !keywords[last.s] && !attributeMacros[last.s] {
				names = append(names, last.s) // the tag
			}
			// After the closing brace: a typedef name or a variable.
			tail := toks[len(head):]
			for i := len(tail) - 1; i >= 0; i-- {
				if tail[i].depth == 0 && tail[i].s == "}" {
					if n := declaredName(tail[i+1:]); n != "" {
						names = append(names, n)
					}
					break
				}
			}
			if len(names) > 0 {
				e.Kind, e.Names = KindType, names
				if len(names) == 2 || head[0].s != "typedef" {
					e.Tag = head[0].s // the type has a tag
					if e.Tag == "typedef" {
						e.Tag = head[1].s
					}
				}
			}
		default:
			if name := functionName(head); name != "" {
				e.Kind, e.Names = KindFunction, []string{name}
			}
		}
		return
	}
	switch {
	case toks[0].s == "typedef":
		for i := 0; i+2 < len(toks); i++ {
			if toks[i].s == "(" && toks[i+1].s == "*" && isIdentByte(toks[i+2].s[0]) {
				e.Kind, e.Names = KindType, []string{toks[i+2].s}
				return
			}
		}
		if n := declaredName(toks); n != "" {
			e.Kind, e.Names = KindType, []string{n}
		}
	case len(toks) == 2 && (toks[0].s == "struct" || toks[0].s == "union" || toks[0].s == "enum"):
		e.Kind, e.Names = KindType, []string{toks[1].s}
	case toks[len(toks)-1].s == ")" || hasTopLevel(toks, "("):
		if name := functionName(trimAttributes(toks)); name != "" {
			e.Kind, e.Names = KindDeclaration, []string{name}
		}
	default:
		if n := declaredName(toks); n != "" && len(toks) >= 2 {
			e.Kind, e.Names = KindDeclaration, []string{n}
		}
	}
}

// hasTopLevel reports whether toks has s outside brackets.
func hasTopLevel(toks []token, s string) bool {
	for _, t := range toks {
		if t.depth == 0 && t.s == s {
			return true
		}
	}
	return false
}

// trimAttributes drops attribute macros (with their arguments, or
// without: __must_check) from the end of a prototype.
func trimAttributes(toks []token) []token {
	for len(toks) > 0 {
		if last := toks[len(toks)-1].s; strings.HasPrefix(last, "__") && !attributeMacros[last] {
			toks = toks[:len(toks)-1]
			continue
		}
		if toks[len(toks)-1].s != ")" {
			break
		}
		open := -1
		for i := len(toks) - 1; i >= 0; i-- {
			if toks[i].depth == 0 && toks[i].s == "(" {
				open = i
				break
			}
		}
		if open < 1 || !attributeMacros[toks[open-1].s] {
			break
		}
		toks = toks[:open-1]
	}
	return toks
}

// declaredName returns the name a variable declaration or typedef
// declares: the last top-level identifier before an array bound, an
// initializer or a bit-field width that is not a keyword.
func declaredName(toks []token) string {
	name := ""
	for _, t := range toks {
		if t.depth != 0 {
			continue
		}
		if t.s == "=" || t.s == "[" || t.s == ":" {
			break
		}
		if isIdentByte(t.s[0]) && !(t.s[0] >= '0' && t.s[0] <= '9') && !keywords[t.s] && !attributeMacros[t.s] {
			name = t.s
		}
	}
	return name
}
