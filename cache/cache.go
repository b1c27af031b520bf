// Package cache owns kpatch-build's cache directory and every entry in
// it. One scheme serves every writer (prepared trees and their original
// objects, the index of the debug vmlinux and modules, the running
// kernel's facts, the bundled kernel's sources, builds and struct sizes,
// the emulated target's kernels, the tests' fixtures):
//
//   - An entry is named KIND-KEY, KEY a hash of the inputs its writer
//     declares (Key): a change of input is a new entry, never an update.
//   - An entry is complete when it holds the marker Complete. Immutable
//     entries (Cached, Load) are filled in a temporary directory (tmp-*)
//     and renamed into place whole, marker included; entries that are
//     filled or changed in place (a prepared tree) are held under a
//     per-entry exclusive lock (LockEntry) and marked when done.
//   - The cache-wide lock (Lock) is held shared by every run and by every
//     holder of an entry lock; whoever finds it free takes it exclusively
//     first and sweeps what dead runs left: temporary and work directories,
//     half-written files, in-place entries left incomplete (sweep).
//
// A cache is disposable: a changed layout or key simply fills new
// entries.
package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Complete is the marker file of a complete cache entry.
const Complete = ".kpatch-complete"

// Parts are the named inputs of a cache entry, by name: everything that
// makes its contents what they are (a format version, the sources' digest,
// the compiler's version, the flags).
type Parts map[string]string

// Key is the content address of an entry: a hash of its named parts (in
// the order of their names, each name and value length-prefixed, so no two
// different sets of parts hash alike), 20 hexadecimal digits.
func Key(parts Parts) string {
	names := make([]string, 0, len(parts))
	for n := range parts {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%d:%s%d:%s\n", len(n), n, len(parts[n]), parts[n])
	}
	return hex.EncodeToString(h.Sum(nil))[:20]
}

// IsComplete reports whether the entry directory dir holds the
// completion marker.
func IsComplete(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, Complete))
	return err == nil
}

// MarkComplete marks the entry directory dir complete.
func MarkComplete(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, Complete), nil, 0o644); err != nil {
		return fmt.Errorf("cache entry %s: %w", dir, err)
	}
	return nil
}

// MarkIncomplete takes the completion marker from dir: the entry is filled
// again by its next user (or removed by the sweep).
func MarkIncomplete(dir string) error {
	if err := os.Remove(filepath.Join(dir, Complete)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cache entry %s: %w", dir, err)
	}
	return nil
}

// checkName refuses an entry name that is not one plain file name of the
// cache directory's own (no separator, no leading dot, no name of the
// sweep's).
func checkName(name string) error {
	if name == "" || name != filepath.Base(name) || strings.HasPrefix(name, ".") ||
		strings.HasPrefix(name, tmpPrefix) || strings.HasPrefix(name, workPrefix) || name == locksDir {
		return fmt.Errorf("cache entry name %q: not a plain entry name", name)
	}
	return nil
}

// publish makes the finished directory tmp available as final, marked
// complete. Concurrent runs may race to publish the same content: the
// first wins and the others drop their copy; a complete directory is never
// removed, only an incomplete leftover.
func publish(tmp, final string) error {
	if err := MarkComplete(tmp); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(tmp, final); err == nil {
		return nil
	}
	if IsComplete(final) {
		os.RemoveAll(tmp) // another run published it first
		return nil
	}
	os.RemoveAll(final)
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("cache entry %s: %w", final, err)
	}
	return nil
}

// Cached returns the immutable entry name of cacheDir, made by fill in a
// temporary directory and published whole (renamed into place with its
// marker) unless a complete one is there already. It reports whether the
// entry came from the cache. The cache's lock is held shared while the
// temporary directory exists.
func Cached(cacheDir, name string, fill func(tmp string) error) (dir string, hit bool, err error) {
	if err := checkName(name); err != nil {
		return "", false, err
	}
	dir = filepath.Join(cacheDir, name)
	if IsComplete(dir) {
		return dir, true, nil
	}
	_, unlock, err := Lock(cacheDir, nil)
	if err != nil {
		return "", false, err
	}
	defer unlock()
	tmp, err := os.MkdirTemp(cacheDir, tmpPrefix+name+"-")
	if err != nil {
		return "", false, fmt.Errorf("cache %s: %w", cacheDir, err)
	}
	if err := fill(tmp); err != nil {
		os.RemoveAll(tmp)
		return "", false, err
	}
	if err := publish(tmp, dir); err != nil {
		return "", false, err
	}
	return dir, false, nil
}

// dataFile is the file of a one-file entry (Load).
const dataFile = "data"

// Load is Cached for an entry that is one file's bytes (an index, facts
// read from a vmlinux): fill makes the bytes when the entry is missing,
// and decode reads them, filled or cached. A cached entry that decode
// refuses (written by an older format, damaged) is discarded and filled
// again. It reports whether the bytes came from the cache.
func Load(cacheDir, name string, fill func() ([]byte, error), decode func([]byte) error) (hit bool, err error) {
	for try := 0; ; try++ {
		dir, hit, err := Cached(cacheDir, name, func(tmp string) error {
			b, err := fill()
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(tmp, dataFile), b, 0o644); err != nil {
				return fmt.Errorf("cache entry %s: %w", name, err)
			}
			return nil
		})
		if err != nil {
			return false, err
		}
		b, err := os.ReadFile(filepath.Join(dir, dataFile))
		if err == nil {
			err = decode(b)
		}
		if err == nil {
			return hit, nil
		}
		if !hit || try > 0 {
			return false, fmt.Errorf("cache entry %s: %w", dir, err)
		}
		if err := Discard(cacheDir, name); err != nil {
			return false, err
		}
	}
}

// Discard removes the immutable entry name of cacheDir: renamed out of
// the way first (to a tmp-* name), so a concurrent user sees it whole or
// not at all.
func Discard(cacheDir, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	_, unlock, err := Lock(cacheDir, nil)
	if err != nil {
		return err
	}
	defer unlock()
	tmp, err := os.MkdirTemp(cacheDir, tmpPrefix+"discard-"+name+"-")
	if err != nil {
		return fmt.Errorf("cache %s: %w", cacheDir, err)
	}
	old := filepath.Join(tmp, name)
	if err := os.Rename(filepath.Join(cacheDir, name), old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		os.RemoveAll(tmp)
		return fmt.Errorf("discard cache entry %s: %w", name, err)
	}
	return os.RemoveAll(tmp)
}
