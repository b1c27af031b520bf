package cache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// KeptMarker marks a work directory that -d kept on purpose: the sweep of
// leftovers leaves it alone.
const KeptMarker = ".kpatch-kept"

// Lock takes the cache's lock for the length of a run and, when no
// other run holds it, first removes what dead runs left behind: the
// temporary directories (tmp-*) and the work directories (work-*) of runs
// killed before they could clean up. Every run holds the lock shared; the
// sweep needs it exclusive, so it never touches the directories of a live
// run sharing the cache. unlock releases it. logf, when not nil, is told
// what the sweep removed.
func Lock(cache string, logf func(string, ...any)) (unlock func(), err error) {
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(cache, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	fd := int(f.Fd())
	if flock(fd, syscall.LOCK_EX|syscall.LOCK_NB) == nil {
		if gone := sweepCache(cache); len(gone) > 0 && logf != nil {
			logf("removed what interrupted runs left in the cache: %s", strings.Join(gone, " "))
		}
	}
	// Converting the exclusive lock to a shared one, or waiting for a
	// sweeping run to finish.
	if err := flock(fd, syscall.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil
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

// sweepCache removes the leftovers of dead runs (the caller holds the
// cache lock exclusively) and returns the names it removed.
func sweepCache(cache string) []string {
	entries, err := os.ReadDir(cache)
	if err != nil {
		return nil
	}
	var gone []string
	for _, e := range entries {
		p := filepath.Join(cache, e.Name())
		switch {
		case strings.HasPrefix(e.Name(), "tmp-") && e.IsDir():
		case strings.HasPrefix(e.Name(), "work-") && e.IsDir():
			if _, err := os.Stat(filepath.Join(p, KeptMarker)); err == nil {
				continue
			}
		case strings.HasPrefix(e.Name(), ".kpatch-replace-"):
		default:
			continue
		}
		if os.RemoveAll(p) == nil {
			gone = append(gone, e.Name())
		}
	}
	return gone
}
