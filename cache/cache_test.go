package cache

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestKey(t *testing.T) {
	a := Key(Parts{"version": "1", "sources": "abc"})
	if len(a) != 20 || strings.Trim(a, "0123456789abcdef") != "" {
		t.Fatalf("Key = %q: want 20 hexadecimal digits", a)
	}
	for _, c := range []struct {
		p    Parts
		same bool
	}{
		{Parts{"sources": "abc", "version": "1"}, true}, // map order does not count
		{Parts{"version": "2", "sources": "abc"}, false},
		{Parts{"version": "1", "sources": "abc", "cc": ""}, false}, // a declared part counts, even empty
		{Parts{"version": "1s", "ources": "abc"}, false},           // where a name ends counts
		{Parts{"version": "1\n7:sources3:abc"}, false},
	} {
		if got := Key(c.p); (got == a) != c.same {
			t.Errorf("Key(%q) = %s, Key of the first parts %s: want same %v", c.p, got, a, c.same)
		}
	}
}

func TestCachedAndLoad(t *testing.T) {
	dir := t.TempDir()
	fills := 0
	fill := func(tmp string) error {
		fills++
		return os.WriteFile(filepath.Join(tmp, "x"), []byte("x"), 0o644)
	}
	for i, wantHit := range []bool{false, true} {
		got, hit, err := Cached(dir, "thing-1", fill)
		if err != nil || hit != wantHit || got != filepath.Join(dir, "thing-1") || !IsComplete(got) {
			t.Fatalf("Cached #%d = %s, %v, %v (complete %v)", i, got, hit, err, IsComplete(got))
		}
	}
	if fills != 1 {
		t.Errorf("filled %d times, want once", fills)
	}
	if _, _, err := Cached(dir, "broken", func(string) error { return errors.New("no") }); err == nil || IsComplete(filepath.Join(dir, "broken")) {
		t.Errorf("a failed fill: %v, and an entry is left", err)
	}
	for _, bad := range []string{"", "a/b", ".hidden", "tmp-x", "work-x", "locks"} {
		if _, _, err := Cached(dir, bad, fill); err == nil {
			t.Errorf("Cached(%q) accepted the name", bad)
		}
	}

	// Load: a cached entry its reader refuses is filled again.
	version := "v1"
	var got string
	load := func() (bool, error) {
		return Load(dir, "data-1", func() ([]byte, error) { return []byte(version + " data"), nil }, func(b []byte) error {
			if !strings.HasPrefix(string(b), version+" ") {
				return fmt.Errorf("not a %s entry: %q", version, b)
			}
			got = string(b)
			return nil
		})
	}
	for i, wantHit := range []bool{false, true} {
		if hit, err := load(); err != nil || hit != wantHit || got != "v1 data" {
			t.Fatalf("Load #%d = %v, %v, read %q", i, hit, err, got)
		}
	}
	version = "v2"
	if hit, err := load(); err != nil || hit || got != "v2 data" {
		t.Errorf("Load of an entry of another format = %v, %v, read %q: want it filled again", hit, err, got)
	}
	_, err := Load(dir, "data-2", func() ([]byte, error) { return []byte("garbage"), nil }, func([]byte) error { return errors.New("unreadable") })
	if err == nil || !strings.Contains(err.Error(), "data-2") {
		t.Errorf("Load of bytes its reader refuses: %v, want an error naming the entry", err)
	}
	if l := leftovers(dir); len(l) > 0 {
		t.Errorf("left in the cache: %v", l)
	}
}

func leftovers(dir string) []string {
	var out []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) || strings.HasPrefix(e.Name(), replacePrefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestEntryLock: one holder of an entry at a time; the next one waits.
func TestEntryLock(t *testing.T) {
	dir := t.TempDir()
	e, err := LockEntry(dir, "tree-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if hit, err := e.Fill(func(d string) error { return os.WriteFile(filepath.Join(d, "f"), nil, 0o644) }); err != nil || hit {
		t.Fatalf("Fill = %v, %v", hit, err)
	}
	got := make(chan *Entry)
	go func() {
		e2, err := LockEntry(dir, "tree-1", nil)
		if err != nil {
			t.Error(err)
		}
		got <- e2
	}()
	select {
	case <-got:
		t.Fatal("a second holder got the entry while the first held it")
	case <-time.After(300 * time.Millisecond):
	}
	e.Unlock()
	select {
	case e2 := <-got:
		if hit, err := e2.Fill(func(string) error { t.Error("filled a complete entry"); return nil }); !hit || err != nil {
			t.Errorf("Fill of the complete entry = %v, %v", hit, err)
		}
		e2.Unlock()
	case <-time.After(5 * time.Second):
		t.Fatal("the second holder did not get the entry once the first let go")
	}
}

// TestSweep: the first run to find the cache unused removes what dead runs
// left (temporary and work directories, half-written files, in-place
// entries left incomplete, locks of entries gone) and nothing else: not
// complete entries, a kept work directory, an incomplete entry whose lock
// an orphan still holds; and not while another run holds the cache.
func TestSweep(t *testing.T) {
	dir := t.TempDir()
	mk := func(p string, complete bool) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, p, "file"), nil, 0o644)
		if complete {
			MarkComplete(filepath.Join(dir, p))
		}
	}
	touch := func(p string) {
		t.Helper()
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, p), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk("tmp-thing-1-123", false)
	mk("work-456", false)
	mk("work-kept", false)
	touch("work-kept/" + KeptMarker)
	touch(".kpatch-replace-789")
	mk("index-1", true) // immutable, complete
	mk("prepared-done", true)
	touch("prepared-done/.kpatch-replace-1")
	touch("locks/prepared-done")
	mk("prepared-killed", false)
	touch("locks/prepared-killed")
	touch("locks/prepared-gone")
	mk("prepared-orphan", false)
	touch("locks/prepared-orphan")
	orphan, err := os.Open(filepath.Join(dir, "locks", "prepared-orphan"))
	if err != nil {
		t.Fatal(err)
	}
	defer orphan.Close()
	if err := syscall.Flock(int(orphan.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	listing := func() []string {
		var out []string
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			rel, _ := filepath.Rel(dir, p)
			if rel != "." && rel != ".lock" {
				out = append(out, rel)
			}
			return nil
		})
		sort.Strings(out)
		return out
	}
	before := listing()

	// A live run holds the cache (shared): nothing goes.
	live, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(live.Fd()), syscall.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	_, unlock, err := Lock(dir, func(f string, a ...any) { t.Errorf("swept while a run holds the cache: "+f, a...) })
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	live.Close()
	if got := listing(); strings.Join(got, " ") != strings.Join(before, " ") {
		t.Fatalf("the cache changed while a run held it:\n%v\nwas\n%v", got, before)
	}

	var logged string
	_, unlock, err = Lock(dir, func(f string, a ...any) { logged = fmt.Sprintf(f, a...) })
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	want := []string{
		"index-1", "index-1/" + Complete, "index-1/file",
		"locks", "locks/prepared-done", "locks/prepared-orphan",
		"prepared-done", "prepared-done/" + Complete, "prepared-done/file",
		"prepared-orphan", "prepared-orphan/file",
		"work-kept", "work-kept/" + KeptMarker, "work-kept/file",
	}
	if got := listing(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("after the sweep:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, name := range []string{"tmp-thing-1-123", "work-456", ".kpatch-replace-789", "prepared-done/.kpatch-replace-1", "prepared-killed"} {
		if !strings.Contains(logged, name) {
			t.Errorf("the sweep's line %q does not name %s", logged, name)
		}
	}
}

// TestWorkDir: a new work directory each time; those over a day old go
// first unless kept with -d.
func TestWorkDir(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-2 * staleWork)
	for _, n := range []string{"work-old", "work-oldkept", "work-young"} {
		os.MkdirAll(filepath.Join(dir, n), 0o755)
	}
	os.WriteFile(filepath.Join(dir, "work-oldkept", KeptMarker), nil, 0o644)
	os.Chtimes(filepath.Join(dir, "work-old"), old, old)
	os.Chtimes(filepath.Join(dir, "work-oldkept"), old, old)
	w, err := WorkDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(w), workPrefix) || filepath.Dir(w) != dir {
		t.Errorf("WorkDir = %s", w)
	}
	for n, want := range map[string]bool{"work-old": false, "work-oldkept": true, "work-young": true} {
		if exists(filepath.Join(dir, n)) != want {
			t.Errorf("%s: exists %v, want %v", n, !want, want)
		}
	}
}

// TestKilledHolder: a holder killed while it fills an entry leaves it
// incomplete; the make it started, which inherited the entry's locks
// (Files), keeps the next holder and the sweep out until it exits; then
// the sweep removes the half-made entry and the next holder fills it.
func TestKilledHolder(t *testing.T) {
	if os.Getenv("CACHE_TEST_HOLDER") != "" {
		holder(os.Getenv("CACHE_TEST_HOLDER"))
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestKilledHolder$")
	cmd.Env = append(os.Environ(), "CACHE_TEST_HOLDER="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	pid, perr := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "orphan ")))
	if err != nil || perr != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("holder: %q, %v", line, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	defer syscall.Kill(pid, syscall.SIGKILL)

	got := make(chan *Entry, 1)
	go func() {
		e, err := LockEntry(dir, "tree-1", nil)
		if err != nil {
			t.Error(err)
		}
		got <- e
	}()
	select {
	case <-got:
		t.Fatal("the entry was free while the killed holder's orphan held its locks")
	case <-time.After(500 * time.Millisecond):
	}
	syscall.Kill(pid, syscall.SIGKILL)
	select {
	case e := <-got:
		if IsComplete(e.Dir) || !exists(filepath.Join(e.Dir, "half")) {
			t.Errorf("the killed holder's entry: complete %v, want the incomplete half-made one", IsComplete(e.Dir))
		}
		e.Unlock()
	case <-time.After(10 * time.Second):
		t.Fatal("the entry is still held after the orphan exited")
	}

	// The next run to find the cache unused removes the half-made entry,
	// once the orphan has closed all its files: a dying process releases
	// its locks one file at a time (the entry's may go before the
	// cache's), and it is a zombie, or reaped, when all are closed.
	waitExited(t, pid)
	var logged []string
	_, unlock, err := Lock(dir, func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) })
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if len(logged) != 1 || !strings.Contains(logged[0], "tree-1") || exists(filepath.Join(dir, "tree-1")) {
		t.Errorf("the sweep logged %q, want the half-made entry tree-1 removed", logged)
	}
	e, err := LockEntry(dir, "tree-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Unlock()
	if hit, err := e.Fill(func(d string) error { return os.WriteFile(filepath.Join(d, "whole"), nil, 0o644) }); hit || err != nil || !IsComplete(e.Dir) {
		t.Errorf("Fill after the kill = %v, %v", hit, err)
	}
}

// holder is TestKilledHolder's process: it takes the entry, starts
// filling it, starts a long child that inherits the locks (as make does),
// says the child's pid and waits to be killed.
// waitExited waits until the process pid has exited (a zombie or gone).
func waitExited(t *testing.T, pid int) {
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		// The state follows the command's closing parenthesis.
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X') {
			return
		}
	}
	t.Fatalf("process %d did not exit", pid)
}

func holder(dir string) {
	e, err := LockEntry(dir, "tree-1", nil)
	if err == nil {
		err = e.Reset()
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(e.Dir, "half"), nil, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	child := exec.Command("sleep", "60")
	child.ExtraFiles = e.Files()
	child.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // not killed with its parent
	if err := child.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("orphan %d\n", child.Process.Pid)
	time.Sleep(time.Minute)
	os.Exit(1)
}

// TestLockAbsolute: Lock names the cache by its absolute path whatever
// the run's working directory, and refuses no directory at all (which
// would be the working directory).
func TestLockAbsolute(t *testing.T) {
	parent := t.TempDir()
	t.Chdir(parent)
	dir, unlock, err := Lock("cache", nil)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if want := filepath.Join(parent, "cache"); dir != want {
		t.Errorf("Lock(\"cache\") in %s names %q, want %q", parent, dir, want)
	}
	if _, err := os.Stat(filepath.Join(parent, "cache", ".lock")); err != nil {
		t.Errorf("no lock file in the cache: %v", err)
	}
	if _, _, err := Lock("", nil); err == nil {
		t.Error("Lock(\"\") took the working directory for the cache")
	}
}
