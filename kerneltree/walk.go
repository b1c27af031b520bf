package kerneltree

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// walkParallel is filepath.WalkDir for the trees of a kernel (80,000
// files, where the walk's cost is its lstat calls): fn is called for
// every entry under root but root, from up to GOMAXPROCS goroutines at
// once (fn must be safe for that), in no particular order. fn's
// filepath.SkipDir on a directory skips it; fs.SkipAll stops the walk
// (returning nil); any other error stops it and is returned (the first).
func walkParallel(root string, fn fs.WalkDirFunc) error {
	type unit struct {
		path string
		d    fs.DirEntry
	}
	// The units of work: the directories two levels down (fs/proc),
	// each walked by one goroutine; the entries above them are visited
	// while they are listed.
	var units []unit
	var list func(dir string, depth int) error
	list = func(dir string, depth int) error {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			if !e.IsDir() || depth == 2 {
				if e.IsDir() {
					units = append(units, unit{p, e})
					continue
				}
				if err := fn(p, e, nil); err != nil {
					return err
				}
				continue
			}
			switch err := fn(p, e, nil); {
			case errors.Is(err, filepath.SkipDir):
				continue
			case err != nil:
				return err
			}
			if err := list(p, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := list(root, 1); err != nil {
		if errors.Is(err, fs.SkipAll) {
			return nil
		}
		return err
	}
	var (
		stop  atomic.Bool
		mu    sync.Mutex
		first error
		next  atomic.Int64
		wg    sync.WaitGroup
	)
	for range min(runtime.GOMAXPROCS(0), len(units)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				i := int(next.Add(1)) - 1
				if i >= len(units) {
					return
				}
				u := units[i]
				err := fn(u.path, u.d, nil)
				if errors.Is(err, filepath.SkipDir) {
					continue
				}
				if err == nil {
					err = walkAt(u.path, func(p string, d fs.DirEntry, err error) error {
						if stop.Load() {
							return fs.SkipAll
						}
						err = fn(p, d, err)
						if errors.Is(err, fs.SkipAll) {
							stop.Store(true)
						}
						return err
					})
				}
				if errors.Is(err, fs.SkipAll) {
					stop.Store(true)
				} else if err != nil {
					stop.Store(true)
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// relTo returns the function that gives a walk's entry path relative to
// root, with slashes. walkParallel's paths begin with root's clean form,
// so it is a slice of the path (filepath.Rel cleans both paths on every
// call, a few percent of the trees' check).
func relTo(root string) func(p string) string {
	prefix := filepath.Clean(root) + string(filepath.Separator)
	return func(p string) string {
		if len(p) > len(prefix) && strings.HasPrefix(p, prefix) {
			return filepath.ToSlash(p[len(prefix):])
		}
		rel, _ := filepath.Rel(root, p)
		return filepath.ToSlash(rel)
	}
}
