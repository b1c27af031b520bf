// Package cache owns kpatch-build's cache directory: its lock (held shared
// by every run, exclusively by the sweep of dead runs' leftovers), and the
// one way an entry is filled: in a temporary directory, published whole
// under its final name with a completion marker.
package cache

import (
	"os"
	"path/filepath"
)

// Publish makes the finished directory tmp available as final, marked
// complete by the file marker inside it. Concurrent runs may race to
// publish the same content: the first wins and the others drop their copy;
// a complete directory is never removed, only an incomplete leftover.
func Publish(tmp, final, marker string) error {
	if err := os.WriteFile(filepath.Join(tmp, marker), nil, 0o644); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(tmp, final); err == nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(final, marker)); err == nil {
		os.RemoveAll(tmp) // another run published it first
		return nil
	}
	os.RemoveAll(final)
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	return nil
}

// Complete is the marker file of a complete cache directory.
const Complete = ".kpatch-complete"

// Cached is the one way kpatch-build caches a build (the bundled tree's
// original build, the running kernel it is diffed against, the emulated
// target's kernel): the directory name under cacheDir, made by fill in a
// temporary directory and published atomically (Publish) unless a
// complete one is there already. Each user computes its own key into
// name. It reports whether the directory came from the cache.
func Cached(cacheDir, name string, fill func(tmp string) error) (dir string, hit bool, err error) {
	dir = filepath.Join(cacheDir, name)
	if _, err := os.Stat(filepath.Join(dir, Complete)); err == nil {
		return dir, true, nil
	}
	// The cache's lock, shared, while the temporary directory exists: a
	// kpatch-build run sharing the cache sweeps tmp-* only when no one
	// holds it.
	unlock, err := Lock(cacheDir, nil)
	if err != nil {
		return "", false, err
	}
	defer unlock()
	tmp, err := os.MkdirTemp(cacheDir, "tmp-"+name+"-")
	if err != nil {
		return "", false, err
	}
	if err := fill(tmp); err != nil {
		os.RemoveAll(tmp)
		return "", false, err
	}
	if err := Publish(tmp, dir, Complete); err != nil {
		return "", false, err
	}
	return dir, false, nil
}
