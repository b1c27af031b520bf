package guest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestSweepGuestDirs: the guest directories of dead runs are removed
// (their owner file unlocked, or none and older than an hour), never one
// a live run holds, a young one without its owner file yet, or anything
// else in the directory.
func TestSweepGuestDirs(t *testing.T) {
	tmp := t.TempDir()
	mkdir := func(name string, owner bool, age time.Duration) {
		t.Helper()
		dir := filepath.Join(tmp, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "initramfs.cpio"), []byte("x"), 0o644)
		if owner {
			// Written, never locked: what a dead run's lock leaves.
			os.WriteFile(filepath.Join(dir, guestDirOwner), nil, 0o600)
		}
		old := time.Now().Add(-age)
		os.Chtimes(dir, old, old)
	}
	mkdir(guestDirPrefix+"dead", true, 0)
	mkdir(guestDirPrefix+"dead-old", true, 3*time.Hour)
	mkdir(guestDirPrefix+"no-owner-young", false, time.Minute)
	mkdir(guestDirPrefix+"no-owner-old", false, 2*time.Hour)
	mkdir("other-old", false, 5*time.Hour)
	os.WriteFile(filepath.Join(tmp, guestDirPrefix+"file"), nil, 0o644)

	var logged []string
	logf := func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) }
	live, release, err := makeGuestDir(tmp, logf)
	if err != nil {
		t.Fatal(err)
	}
	want := "guest: removed what interrupted runs left in " + tmp + ": " +
		guestDirPrefix + "dead " + guestDirPrefix + "dead-old " + guestDirPrefix + "no-owner-old"
	if len(logged) != 1 || logged[0] != want {
		t.Errorf("logged %q, want %q", logged, want)
	}
	// A second run sweeping while the first holds its directory.
	second, release2, err := makeGuestDir(tmp, logf)
	if err != nil {
		t.Fatal(err)
	}
	if len(logged) != 1 {
		t.Errorf("the second run removed something: %q", logged[1:])
	}
	var names []string
	entries, _ := os.ReadDir(tmp)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	wantNames := []string{filepath.Base(live), filepath.Base(second), guestDirPrefix + "file", guestDirPrefix + "no-owner-young", "other-old"}
	slices.Sort(wantNames)
	if !slices.Equal(names, wantNames) {
		t.Errorf("left %v, want %v", names, wantNames)
	}
	release()
	release2()
	for _, d := range []string{live, second} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("release left %s: %v", d, err)
		}
	}
}
