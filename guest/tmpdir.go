package guest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// guestDirPrefix names the temporary directories of boots (the
// initramfs), under $TMPDIR.
const guestDirPrefix = "kpatch-guest-"

// guestDirOwner is the file of a guest directory its run holds locked
// (flock) for as long as it uses the directory; the kernel releases the
// lock when the run dies, however it dies.
const guestDirOwner = ".owner"

// staleGuestDirAge is how old a guest directory without its owner file
// (a run killed between creating the directory and locking it, or an
// older version's) must be to be removed: far longer than that window.
const staleGuestDirAge = time.Hour

// makeGuestDir creates a guest directory in tmp, held by this run until
// release, which removes it. It first removes the guest directories of
// dead runs (sweepGuestDirs), telling logf.
func makeGuestDir(tmp string, logf func(string, ...any)) (dir string, release func(), err error) {
	if gone := sweepGuestDirs(tmp, time.Now()); len(gone) > 0 {
		logf("guest: removed what interrupted runs left in %s: %s", tmp, strings.Join(gone, " "))
	}
	dir, err = os.MkdirTemp(tmp, guestDirPrefix)
	if err != nil {
		return "", nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, guestDirOwner), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("guest directory %s: %w", dir, err)
	}
	return dir, func() {
		os.RemoveAll(dir)
		f.Close()
	}, nil
}

// sweepGuestDirs removes the guest directories in tmp whose run is gone:
// their owner file is not locked, or they have none and are older than
// staleGuestDirAge at now. It returns the names it removed. A live run's
// directory holds its lock: it is never touched.
func sweepGuestDirs(tmp string, now time.Time) []string {
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return nil
	}
	var gone []string
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), guestDirPrefix) {
			continue
		}
		dir := filepath.Join(tmp, e.Name())
		if !ownerGone(dir, now) {
			continue
		}
		if os.RemoveAll(dir) == nil {
			gone = append(gone, e.Name())
		}
	}
	return gone
}

// ownerGone reports whether the run that made the guest directory dir
// is gone (see sweepGuestDirs). A directory of another user, which this
// run cannot lock or remove, is left alone.
func ownerGone(dir string, now time.Time) bool {
	f, err := os.OpenFile(filepath.Join(dir, guestDirOwner), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, os.ErrNotExist) {
		info, err := os.Lstat(dir)
		return err == nil && now.Sub(info.ModTime()) > staleGuestDirAge
	}
	if err != nil {
		return false
	}
	defer f.Close()
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}
