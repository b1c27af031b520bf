package cache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// KeptMarker marks a work directory that -d kept on purpose: the sweep of
// leftovers leaves it alone.
const KeptMarker = ".kpatch-kept"

const (
	tmpPrefix  = "tmp-"  // an entry being filled (Cached), or being discarded
	workPrefix = "work-" // a run's private work directory (WorkDir)
	locksDir   = "locks" // the entries' locks (LockEntry), one file per entry name
	// replacePrefix starts the name of a file being written for a rename
	// into place (worktree.ReplaceFile): half-written when its writer died.
	replacePrefix = ".kpatch-replace-"
)

// staleWork is the age after which a work directory is taken for a dead
// run's even while other runs hold the cache's lock (a cache shared by
// runs that always overlap is never swept).
const staleWork = 24 * time.Hour

// Lock takes the cache's lock for the length of a run and, when no
// other run holds it, first removes what dead runs left behind (sweep).
// Every run holds the lock shared; the sweep needs it exclusive, so it
// never touches the directories of a live run sharing the cache. unlock
// releases it. logf, when not nil, is told what the sweep removed.
//
// dir is cacheDir made absolute, the name the run must use: the cache's
// paths go into kbuild's records (a prepared tree's -ffile-prefix-map),
// so a run naming it relatively would make kbuild rebuild the
// preparation's files and the next run prepare the tree again.
func Lock(cacheDir string, logf func(string, ...any)) (dir string, unlock func(), err error) {
	if cacheDir == "" {
		return "", nil, errors.New("no cache directory")
	}
	dir, err = filepath.Abs(cacheDir)
	if err != nil {
		return "", nil, fmt.Errorf("cache %s: %w", cacheDir, err)
	}
	f, err := lockCache(dir, logf)
	if err != nil {
		return "", nil, err
	}
	return dir, func() { f.Close() }, nil
}

// lockCache is Lock, returning the open lock file.
func lockCache(cacheDir string, logf func(string, ...any)) (*os.File, error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("cache %s: %w", cacheDir, err)
	}
	f, err := os.OpenFile(filepath.Join(cacheDir, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cache %s: %w", cacheDir, err)
	}
	fd := int(f.Fd())
	if flock(fd, syscall.LOCK_EX|syscall.LOCK_NB) == nil {
		if gone := sweep(cacheDir); len(gone) > 0 && logf != nil {
			logf("removed what interrupted runs left in the cache: %s", strings.Join(gone, " "))
		}
	}
	// Converting the exclusive lock to a shared one, or waiting for a
	// sweeping run to finish.
	if err := flock(fd, syscall.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return f, nil
}

// flock is flock(2), retried when a signal interrupts it.
func flock(fd, how int) error {
	for {
		err := syscall.Flock(fd, how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// Entry is an entry that its writer fills or changes in place (a prepared
// kernel tree, which every run patches and builds in, then puts back),
// held exclusively: one holder at a time, across processes. The holder
// also holds the cache's lock shared, so the sweep never runs meanwhile.
type Entry struct {
	// Dir is the entry's directory (it may not exist yet).
	Dir string

	cacheLock, lock *os.File
}

// LockEntry takes the lock of the entry name of cacheDir, waiting for its
// holder; the cache's lock is taken shared first (sweeping it when no one
// holds it, logf told what went). Whoever finds the entry incomplete
// (IsComplete) fills it (Fill, or Reset then MarkComplete); a holder killed
// halfway leaves it incomplete, for the next holder or the sweep.
func LockEntry(cacheDir, name string, logf func(string, ...any)) (*Entry, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	cl, err := lockCache(cacheDir, logf)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cacheDir, locksDir), 0o755); err != nil {
		cl.Close()
		return nil, fmt.Errorf("cache %s: %w", cacheDir, err)
	}
	path := filepath.Join(cacheDir, locksDir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("cache entry %s: %w", name, err)
	}
	if err := flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		cl.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &Entry{Dir: filepath.Join(cacheDir, name), cacheLock: cl, lock: f}, nil
}

// Files are the open files that hold the entry's locks, for child
// processes to inherit (exec.Cmd's ExtraFiles): a make killed with its
// run, whose compilers go on a while, keeps the next holder and the sweep
// out until the last of them exits.
func (e *Entry) Files() []*os.File { return []*os.File{e.cacheLock, e.lock} }

// Unlock releases the entry and the cache's lock.
func (e *Entry) Unlock() {
	e.lock.Close()
	e.cacheLock.Close()
}

// Reset empties the entry: its directory removed and made again, without
// the completion marker.
func (e *Entry) Reset() error {
	if err := os.RemoveAll(e.Dir); err != nil {
		return fmt.Errorf("cache entry %s: %w", e.Dir, err)
	}
	if err := os.MkdirAll(e.Dir, 0o755); err != nil {
		return fmt.Errorf("cache entry %s: %w", e.Dir, err)
	}
	return nil
}

// Fill makes the entry with fill, in its own directory, unless it is
// complete; it reports whether it was. A fill that fails leaves no entry.
func (e *Entry) Fill(fill func(dir string) error) (hit bool, err error) {
	if IsComplete(e.Dir) {
		return true, nil
	}
	if err := e.Reset(); err != nil {
		return false, err
	}
	if err := fill(e.Dir); err != nil {
		os.RemoveAll(e.Dir)
		return false, err
	}
	return false, MarkComplete(e.Dir)
}

// WorkDir makes a run's private work directory in the cache (work-*),
// which the run removes when done (or keeps, with KeptMarker in it, for
// -d). Those of dead runs go in the sweep; first, work directories more
// than a day old and not kept go now, as a dead run's, for a cache whose
// runs always overlap. The caller holds the cache's lock.
func WorkDir(cacheDir string) (string, error) {
	entries, _ := os.ReadDir(cacheDir)
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), workPrefix) {
			continue
		}
		p := filepath.Join(cacheDir, e.Name())
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleWork && !exists(filepath.Join(p, KeptMarker)) {
			os.RemoveAll(p)
		}
	}
	dir, err := os.MkdirTemp(cacheDir, workPrefix)
	if err != nil {
		return "", fmt.Errorf("cache %s: %w", cacheDir, err)
	}
	return dir, nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// sweep removes the leftovers of dead runs (the caller holds the cache's
// lock exclusively: no run is live) and returns the names it removed:
// temporary directories (tmp-*), work directories (work-*) not kept by
// -d, half-written files (.kpatch-replace-*) in the cache and at the top
// of its in-place entries, and in-place entries left incomplete, with
// their locks (an entry whose lock a dead run's orphaned compiler still
// holds is left for later).
func sweep(cacheDir string) []string {
	entries, err := os.ReadDir(cacheDir)
	if err != nil {
		return nil
	}
	var gone []string
	remove := func(p string) {
		if os.RemoveAll(p) == nil {
			rel, _ := filepath.Rel(cacheDir, p)
			gone = append(gone, rel)
		}
	}
	for _, e := range entries {
		p := filepath.Join(cacheDir, e.Name())
		switch {
		case strings.HasPrefix(e.Name(), tmpPrefix) && e.IsDir():
			remove(p)
		case strings.HasPrefix(e.Name(), workPrefix) && e.IsDir():
			if !exists(filepath.Join(p, KeptMarker)) {
				remove(p)
			}
		case strings.HasPrefix(e.Name(), replacePrefix):
			remove(p)
		}
	}
	locks, _ := os.ReadDir(filepath.Join(cacheDir, locksDir))
	for _, l := range locks {
		gone = append(gone, sweepEntry(cacheDir, l.Name())...)
	}
	return gone
}

// sweepEntry sweeps the in-place entry name when no one holds its lock:
// an incomplete entry goes whole, with its lock (which also goes when the
// entry is gone); a complete one loses its half-written files
// (.kpatch-replace-* at its top, where its holders replace their state
// files). It returns the names it removed.
func sweepEntry(cacheDir, name string) []string {
	path := filepath.Join(cacheDir, locksDir, name)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	if checkName(name) != nil || flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return nil // not an entry's lock, or a dead run's orphan still works in the entry
	}
	dir := filepath.Join(cacheDir, name)
	if IsComplete(dir) {
		var gone []string
		inner, _ := os.ReadDir(dir)
		for _, e := range inner {
			if strings.HasPrefix(e.Name(), replacePrefix) && os.RemoveAll(filepath.Join(dir, e.Name())) == nil {
				gone = append(gone, name+"/"+e.Name())
			}
		}
		return gone
	}
	removed := exists(dir)
	if os.RemoveAll(dir) != nil {
		return nil
	}
	os.Remove(path)
	if !removed {
		return nil
	}
	return []string{name}
}
