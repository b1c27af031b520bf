package guest

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestRunFilesAndStatus boots once: the guest reads a file from the host,
// prints the release and exits 3, which Run reports with the console.
func TestRunFilesAndStatus(t *testing.T) {
	o := needKernel(t)
	files := map[string][]byte{"data/hello.txt": []byte("hello from the host\n")}
	console, err := Run(context.Background(), o, "cat /data/hello.txt\nuname -r\nexit 3\n", files)
	var ge *Error
	if !errors.As(err, &ge) {
		t.Fatalf("err = %v, want *Error", err)
	}
	if !strings.Contains(err.Error(), "the guest script exited with status 3") || !strings.Contains(err.Error(), "hello from the host") {
		t.Errorf("error lacks the status or the console:\n%v", err)
	}
	for _, want := range []string{"hello from the host\n", "\n" + testRelease(t) + "\n"} {
		if !strings.Contains(console, want) {
			t.Errorf("console lacks %q:\n%s", want, console)
		}
	}
	if ge.Console != console {
		t.Error("the error's console differs from the returned one")
	}
}
