package patch

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/kpatchgo/kpatch-build/refusal"
)

const devNull = "/dev/null"

// maxHunkNumber bounds the numbers of a hunk header, so that positions
// and counts never overflow.
const maxHunkNumber = 1 << 30

// patchParser reads a patch line by line.
type patchParser struct {
	name  string   // the patch file, for messages
	lines []string // the patch's lines, each with its "\n" (the last may lack it)
	i     int      // the current line (0-based: the patch's line i+1)
}

// Parse parses a unified diff (diff -u) or a git diff, as patch -p1
// reads it: the first directory of each name is stripped, whatever it is
// (a/, b/, src.orig/, linux-6.1/...), except in git's rename and copy
// lines, which have none. Text before, between and after the files (a
// mail, a diffstat) is skipped. CRLF line endings are read as LF, as GNU
// patch does. name is the patch file, for messages.
//
// Every path is checked here, before anything is written anywhere: a path
// that is absolute, or that leaves the tree after cleaning (..), is a
// *Error naming the patch, the line of the file's header and the
// path. So are binary changes, symlinks and submodules, and pure renames.
func Parse(name string, data []byte) (*Patch, error) {
	p := &Patch{Path: name}
	lines := splitLines(data)
	for k, l := range lines {
		if strings.HasSuffix(l, "\r\n") {
			lines[k] = l[:len(l)-2] + "\n"
			p.CRLF = true
		}
	}
	ps := &patchParser{name: name, lines: lines}
	for ps.i < len(lines) {
		l := lines[ps.i]
		var f *FileChange
		var err error
		switch {
		case strings.HasPrefix(l, "diff --git "):
			f, err = ps.gitFile()
		case strings.HasPrefix(l, "--- ") && strings.HasPrefix(ps.line(1), "+++ "):
			f, err = ps.traditionalFile()
		case strings.HasPrefix(l, "@@ -"):
			if _, ok := parseHunkHeader(l); ok {
				return nil, malformed(name, ps.i+1, "", "a hunk without a file header (--- and +++ lines) before it")
			}
			ps.i++
			continue
		default:
			ps.i++
			continue
		}
		if err != nil {
			return nil, err
		}
		p.Files = append(p.Files, f)
	}
	if len(p.Files) == 0 {
		return nil, malformed(name, 0, "", "no file changes found in the patch")
	}
	return p, nil
}

// splitLines splits data after each newline; the last line may lack one.
func splitLines(data []byte) []string {
	var lines []string
	s := string(data)
	for s != "" {
		k := strings.IndexByte(s, '\n')
		if k < 0 {
			lines = append(lines, s)
			break
		}
		lines = append(lines, s[:k+1])
		s = s[k+1:]
	}
	return lines
}

// line returns the line delta lines after the current one, "" past the end.
func (ps *patchParser) line(delta int) string {
	if k := ps.i + delta; k < len(ps.lines) {
		return ps.lines[k]
	}
	return ""
}

// treeName checks a file name of the patch, as written on the line of the
// file's header, and returns its tree-relative path: with its first
// directory stripped when strip is set (patch -p1), cleaned, never
// absolute and never out of the tree.
func (ps *patchParser) treeName(line int, raw string, strip bool) (string, error) {
	if strings.ContainsRune(raw, 0) {
		return "", malformed(ps.name, line, raw, "the path contains a NUL byte")
	}
	if strings.HasPrefix(raw, "/") {
		return "", refused(ps.name, line, raw, refusal.New(refusal.PatchAbsolute))
	}
	n := raw
	if strip {
		k := strings.IndexByte(n, '/')
		if k < 0 {
			return "", refused(ps.name, line, raw, refusal.New(refusal.PatchNoPrefix))
		}
		n = strings.TrimLeft(n[k+1:], "/")
	}
	c := path.Clean(n)
	if n == "" || c == "." {
		return "", malformed(ps.name, line, raw, "the path names no file")
	}
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", refused(ps.name, line, raw, refusal.New(refusal.PatchOutside, c))
	}
	if err := checkNameLength(c); err != nil {
		return "", malformed(ps.name, line, raw, "%w", err)
	}
	if n := ToolStateName(c); n != "" {
		return "", refused(ps.name, line, raw, refusal.New(refusal.PatchToolState, n))
	}
	return c, nil
}

// ToolStatePrefix starts the name of every file and directory kpatch-build
// keeps for itself (its temporary files, markers and state): no source
// tree has such a name, and a patch that names one is refused.
const ToolStatePrefix = ".kpatch-"

// ToolStateName returns the first component of the tree-relative path rel
// that starts with ToolStatePrefix, or "" when none does.
func ToolStateName(rel string) string {
	for _, c := range strings.Split(rel, "/") {
		if strings.HasPrefix(c, ToolStatePrefix) {
			return c
		}
	}
	return ""
}

// Linux's limits on a file name and a path.
const (
	maxNameLen = 255
	maxPathLen = 4095
)

// checkNameLength refuses a tree-relative path the file system cannot
// hold: before anything is written, not halfway through.
func checkNameLength(rel string) error {
	if len(rel) > maxPathLen {
		return fmt.Errorf("the path is longer than %d bytes", maxPathLen)
	}
	for _, c := range strings.Split(rel, "/") {
		if len(c) > maxNameLen {
			return fmt.Errorf("the path has a name longer than %d bytes", maxNameLen)
		}
	}
	return nil
}

// unquote reads a name git or diff quoted ("a/tab\there"); others are
// returned as they are.
func (ps *patchParser) unquote(line int, s string) (string, error) {
	if !strings.HasPrefix(s, `"`) {
		return s, nil
	}
	u, err := strconv.Unquote(s)
	if err != nil {
		return "", malformed(ps.name, line, s, "a quoted name that does not parse")
	}
	return u, nil
}

// gitFile parses a file of a git diff, from its "diff --git" line.
func (ps *patchParser) gitFile() (*FileChange, error) {
	f := &FileChange{Line: ps.i + 1}
	a, b := splitGitNames(strings.TrimSuffix(ps.lines[ps.i][len("diff --git "):], "\n"))
	ps.i++
	var oldHdr, newHdr, from, to string
	var haveOld, haveNew bool
header:
	for ; ps.i < len(ps.lines); ps.i++ {
		l := strings.TrimSuffix(ps.lines[ps.i], "\n")
		key, val := gitHeaderLine(l)
		var err error
		switch key {
		case "old mode ":
			_, err = ps.mode(val)
		case "new mode ":
			f.NewMode, err = ps.mode(val)
		case "deleted file mode ":
			f.IsDelete = true
			_, err = ps.mode(val)
		case "new file mode ":
			f.IsNew = true
			f.NewMode, err = ps.mode(val)
		case "rename from ", "rename old ", "copy from ":
			f.IsRename, f.IsCopy = key != "copy from ", key == "copy from "
			from, err = ps.unquote(ps.i+1, val)
		case "rename to ", "rename new ", "copy to ":
			to, err = ps.unquote(ps.i+1, val)
		case "similarity index ", "dissimilarity index ", "index ":
		case "Binary files ", "GIT binary patch":
			return nil, refused(ps.name, f.Line, a, refusal.New(refusal.PatchBinary))
		case "--- ":
			haveOld = true
			oldHdr, _, err = ps.headerName(val)
		case "+++ ":
			haveNew = true
			newHdr, _, err = ps.headerName(val)
		default:
			break header
		}
		if err != nil {
			return nil, err
		}
	}
	// Every name the header gives is checked, used or not.
	type name struct {
		raw   string
		strip bool
	}
	names := []name{{a, true}, {b, true}, {from, false}, {to, false}}
	if haveOld && oldHdr != devNull {
		names = append(names, name{oldHdr, true})
	}
	if haveNew && newHdr != devNull {
		names = append(names, name{newHdr, true})
	}
	clean := map[name]string{}
	for _, n := range names {
		if n.raw == "" {
			continue
		}
		c, err := ps.treeName(f.Line, n.raw, n.strip)
		if err != nil {
			return nil, err
		}
		clean[n] = c
	}
	f.IsNew = f.IsNew || (haveOld && oldHdr == devNull)
	f.IsDelete = f.IsDelete || (haveNew && newHdr == devNull)
	pick := func(hdr string, have bool, renamed string, side string) (string, string) {
		switch {
		case have:
			return hdr, clean[name{hdr, true}]
		case renamed != "":
			return renamed, clean[name{renamed, false}]
		}
		return side, clean[name{side, true}]
	}
	f.OldName, f.Old = pick(oldHdr, haveOld, from, a)
	f.NewName, f.New = pick(newHdr, haveNew, to, b)
	if f.IsNew {
		f.OldName, f.Old = devNull, ""
	}
	if f.IsDelete {
		f.NewName, f.New = devNull, ""
	}
	if (f.Old == "" && !f.IsNew) || (f.New == "" && !f.IsDelete) || (f.IsNew && f.IsDelete) {
		return nil, malformed(ps.name, f.Line, "", "a git diff header whose file names cannot be read")
	}
	if err := ps.hunks(f); err != nil {
		return nil, err
	}
	if f.IsRename && len(f.Hunks) == 0 && f.Old != f.New {
		return nil, refused(ps.name, f.Line, "", refusal.New(refusal.PatchPureRename, f.Old, f.New))
	}
	return f, nil
}

// gitHeaderLine splits a line of a git file header into its keyword and
// value; the keyword is "" for a line that ends the header.
func gitHeaderLine(l string) (key, val string) {
	for _, k := range []string{"old mode ", "new mode ", "deleted file mode ", "new file mode ",
		"rename from ", "rename old ", "rename to ", "rename new ", "copy from ", "copy to ",
		"similarity index ", "dissimilarity index ", "index ", "Binary files ", "GIT binary patch", "--- ", "+++ "} {
		if v, ok := strings.CutPrefix(l, k); ok {
			return k, v
		}
	}
	return "", ""
}

// splitGitNames splits the two names of a "diff --git" line. Unquoted
// names may contain spaces: the split is where both names are the same
// once their first directory is stripped; a rename's names differ, and
// come from its rename lines instead. "" when the names cannot be split.
func splitGitNames(s string) (string, string) {
	if strings.HasPrefix(s, `"`) || strings.HasSuffix(s, `"`) {
		var first, second string
		if strings.HasPrefix(s, `"`) {
			end := quotedEnd(s)
			if end < 0 {
				return "", ""
			}
			first, second = s[:end], strings.TrimLeft(s[end:], " ")
		} else {
			k := strings.Index(s, ` "`)
			if k < 0 {
				return "", ""
			}
			first, second = s[:k], s[k+1:]
		}
		a, err1 := strconv.Unquote(first)
		if !strings.HasPrefix(first, `"`) {
			a, err1 = first, nil
		}
		b, err2 := strconv.Unquote(second)
		if !strings.HasPrefix(second, `"`) {
			b, err2 = second, nil
		}
		if err1 != nil || err2 != nil {
			return "", ""
		}
		return a, b
	}
	for k := 0; k < len(s); k++ {
		if s[k] == ' ' && stripFirst(s[:k]) == stripFirst(s[k+1:]) {
			return s[:k], s[k+1:]
		}
	}
	if strings.Count(s, " ") == 1 {
		a, b, _ := strings.Cut(s, " ")
		return a, b
	}
	return "", ""
}

// quotedEnd returns the index just past the closing quote of the quoted
// string s starts with, -1 if it has none.
func quotedEnd(s string) int {
	for k := 1; k < len(s); k++ {
		switch s[k] {
		case '\\':
			k++
		case '"':
			return k + 1
		}
	}
	return -1
}

// stripFirst removes the first directory of a name.
func stripFirst(n string) string {
	if k := strings.IndexByte(n, '/'); k >= 0 {
		return n[k+1:]
	}
	return ""
}

// mode reads a git file mode and refuses symlinks and submodules.
func (ps *patchParser) mode(s string) (fs.FileMode, error) {
	m, err := strconv.ParseUint(strings.TrimSpace(s), 8, 32)
	if err != nil {
		return 0, malformed(ps.name, ps.i+1, "", "a file mode that does not parse (%q)", s)
	}
	if t := m &^ 0o7777; t != 0o100000 && t != 0 {
		return 0, refused(ps.name, ps.i+1, "", refusal.New(refusal.PatchSpecialFile, m))
	}
	return fs.FileMode(m & 0o777), nil
}

// headerName reads the name of a "--- " or "+++ " line: a quoted name, or
// the text up to a tab (the timestamp follows it). It returns the name
// and the timestamp.
func (ps *patchParser) headerName(s string) (string, string, error) {
	s = strings.TrimSuffix(s, "\n")
	if strings.HasPrefix(s, `"`) {
		end := quotedEnd(s)
		if end < 0 {
			return "", "", malformed(ps.name, ps.i+1, s, "a quoted name without its closing quote")
		}
		n, err := ps.unquote(ps.i+1, s[:end])
		return n, strings.TrimSpace(s[end:]), err
	}
	n, ts, _ := strings.Cut(s, "\t")
	return strings.TrimRight(n, " "), strings.TrimSpace(ts), nil
}

// isEpoch reports whether a diff timestamp is the Unix epoch, which GNU
// diff -N writes for a file that does not exist.
func isEpoch(ts string) bool {
	t, err := time.Parse("2006-01-02 15:04:05.999999999 -0700", ts)
	return err == nil && t.Unix() == 0
}

// traditionalFile parses a file of a unified diff from its "--- " line.
func (ps *patchParser) traditionalFile() (*FileChange, error) {
	f := &FileChange{Line: ps.i + 1}
	oldRaw, oldTS, err := ps.headerName(ps.lines[ps.i][len("--- "):])
	if err != nil {
		return nil, err
	}
	ps.i++
	newRaw, newTS, err := ps.headerName(ps.lines[ps.i][len("+++ "):])
	if err != nil {
		return nil, err
	}
	ps.i++
	f.OldName, f.NewName = oldRaw, newRaw
	f.IsNew = oldRaw == devNull || isEpoch(oldTS)
	f.IsDelete = newRaw == devNull || isEpoch(newTS)
	if f.IsNew && f.IsDelete {
		return nil, malformed(ps.name, f.Line, "", "both the old and the new file are missing (/dev/null or the epoch)")
	}
	var clean [2]string
	for k, raw := range []string{oldRaw, newRaw} {
		if raw == devNull {
			continue
		}
		if clean[k], err = ps.treeName(f.Line, raw, true); err != nil {
			return nil, err
		}
	}
	if !f.IsNew && !f.IsDelete && clean[0] != clean[1] {
		return nil, refused(ps.name, f.Line, "", refusal.New(refusal.PatchNamesDiffer, clean[0], clean[1]))
	}
	if !f.IsNew {
		f.Old = clean[0]
	}
	if !f.IsDelete {
		f.New = clean[1]
	}
	if err := ps.hunks(f); err != nil {
		return nil, err
	}
	if len(f.Hunks) == 0 {
		return nil, malformed(ps.name, f.Line, f.NewName, "a file header without hunks")
	}
	return f, nil
}

// hunks parses the hunks that follow a file header.
func (ps *patchParser) hunks(f *FileChange) error {
	for strings.HasPrefix(ps.line(0), "@@ -") {
		h, err := ps.hunk(f, len(f.Hunks)+1)
		if err != nil {
			return err
		}
		f.Hunks = append(f.Hunks, h)
	}
	if len(f.Hunks) == 0 || ps.i >= len(ps.lines) {
		return nil
	}
	// A hunk followed by more hunk lines has counts that are too small:
	// the lines after them would be dropped silently.
	l := ps.lines[ps.i]
	header := strings.HasPrefix(l, "--- ") && strings.HasPrefix(ps.line(1), "+++ ")
	signature := l == "-- \n" || l == "--\n"
	if (l[0] == '+' || l[0] == '-' || l[0] == ' ') && !header && !signature {
		return malformed(ps.name, ps.i+1, f.path(), "hunk #%d ends before this line, which continues it: the hunk's line counts are wrong", len(f.Hunks))
	}
	return nil
}

// path is the tree-relative path a file change is named by in messages.
func (f *FileChange) path() string {
	if f.New != "" {
		return f.New
	}
	return f.Old
}

// parseHunkHeader reads "@@ -OLD[,N] +NEW[,N] @@ ...".
func parseHunkHeader(l string) (*Hunk, bool) {
	s, ok := strings.CutPrefix(strings.TrimSuffix(l, "\n"), "@@ -")
	if !ok {
		return nil, false
	}
	oldR, rest, ok1 := strings.Cut(s, " +")
	newR, _, ok2 := strings.Cut(rest, " @@")
	if !ok1 || !ok2 {
		return nil, false
	}
	h := &Hunk{}
	var ok3, ok4 bool
	h.OldPos, h.OldLines, ok3 = parseRange(oldR)
	h.NewPos, h.NewLines, ok4 = parseRange(newR)
	if !ok3 || !ok4 || (h.OldPos == 0 && h.OldLines != 0) || (h.NewPos == 0 && h.NewLines != 0) {
		return nil, false
	}
	return h, true
}

// parseRange reads "START[,COUNT]" (COUNT 1 when absent).
func parseRange(s string) (int, int, bool) {
	a, b, comma := strings.Cut(s, ",")
	start, ok := parseNumber(a)
	count := 1
	if comma {
		var ok2 bool
		count, ok2 = parseNumber(b)
		ok = ok && ok2
	}
	return start, count, ok
}

// parseNumber reads a decimal number of at most maxHunkNumber.
func parseNumber(s string) (int, bool) {
	if s == "" || len(s) > 10 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n <= maxHunkNumber
}

// hunk parses hunk #n of file f from its @@ line.
func (ps *patchParser) hunk(f *FileChange, n int) (*Hunk, error) {
	h, ok := parseHunkHeader(ps.lines[ps.i])
	if !ok {
		return nil, malformed(ps.name, ps.i+1, f.path(), "hunk #%d: a malformed @@ line", n)
	}
	h.Line = ps.i + 1
	ps.i++
	oldLeft, newLeft := h.OldLines, h.NewLines
	var last byte
	changed := false
	for oldLeft > 0 || newLeft > 0 || strings.HasPrefix(ps.line(0), `\`) {
		if ps.i >= len(ps.lines) {
			return nil, malformed(ps.name, h.Line, f.path(), "hunk #%d is cut short: the patch ends %d old and %d new lines early", n, oldLeft, newLeft)
		}
		l := ps.lines[ps.i]
		if !strings.HasSuffix(l, "\n") {
			l += "\n"
		}
		op, text := l[0], l[1:]
		if l == "\n" {
			// A blank line is an empty context line whose space a mailer dropped.
			op, text = ' ', "\n"
		}
		switch {
		case op == '\\':
			// "\ No newline at end of file": the line before ends the file.
			if err := h.noNewline(last); err != nil {
				return nil, malformed(ps.name, ps.i+1, f.path(), "hunk #%d: %s", n, err)
			}
			last = 0
			ps.i++
			continue
		case op == ' ' && oldLeft > 0 && newLeft > 0:
			h.Old, h.New = append(h.Old, text), append(h.New, text)
			h.ops = append(h.ops, ' ')
			oldLeft--
			newLeft--
			if !changed {
				h.lead++
			}
			h.trail++
		case op == '-' && oldLeft > 0:
			h.Old = append(h.Old, text)
			h.ops = append(h.ops, '-')
			oldLeft--
			changed, h.trail = true, 0
		case op == '+' && newLeft > 0:
			h.New = append(h.New, text)
			h.ops = append(h.ops, '+')
			newLeft--
			changed, h.trail = true, 0
		default:
			return nil, malformed(ps.name, ps.i+1, f.path(), "hunk #%d (%s, line %d): this line does not fit the hunk (%d old and %d new lines still expected): the hunk's line counts do not match its lines",
				n, h.header(), h.Line, oldLeft, newLeft)
		}
		last = op
		ps.i++
	}
	if !changed {
		h.lead, h.trail = 0, 0
	}
	return h, nil
}

// noNewline removes the newline of the hunk line before a "\ No newline
// at end of file" marker, on the side(s) that line belongs to.
func (h *Hunk) noNewline(last byte) error {
	strip := func(s []string) {
		if n := len(s); n > 0 {
			s[n-1] = strings.TrimSuffix(s[n-1], "\n")
		}
	}
	switch last {
	case ' ':
		strip(h.Old)
		strip(h.New)
	case '-':
		strip(h.Old)
	case '+':
		strip(h.New)
	default:
		return errNoLineBefore
	}
	return nil
}

// errNoLineBefore is a "\ No newline" marker with no hunk line before it.
var errNoLineBefore = errors.New(`a "\ No newline at end of file" marker without a line before it`)
