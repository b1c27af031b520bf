//go:build !amd64

package kerneltree

import "syscall"

// fstatat is the lstat of the entry path (name in the directory dirfd)
// where the walk has no relative stat of its own.
func fstatat(_ int, _, path string, st *syscall.Stat_t) error {
	for {
		err := syscall.Lstat(path, st)
		if err != syscall.EINTR {
			return err
		}
	}
}
