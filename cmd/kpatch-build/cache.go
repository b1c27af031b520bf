package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// keptMarker marks a work directory that -d kept on purpose: the sweep of
// leftovers leaves it alone.
const keptMarker = ".kpatch-kept"

// lockCache takes the cache's lock for the length of a run and, when no
// other run holds it, first removes what dead runs left behind: the
// temporary directories (tmp-*) and the work directories (work-*) of runs
// killed before they could clean up. Every run holds the lock shared; the
// sweep needs it exclusive, so it never touches the directories of a live
// run sharing the cache. unlock releases it.
func lockCache(cache string, logf func(string, ...any)) (unlock func(), err error) {
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(cache, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	fd := int(f.Fd())
	if flock(fd, syscall.LOCK_EX|syscall.LOCK_NB) == nil {
		if gone := sweepCache(cache); len(gone) > 0 {
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
			if _, err := os.Stat(filepath.Join(p, keptMarker)); err == nil {
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

// interruptContext returns a context cancelled by SIGINT or SIGTERM. On
// the signal, the commands the run started (make, the compiler and their
// children) are killed first, so that none of them writes into a work
// directory while it is removed. sig returns the signal once one arrived;
// stop releases the handler.
func interruptContext() (ctx context.Context, sig func() os.Signal, stop func()) {
	// Orphaned grandchildren (a compiler whose make was killed) become
	// ours, so they are found and killed too.
	setChildSubreaper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	var mu sync.Mutex
	var got os.Signal
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case s := <-ch:
			mu.Lock()
			got = s
			mu.Unlock()
			killDescendants()
			cancel()
		case <-ctx.Done():
		}
	}()
	sig = func() os.Signal {
		mu.Lock()
		defer mu.Unlock()
		return got
	}
	stop = func() {
		signal.Stop(ch)
		cancel()
		<-done
	}
	return ctx, sig, stop
}

// signalName names an interrupting signal.
func signalName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

// setChildSubreaper makes this process the reaper of its orphaned
// descendants (prctl PR_SET_CHILD_SUBREAPER); it does nothing where that
// fails.
func setChildSubreaper() {
	const prSetChildSubreaper = 36
	syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
}

// killDescendants sends SIGKILL to every live descendant of this process,
// found through /proc, until none is left (a process may fork while it is
// being killed). It gives up after a second.
func killDescendants() {
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		pids := descendants(os.Getpid())
		if len(pids) == 0 {
			return
		}
		for _, p := range pids {
			syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// descendants returns the live (not zombie) descendants of pid.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		ppid, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		children[ppid] = append(children[ppid], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}
