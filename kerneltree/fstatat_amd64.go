package kerneltree

import (
	"syscall"
	"unsafe"
)

// fstatat is fstatat(2) of name relative to dirfd (the entry path),
// not following a symlink: amd64's newfstatat, which package syscall
// does not export there.
func fstatat(dirfd int, name, _ string, st *syscall.Stat_t) error {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return err
	}
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_NEWFSTATAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(st)), uintptr(_AT_SYMLINK_NOFOLLOW), 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		return nil
	}
}

const _AT_SYMLINK_NOFOLLOW = 0x100
