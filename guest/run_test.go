package guest

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRunEchoesFilesAndStatus(t *testing.T) {
	o := needKernel(t)
	files := map[string][]byte{"data/hello.txt": []byte("hello from the host\n")}
	console, err := Run(context.Background(), o, "cat /data/hello.txt\nuname -r\n", files)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"hello from the host", testRelease} {
		if !strings.Contains(console, want) {
			t.Errorf("console lacks %q:\n%s", want, console)
		}
	}
	console, err = Run(context.Background(), o, "echo failing on purpose; exit 3\n", nil)
	var ge *Error
	if !errors.As(err, &ge) {
		t.Fatalf("exit 3: err = %v, want *Error", err)
	}
	if !strings.Contains(err.Error(), "exited with status 3") || !strings.Contains(err.Error(), "failing on purpose") {
		t.Errorf("error lacks the status or the console:\n%v", err)
	}
}
