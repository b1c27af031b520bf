package guest

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Options says which kernel to boot and how.
type Options struct {
	// Release is the kernel release, e.g. 6.1.0-N-amd64. Empty means the
	// release written in Kernel's boot header.
	Release string
	// Kernel is the bzImage to boot; default /boot/vmlinuz-Release.
	Kernel string
	// ModulesDir holds the kernel's modules and modules.dep; default
	// /lib/modules/Release.
	ModulesDir string
	// Busybox is a statically linked busybox; default /bin/busybox (from
	// Debian's busybox-static) or the first busybox on PATH.
	Busybox string
	// Memory is the guest memory size in qemu's syntax; default 1G.
	Memory string
	// CPUs is the number of guest CPUs; default 1.
	CPUs int
	// KVM boots with -accel kvm; the default is TCG, since qemu's KVM path
	// aborts on some hosts.
	KVM bool
	// Append is added to the kernel command line.
	Append string
	// Timeout bounds one boot, after which qemu is killed; default 180s.
	Timeout time.Duration
	// Log, when set, receives progress messages.
	Log func(format string, args ...any)
}

// DefaultTimeout bounds a boot when Options.Timeout is zero.
const DefaultTimeout = 180 * time.Second

// qemuBinary is the emulator Run starts.
const qemuBinary = "qemu-system-x86_64"

// withDefaults fills in the empty fields and checks that the kernel,
// modules directory and busybox exist.
func (o Options) withDefaults() (Options, error) {
	if o.Kernel == "" {
		if o.Release == "" {
			return o, fmt.Errorf("guest: neither a kernel release nor a kernel image given")
		}
		o.Kernel = "/boot/vmlinuz-" + o.Release
	}
	if _, err := os.Stat(o.Kernel); err != nil {
		return o, fmt.Errorf("guest: kernel image: %w", err)
	}
	r, err := KernelRelease(o.Kernel)
	if err != nil {
		return o, err
	}
	if o.Release == "" {
		o.Release = r
	} else if r != o.Release {
		return o, fmt.Errorf("guest: kernel image %s is release %s, not %s", o.Kernel, r, o.Release)
	}
	if o.ModulesDir == "" {
		o.ModulesDir = filepath.Join("/lib/modules", o.Release)
	}
	if o.Busybox == "" {
		o.Busybox = "/bin/busybox"
		if _, err := os.Stat(o.Busybox); err != nil {
			p, err := exec.LookPath("busybox")
			if err != nil {
				return o, fmt.Errorf("guest: no busybox found (install busybox-static): %w", err)
			}
			o.Busybox = p
		}
	}
	if err := checkStatic(o.Busybox); err != nil {
		return o, err
	}
	if o.Memory == "" {
		o.Memory = "1G"
	}
	if o.CPUs <= 0 {
		o.CPUs = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	return o, nil
}

// checkStatic refuses a busybox that needs a dynamic loader, which the
// initramfs does not have.
func checkStatic(p string) error {
	f, err := elf.Open(p)
	if err != nil {
		return fmt.Errorf("guest: busybox: %w", err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("guest: busybox %s is dynamically linked; install busybox-static", p)
		}
	}
	return nil
}

// KernelRelease reads the release (the first word of the version string)
// from an x86 bzImage's boot header.
func KernelRelease(bzImage string) (string, error) {
	b, err := os.ReadFile(bzImage)
	if err != nil {
		return "", fmt.Errorf("kernel release: %w", err)
	}
	if len(b) < 0x210 || string(b[0x202:0x206]) != "HdrS" {
		return "", fmt.Errorf("kernel release: %s is not an x86 bzImage (no HdrS boot header)", bzImage)
	}
	off := int(binary.LittleEndian.Uint16(b[0x20e:])) + 0x200
	if off >= len(b) {
		return "", fmt.Errorf("kernel release: %s: version string offset %#x is outside the file", bzImage, off)
	}
	s := b[off:]
	if i := bytes.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	f := strings.Fields(string(s))
	if len(f) == 0 {
		return "", fmt.Errorf("kernel release: %s: empty version string", bzImage)
	}
	return f[0], nil
}
