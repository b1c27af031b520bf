package cpu

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/mem"
)

const (
	codeAddr = 0xffffffff81000000
	dataAddr = 0xffff888000000000
	roAddr   = dataAddr + 0x1000
	tStack   = 0xffffc90000100000
	tStackSz = 0x4000
)

// newTest maps code (hex, spaces allowed) at codeAddr, a data page, a
// read-only page and a stack, and returns a CPU about to run the code.
func newTest(t *testing.T, code string, cfg Config) *CPU {
	t.Helper()
	raw, err := hex.DecodeString(strings.ReplaceAll(code, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	m := mem.New()
	for _, r := range []struct {
		addr, size uint64
		perm       mem.Perm
	}{
		{codeAddr, 0x2000, mem.PermRX},
		{dataAddr, 0x1000, mem.PermRW},
		{roAddr, 0x1000, mem.PermRead},
		{tStack, tStackSz, mem.PermRW},
	} {
		if err := m.Map(r.addr, r.size, r.perm); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Poke(codeAddr, raw); err != nil {
		t.Fatal(err)
	}
	if cfg.Symbolize == nil {
		cfg.Symbolize = func(addr uint64) (string, uint64, bool) {
			if addr >= codeAddr && addr < codeAddr+0x2000 {
				return "testfn", addr - codeAddr, true
			}
			return "", 0, false
		}
	}
	c := New(m, cfg)
	c.RIP = codeAddr
	c.Regs[RSP] = tStack + tStackSz
	return c
}

func TestFlags(t *testing.T) {
	const (
		CF, PF, AF, ZF, SF, OF = FlagCF, FlagPF, FlagAF, FlagZF, FlagSF, FlagOF
	)
	tests := []struct {
		name     string
		code     string
		rax, rbx uint64
		rcx      uint64
		flagsIn  uint64
		want     uint64 // %rax after
		flags    uint64 // arithmetic flags after
		mask     uint64 // which flags to check (0: all arithmetic)
	}{
		{"add8 signed overflow", "00d8", 0x7f, 1, 0, 0, 0x80, OF | SF | AF, 0},
		{"add8 keeps upper bits", "00d8", 0x12345680, 0x80, 0, 0, 0x12345600, CF | OF | ZF | PF, 0},
		{"add32 carry to zero", "01d8", 0xffffffff, 1, 0, 0, 0, CF | ZF | AF | PF, 0},
		{"add32 zero-extends", "01d8", 0xffffffff00000001, 1, 0, 0, 2, 0, 0},
		{"add64 signed overflow", "4801d8", 1 << 62, 1 << 62, 0, 0, 1 << 63, OF | SF | PF, 0},
		{"sub64 borrow", "4829d8", 0, 1, 0, 0, ^uint64(0), CF | SF | AF | PF, 0},
		{"sub32 signed overflow", "29d8", 0x80000000, 1, 0, 0, 0x7fffffff, OF | AF | PF, 0},
		{"cmp64 equal", "4839d8", 5, 5, 0, CF, 5, ZF | PF, 0},
		{"adc8 with carry in", "10d8", 0xff, 0, 0, CF, 0, CF | ZF | AF | PF, 0},
		{"adc8 0x7f+0+1", "10d8", 0x7f, 0, 0, CF, 0x80, OF | SF | AF, 0},
		{"sbb8 with borrow in", "18d8", 0, 0, 0, CF, 0xff, CF | SF | AF | PF, 0},
		{"sbb8 equal with borrow", "18d8", 5, 5, 0, CF, 0xff, CF | SF | AF | PF, 0},
		{"inc32 overflow keeps CF", "ffc0", 0x7fffffff, 0, 0, CF, 0x80000000, CF | OF | SF | AF | PF, 0},
		{"inc32 wraps, CF stays clear", "ffc0", 0xffffffff, 0, 0, 0, 0, ZF | AF | PF, 0},
		{"dec64 to -1", "48ffc8", 0, 0, 0, 0, ^uint64(0), SF | AF | PF, 0},
		{"dec64 signed overflow", "48ffc8", 1 << 63, 0, 0, CF, 1<<63 - 1, CF | OF | AF | PF, 0},
		{"neg64 zero", "48f7d8", 0, 0, 0, CF, 0, ZF | PF, 0},
		{"neg8 most negative", "f6d8", 0x80, 0, 0, 0, 0x80, CF | OF | SF, 0},
		{"neg64 one", "48f7d8", 1, 0, 0, 0, ^uint64(0), CF | SF | AF | PF, 0},
		{"and64 clears CF OF", "4821d8", 0xf0, 0x0f, 0, CF | OF, 0, ZF | PF, ^AF},
		{"shl32 by 1 out of MSB", "d1e0", 0x80000000, 0, 0, 0, 0, CF | OF | ZF | PF, ^AF},
		{"shr8 by 1", "d0e8", 0x81, 0, 0, 0, 0x40, CF | OF, ^AF},
		{"sar32 by cl=0 keeps flags", "d3f8", 0xffffffff80000000, 0, 0, CF | ZF | SF, 0x80000000, CF | ZF | SF, 0},
		{"sar32 by cl=31", "d3f8", 0x80000000, 0, 31, CF, 0xffffffff, SF | PF, CF | SF | ZF | PF},
		{"rol8 by 1", "d0c0", 0x80, 0, 0, ZF, 0x01, CF | OF | ZF, 0},
		{"ror8 by 1", "d0c8", 0x01, 0, 0, 0, 0x80, CF | OF, 0},
		{"imul64 overflow", "480fafc3", 1 << 32, 1 << 32, 0, 0, 0, CF | OF, CF | OF},
		{"imul64 negative no overflow", "480fafc3", ^uint64(0), 5, 0, CF, ^uint64(4), 0, CF | OF},
		{"mul64 high half", "48f7e3", 1 << 63, 4, 0, 0, 0, CF | OF, CF | OF},
		{"bt64 sets CF only", "480fa3d8", 0x10, 4, 0, ZF, 0x10, CF | ZF, CF | ZF},
		{"popcnt zero", "f3480fb8c3", 7, 0, 0, CF | OF | SF, 0, ZF, 0},
		{"popcnt", "f3480fb8c3", 7, 0xff00ff, 0, CF, 16, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTest(t, tt.code+"f4", Config{})
			c.Regs[RAX], c.Regs[RBX], c.Regs[RCX] = tt.rax, tt.rbx, tt.rcx
			c.SetRFLAGS(tt.flagsIn)
			if _, r, err := c.Run(10); r != StopHalt {
				t.Fatalf("stop %v: %v", r, err)
			}
			if c.Regs[RAX] != tt.want {
				t.Errorf("rax = %#x, want %#x", c.Regs[RAX], tt.want)
			}
			mask := tt.mask
			if mask == 0 {
				mask = FlagsArith
			}
			mask &= FlagsArith
			if got := c.RFLAGS() & mask; got != tt.flags&mask {
				t.Errorf("flags = %s, want %s", flagString(got), flagString(tt.flags&mask))
			}
		})
	}
}

func flagString(f uint64) string {
	var s []string
	for _, x := range []struct {
		bit  uint64
		name string
	}{{FlagCF, "CF"}, {FlagPF, "PF"}, {FlagAF, "AF"}, {FlagZF, "ZF"}, {FlagSF, "SF"}, {FlagOF, "OF"}} {
		if f&x.bit != 0 {
			s = append(s, x.name)
		}
	}
	return "[" + strings.Join(s, " ") + "]"
}

// TestConditions checks every condition code against the flags it reads.
func TestConditions(t *testing.T) {
	for f := uint64(0); f < 1<<6; f++ {
		flags := f&1*FlagCF | f>>1&1*FlagPF | f>>2&1*FlagZF | f>>3&1*FlagSF | f>>4&1*FlagOF
		cf, pf, zf := flags&FlagCF != 0, flags&FlagPF != 0, flags&FlagZF != 0
		sf, of := flags&FlagSF != 0, flags&FlagOF != 0
		want := [16]bool{of, !of, cf, !cf, zf, !zf, cf || zf, !cf && !zf, sf, !sf, pf, !pf,
			sf != of, sf == of, zf || sf != of, !zf && sf == of}
		for cc := uint8(0); cc < 16; cc++ {
			if got := condFlags(flags, cc); got != want[cc] {
				t.Errorf("cc %d with %s = %v", cc, flagString(flags), got)
			}
		}
	}
}

// TestLazyConditions compares the lazy fast paths of cond with the
// materialised flags on edge values of every width.
func TestLazyConditions(t *testing.T) {
	vals := []uint64{0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000,
		0xffffffff, 1<<63 - 1, 1 << 63, ^uint64(0)}
	c := New(mem.New(), Config{})
	for _, sz := range []uint8{1, 2, 4, 8} {
		m := sizeMask[sz]
		for _, a := range vals {
			for _, b := range vals {
				a, b := a&m, b&m
				for _, op := range []uint8{fSub, fLogic} {
					for cc := uint8(0); cc < 16; cc++ {
						res := (a - b) & m
						if op == fLogic {
							res = a & b
						}
						c.setFlags(op, sz, a, b, res, 0)
						got := c.cond(cc)
						c.setFlags(op, sz, a, b, res, 0)
						want := condFlags(c.flags(), cc)
						if got != want {
							t.Errorf("size %d op %d a=%#x b=%#x cc=%d: lazy %v, flags %v", sz, op, a, b, cc, got, want)
						}
					}
				}
			}
		}
	}
}

func TestPageFaultIsPrecise(t *testing.T) {
	tests := []struct {
		name    string
		code    string
		rax     uint64
		addr    uint64
		access  mem.Access
		present bool
	}{
		{"load unmapped", "488b18", 0x1000, 0x1000, mem.AccessRead, false},
		{"store read-only", "488918", roAddr + 8, roAddr + 8, mem.AccessWrite, true},
		{"add to read-only memory", "480118", roAddr, roAddr, mem.AccessWrite, true},
		{"store straddling into read-only", "488918", roAddr - 4, roAddr, mem.AccessWrite, true},
		{"push onto unmapped stack", "50", 0, tStack - 8, mem.AccessWrite, false},
		{"call through unmapped pointer", "ff10", 0x2000, 0x2000, mem.AccessRead, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Two instructions before the faulting one, so the fault is
			// in the middle of a block.
			c := newTest(t, "4889c1 4889c2"+tt.code+"f4", Config{})
			c.Regs[RAX], c.Regs[RBX] = tt.rax, 0x1111
			if tt.name == "push onto unmapped stack" {
				c.Regs[RSP] = tStack
			}
			c.SetRFLAGS(FlagCF | FlagZF)
			before := c.Regs
			before[RCX], before[RDX] = tt.rax, tt.rax
			n, r, err := c.Run(100)
			if r != StopException || n != 2 {
				t.Fatalf("Run = %d, %v, %v; want 2, exception", n, r, err)
			}
			var e *Exception
			if !errors.As(err, &e) || e.Vector != VectorPF {
				t.Fatalf("err = %v, want #PF", err)
			}
			if e.Addr != tt.addr || e.Access != tt.access || e.Present != tt.present {
				t.Errorf("fault %+v, want addr %#x %v present=%v", e, tt.addr, tt.access, tt.present)
			}
			if c.RIP != codeAddr+6 || e.RIP != c.RIP {
				t.Errorf("RIP = %#x (exception says %#x), want %#x", c.RIP, e.RIP, uint64(codeAddr+6))
			}
			if c.Regs != before {
				t.Errorf("registers changed:\n got %x\nwant %x", c.Regs, before)
			}
			if c.RFLAGS()&FlagsArith != FlagCF|FlagZF {
				t.Errorf("flags changed: %s", flagString(c.RFLAGS()))
			}
			if !strings.Contains(err.Error(), "testfn+0x6") {
				t.Errorf("error %q does not name testfn+0x6", err)
			}
			if !errors.Is(err, mem.ErrFault) {
				t.Errorf("error %v does not wrap the memory fault", err)
			}
		})
	}
}

func TestExecFault(t *testing.T) {
	// jmp *%rax to a non-executable page.
	c := newTest(t, "ffe0", Config{})
	c.Regs[RAX] = dataAddr
	_, r, err := c.Run(10)
	var e *Exception
	if r != StopException || !errors.As(err, &e) || e.Vector != VectorPF || e.Access != mem.AccessExec || e.Addr != dataAddr {
		t.Fatalf("Run = %v, %v; want #PF on execute of %#x", r, err, uint64(dataAddr))
	}
	if c.RIP != dataAddr || e.ErrorCode() != 0x11 {
		t.Errorf("RIP = %#x, error code %#x", c.RIP, e.ErrorCode())
	}
}

func TestDivideError(t *testing.T) {
	for _, tt := range []struct {
		name          string
		code          string
		rax, rdx, rbx uint64
	}{
		{"div by zero", "48f7f3", 1, 0, 0},
		{"div quotient overflow", "48f7f3", 0, 1, 1},
		{"idiv most negative by -1", "48f7fb", 1 << 63, ^uint64(0), ^uint64(0)},
		{"idiv32 overflow", "f7fb", 0x80000000, 0xffffffff, 0xffffffff},
		{"div8 overflow", "f6f3", 0x1000, 0, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newTest(t, tt.code+"f4", Config{})
			c.Regs[RAX], c.Regs[RDX], c.Regs[RBX] = tt.rax, tt.rdx, tt.rbx
			before := c.Regs
			_, r, err := c.Run(10)
			var e *Exception
			if r != StopException || !errors.As(err, &e) || e.Vector != VectorDE {
				t.Fatalf("Run = %v, %v; want #DE", r, err)
			}
			if c.RIP != codeAddr || c.Regs != before {
				t.Errorf("state changed: RIP %#x regs %x", c.RIP, c.Regs)
			}
		})
	}
}

func TestInvalidOpcode(t *testing.T) {
	for _, tt := range []struct {
		name  string
		code  string
		bytes string
	}{
		{"ud2", "0f0b", "0f 0b"},
		{"ud0", "0fff00", "0f ff 00"},
		{"undecodable", "0fc7f8", "0f c7 f8"},
		{"lone prefix", "f30f1efe", "f3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newTest(t, "90"+tt.code, Config{})
			n, r, err := c.Run(10)
			var e *Exception
			if r != StopException || n != 1 || !errors.As(err, &e) || e.Vector != VectorUD {
				t.Fatalf("Run = %d, %v, %v; want #UD after 1", n, r, err)
			}
			if c.RIP != codeAddr+1 || !strings.Contains(err.Error(), "testfn+0x1") || !strings.Contains(err.Error(), tt.bytes) {
				t.Errorf("RIP %#x, error %q: want testfn+0x1 and bytes %s", c.RIP, err, tt.bytes)
			}
		})
	}
}

func TestUnimplemented(t *testing.T) {
	c := newTest(t, "90 0f05", Config{}) // syscall
	n, r, err := c.Run(10)
	if r != StopUnimplemented || n != 1 || !errors.Is(err, ErrUnimplemented) {
		t.Fatalf("Run = %d, %v, %v; want unimplemented after 1", n, r, err)
	}
	for _, s := range []string{"syscall", "testfn+0x1", "0f 05"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	if c.RIP != codeAddr+1 {
		t.Errorf("RIP = %#x", c.RIP)
	}
}

func TestVMCall(t *testing.T) {
	// mov $42,%eax; vmcall; add $1,%rax; hlt
	c := newTest(t, "b82a000000 0f01c1 4883c001 f4", Config{})
	n, r, err := c.Run(100)
	if r != StopVMCall || err != nil || n != 2 {
		t.Fatalf("Run = %d, %v, %v; want vmcall after 2", n, r, err)
	}
	if c.Regs[RAX] != 42 || c.RIP != codeAddr+8 {
		t.Fatalf("rax %d RIP %#x", c.Regs[RAX], c.RIP)
	}
	c.Regs[RAX] = 100 // the hypercall's result
	if _, r, err = c.Run(100); r != StopHalt || c.Regs[RAX] != 101 {
		t.Fatalf("Run = %v, %v, rax %d", r, err, c.Regs[RAX])
	}
}

func TestTrap(t *testing.T) {
	// f: inc %rax x3; hlt. Trap on the second inc (inside a block).
	c := newTest(t, "48ffc0 48ffc0 48ffc0 f4", Config{})
	// Decode the block first so AddTrap must split cached code.
	if _, r, _ := c.Run(1); r != StopBudget {
		t.Fatal(r)
	}
	c.RIP = codeAddr
	c.Regs[RAX] = 0
	c.AddTrap(codeAddr + 3)
	n, r, err := c.Run(100)
	if r != StopTrap || n != 1 || c.RIP != codeAddr+3 || c.Regs[RAX] != 1 {
		t.Fatalf("Run = %d, %v, %v, RIP %#x rax %d; want trap at +3", n, r, err, c.RIP, c.Regs[RAX])
	}
	// Resuming executes the trapped instruction.
	if n, r, _ = c.Run(100); r != StopHalt || n != 3 || c.Regs[RAX] != 3 {
		t.Fatalf("resume: %d, %v, rax %d", n, r, c.Regs[RAX])
	}
	// The machine may redirect instead: skip the trapped instruction.
	c.RIP, c.Regs[RAX] = codeAddr, 0
	if _, r, _ = c.Run(100); r != StopTrap {
		t.Fatal(r)
	}
	c.RIP = codeAddr + 6
	if _, r, _ = c.Run(100); r != StopHalt || c.Regs[RAX] != 2 {
		t.Fatalf("redirect: %v, rax %d", r, c.Regs[RAX])
	}
	c.RemoveTrap(codeAddr + 3)
	c.RIP, c.Regs[RAX] = codeAddr, 0
	if _, r, _ = c.Run(100); r != StopHalt || c.Regs[RAX] != 3 {
		t.Fatalf("after RemoveTrap: %v, rax %d", r, c.Regs[RAX])
	}
}

func TestBudget(t *testing.T) {
	// inc %rax in a loop: 1: inc %rax; jmp 1b
	c := newTest(t, "48ffc0 ebfb", Config{})
	for _, q := range []uint64{1, 2, 3, 7, 64, 1000} {
		before, rax := c.Insns, c.Regs[RAX]
		n, r, err := c.Run(q)
		if n != q || r != StopBudget || err != nil || c.Insns-before != q {
			t.Fatalf("Run(%d) = %d, %v, %v", q, n, r, err)
		}
		// Every other instruction is an inc.
		if got := c.Regs[RAX] - rax; got != q/2 && got != (q+1)/2 {
			t.Errorf("Run(%d): %d incs", q, got)
		}
	}
}

func TestRepInterruptible(t *testing.T) {
	// rep stosb; hlt
	c := newTest(t, "f3aa f4", Config{})
	c.Regs[RDI], c.Regs[RCX], c.Regs[RAX] = dataAddr, 10, 0xab
	n, r, _ := c.Run(4)
	if n != 4 || r != StopBudget || c.RIP != codeAddr || c.Regs[RCX] != 6 || c.Regs[RDI] != dataAddr+4 {
		t.Fatalf("Run(4) = %d, %v; RIP %#x rcx %d rdi %#x", n, r, c.RIP, c.Regs[RCX], c.Regs[RDI])
	}
	n, r, _ = c.Run(100)
	if r != StopHalt || n != 7 || c.Regs[RCX] != 0 {
		t.Fatalf("resume = %d, %v, rcx %d", n, r, c.Regs[RCX])
	}
	var buf [11]byte
	if err := c.Memory().Peek(dataAddr, buf[:]); err != nil || string(buf[:]) != strings.Repeat("\xab", 10)+"\x00" {
		t.Errorf("memory % x, %v", buf, err)
	}
	// A fault part way leaves the completed iterations done.
	c.RIP, c.Regs[RDI], c.Regs[RCX] = codeAddr, roAddr-3, 10
	n, r, _ = c.Run(100)
	if r != StopException || n != 3 || c.Regs[RCX] != 7 || c.Regs[RDI] != roAddr || c.RIP != codeAddr {
		t.Fatalf("fault = %d, %v; rcx %d rdi %#x", n, r, c.Regs[RCX], c.Regs[RDI])
	}
}

func TestCodeInvalidation(t *testing.T) {
	// mov $1,%eax; hlt
	c := newTest(t, "b801000000 f4", Config{})
	if _, r, _ := c.Run(10); r != StopHalt || c.Regs[RAX] != 1 {
		t.Fatal(r, c.Regs[RAX])
	}
	// Patch the immediate as ftrace would, then run again.
	if err := c.Memory().Poke(codeAddr+1, []byte{2}); err != nil {
		t.Fatal(err)
	}
	c.RIP = codeAddr
	if _, r, _ := c.Run(10); r != StopHalt || c.Regs[RAX] != 2 {
		t.Fatalf("after patch: %v, rax %d", r, c.Regs[RAX])
	}
	// Making text writable and writing through the CPU works too.
	if err := c.Memory().Protect(codeAddr, 0x2000, mem.PermRWX); err != nil {
		t.Fatal(err)
	}
	c.RIP = codeAddr
	if _, r, _ := c.Run(10); r != StopHalt || c.Regs[RAX] != 2 {
		t.Fatalf("after protect: %v, rax %d", r, c.Regs[RAX])
	}
	if err := c.Memory().Write8(codeAddr+1, 3); err != nil {
		t.Fatal(err)
	}
	c.RIP = codeAddr
	if _, r, _ := c.Run(10); r != StopHalt || c.Regs[RAX] != 3 {
		t.Fatalf("after write: %v, rax %d", r, c.Regs[RAX])
	}
}

func TestEndbrAndNops(t *testing.T) {
	// endbr64; nopw %cs:0(%rax,%rax); nopl 0(%rax); xchg %ax,%ax; pause; inc %eax; hlt
	c := newTest(t, "f30f1efa 662e0f1f840000000000 0f1f4000 6690 f390 ffc0 f4", Config{})
	n, r, err := c.Run(100)
	if r != StopHalt || err != nil || n != 7 || c.Regs[RAX] != 1 {
		t.Fatalf("Run = %d, %v, %v, rax %d", n, r, err, c.Regs[RAX])
	}
}

func TestRepBsf(t *testing.T) {
	// rep bsf %rbx,%rax; hlt — with a zero source: bsf leaves %rax,
	// tzcnt writes 64.
	bmi := func(leaf, sub uint32) (a, b, c, d uint32) {
		if leaf == 7 {
			return 0, CPUID7EBXBMI1, 0, 0
		}
		return DefaultCPUID(leaf, sub)
	}
	for _, tt := range []struct {
		name string
		cfg  Config
		want uint64
	}{{"no BMI1", Config{}, 77}, {"BMI1", Config{CPUID: bmi}, 64}} {
		c := newTest(t, "f3480fbcc3 f4", tt.cfg)
		c.Regs[RAX] = 77
		if _, r, _ := c.Run(10); r != StopHalt || c.Regs[RAX] != tt.want {
			t.Errorf("%s: rax = %d, want %d", tt.name, c.Regs[RAX], tt.want)
		}
	}
}

func TestCPUID(t *testing.T) {
	c := newTest(t, "31c0 0fa2 f4", Config{})
	c.Run(10)
	var v []byte
	for _, r := range []int{RBX, RDX, RCX} {
		for i := 0; i < 4; i++ {
			v = append(v, byte(c.Regs[r]>>(8*i)))
		}
	}
	if string(v) != "KpatchGoEmu!" {
		t.Errorf("vendor %q", v)
	}
}

func TestInt3(t *testing.T) {
	c := newTest(t, "90 cc 90", Config{})
	n, r, err := c.Run(10)
	var e *Exception
	if r != StopException || n != 2 || !errors.As(err, &e) || e.Vector != VectorBP || c.RIP != codeAddr+2 {
		t.Fatalf("Run = %d, %v, %v, RIP %#x", n, r, err, c.RIP)
	}
}

func TestSegmentBase(t *testing.T) {
	// mov %gs:0x10,%rax; mov %rax,%fs:0x8; hlt
	c := newTest(t, "65488b042510000000 6448890425 08000000 f4", Config{})
	c.GSBase, c.FSBase = dataAddr, dataAddr+0x100
	if err := c.Memory().Write64(dataAddr+0x10, 0x1234); err != nil {
		t.Fatal(err)
	}
	if _, r, err := c.Run(10); r != StopHalt {
		t.Fatal(r, err)
	}
	if v, _ := c.Memory().Read64(dataAddr + 0x108); c.Regs[RAX] != 0x1234 || v != 0x1234 {
		t.Errorf("rax %#x, stored %#x", c.Regs[RAX], v)
	}
}

// TestShadowStackAndFramePointers runs a call chain that stops inside the
// innermost function and compares the shadow stack, the frame-pointer
// walk and a context switch round trip.
func TestShadowStackAndFramePointers(t *testing.T) {
	// 0x00 outer:  push %rbp; mov %rsp,%rbp; call middle; pop %rbp; ret
	// 0x10 middle: push %rbp; mov %rsp,%rbp; call inner; pop %rbp; ret
	// 0x20 inner:  push %rbp; mov %rsp,%rbp; vmcall; pop %rbp; ret
	code := "55 4889e5 e8 07000000 5d c3" + strings.Repeat("90", 5) +
		"55 4889e5 e8 07000000 5d c3" + strings.Repeat("90", 5) +
		"55 4889e5 0f01c1 5d c3"
	c := newTest(t, code+strings.Repeat("90", 7)+"f4", Config{})
	// Call outer from a "caller" whose return address is the hlt at 0x30.
	c.Regs[RSP] -= 8
	if err := c.Memory().Write64(c.Regs[RSP], codeAddr+0x30); err != nil {
		t.Fatal(err)
	}
	if _, r, err := c.Run(100); r != StopVMCall {
		t.Fatal(r, err)
	}
	sh := c.Shadow()
	wantRets := []uint64{codeAddr + 0x19, codeAddr + 0x09}
	if got := ReturnAddresses(sh); len(got) != 2 || got[0] != wantRets[0] || got[1] != wantRets[1] {
		t.Fatalf("shadow returns %x, want %x", got, wantRets)
	}
	if sh[0].Callee != codeAddr+0x10 || sh[1].Callee != codeAddr+0x20 {
		t.Errorf("callees %x %x", sh[0].Callee, sh[1].Callee)
	}
	fp, ok := WalkFramePointers(c.Memory(), c.Regs[RBP], tStack, tStack+tStackSz, 16)
	// The frame-pointer chain also contains outer's caller, and ends at
	// the zero %rbp the test started with.
	if !ok || len(fp) != 3 || fp[0] != wantRets[0] || fp[1] != wantRets[1] || fp[2] != codeAddr+0x30 {
		t.Errorf("frame pointers %x (reliable %v)", fp, ok)
	}

	// Switch to another task and back.
	saved := c.Save()
	if len(c.Shadow()) != 0 {
		t.Error("Save left a shadow stack behind")
	}
	c.Restore(Context{RIP: codeAddr + 0x30, Regs: [16]uint64{RSP: tStack + 0x100}})
	if _, r, _ := c.Run(10); r != StopHalt {
		t.Fatal("other task:", r)
	}
	c.Restore(saved)
	if _, r, err := c.Run(100); r != StopHalt || c.RIP != codeAddr+0x31 {
		t.Fatalf("resume: %v, %v, RIP %#x", r, err, c.RIP)
	}
	if len(c.Shadow()) != 0 || c.ShadowUnderflows() != 1 {
		// outer's own return (to the hand-pushed address) matches no call.
		t.Errorf("shadow %v underflows %d", c.Shadow(), c.ShadowUnderflows())
	}
}

// newControlTransfers returns a CPU about to run an indirect call through
// memory, rep ret, a direct call to code that leaves through a 64-bit jmp
// *mem, and ret $8.
func newControlTransfers(t *testing.T) *CPU {
	t.Helper()
	code := "ff1540000000" + // 0x00 call *0x40(%rip) = *0x46
		"e81d000000" + // 0x06 call 0x28
		"f4" + // 0x0b hlt
		strings.Repeat("90", 0x14) + // to 0x20
		"48ffc0 f3c3" + // 0x20 inc %rax; rep ret
		"90 90 90" + // to 0x28
		"48ffc0 ff2500000000" // 0x28 inc %rax; jmp *0(%rip) = *0x31
	c := newTest(t, code, Config{})
	mem := c.Memory()
	// The function pointer at 0x46 and the 64-bit jump target at 0x31.
	if err := mem.Poke(codeAddr+0x46, le(codeAddr+0x20)); err != nil {
		t.Fatal(err)
	}
	if err := mem.Poke(codeAddr+0x31, le(codeAddr+0x40)); err != nil {
		t.Fatal(err)
	}
	// 0x40: ret $8 — the caller pushed an argument first, see below.
	if err := mem.Poke(codeAddr+0x40, []byte{0xc2, 0x08, 0x00}); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestControlTransfers(t *testing.T) {
	c := newControlTransfers(t)
	// ret $8 pops 8 bytes more than the call pushed.
	sp := c.Regs[RSP]
	n, r, err := c.Run(100)
	if r != StopHalt || err != nil {
		t.Fatalf("Run = %d, %v, %v", n, r, err)
	}
	if c.Regs[RAX] != 2 || c.Regs[RSP] != sp+8 {
		t.Errorf("rax %d, rsp moved by %d", c.Regs[RAX], int64(c.Regs[RSP]-sp))
	}
	if len(c.Shadow()) != 0 {
		t.Errorf("shadow %v", c.Shadow())
	}
}

func le(v uint64) []byte {
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return b
}

func TestGoSideCallReturn(t *testing.T) {
	// f: inc %rax; vmcall; inc %rax; ret
	c := newTest(t, "48ffc0 0f01c1 48ffc0 c3 f4", Config{})
	c.RIP = 0
	if err := c.Call(codeAddr, codeAddr+10); err != nil {
		t.Fatal(err)
	}
	if _, r, _ := c.Run(100); r != StopVMCall || len(c.Shadow()) != 1 {
		t.Fatalf("%v, shadow %v", r, c.Shadow())
	}
	// Finish the function from Go instead: return to the hlt.
	if err := c.Return(); err != nil {
		t.Fatal(err)
	}
	if _, r, _ := c.Run(100); r != StopHalt || c.Regs[RAX] != 1 || len(c.Shadow()) != 0 || c.ShadowUnderflows() != 0 {
		t.Fatalf("%v, rax %d, shadow %v", r, c.Regs[RAX], c.Shadow())
	}
	if err := c.Push(5); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Pop(); v != 5 || err != nil {
		t.Fatal(v, err)
	}
	c.Regs[RSP] = 0x10
	if err := c.Push(1); err == nil {
		t.Error("push to unmapped stack succeeded")
	}
}

func TestTrapSurvivesContextSwitch(t *testing.T) {
	c := newTest(t, "48ffc0 f4", Config{})
	c.AddTrap(codeAddr)
	if _, r, _ := c.Run(10); r != StopTrap {
		t.Fatal(r)
	}
	ctx := c.Save()
	c.Restore(Context{RIP: codeAddr + 3})
	c.Run(10)
	c.Restore(ctx)
	if _, r, _ := c.Run(10); r != StopHalt || c.Regs[RAX] != 1 {
		t.Fatalf("%v, rax %d", r, c.Regs[RAX])
	}
	// A fresh context at the trap address stops there.
	c.Restore(Context{RIP: codeAddr})
	if _, r, _ := c.Run(10); r != StopTrap {
		t.Fatal(r)
	}
}

func TestInstructionAcrossPages(t *testing.T) {
	// mov $0x1122334455667788,%rax straddles the two code pages; then hlt.
	c := newTest(t, "", Config{})
	m := c.Memory()
	start := uint64(codeAddr + 0x1000 - 4)
	code := []byte{0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0xf4}
	if err := m.Poke(start, code); err != nil {
		t.Fatal(err)
	}
	c.RIP = start
	if _, r, err := c.Run(10); r != StopHalt || c.Regs[RAX] != 0x1122334455667788 {
		t.Fatalf("%v %v rax %#x", r, err, c.Regs[RAX])
	}
	// Patching the half on the second page is seen.
	if err := m.Poke(codeAddr+0x1000+5, []byte{0x99}); err != nil {
		t.Fatal(err)
	}
	c.RIP = start
	if _, r, _ := c.Run(10); r != StopHalt || c.Regs[RAX] != 0x9922334455667788 {
		t.Fatalf("after patch: %v rax %#x", r, c.Regs[RAX])
	}
	// With the second page not executable, the instruction faults with
	// the address of the first byte it could not fetch.
	if err := m.Protect(codeAddr+0x1000, 0x1000, mem.PermRead); err != nil {
		t.Fatal(err)
	}
	if err := m.Poke(start-2, []byte{0x90, 0x90}); err != nil {
		t.Fatal(err)
	}
	c.RIP, c.Regs[RAX] = start-2, 0
	n, r, err := c.Run(10)
	var e *Exception
	if r != StopException || n != 2 || !errors.As(err, &e) || e.Vector != VectorPF ||
		e.Access != mem.AccessExec || e.Addr != codeAddr+0x1000 || c.RIP != start {
		t.Fatalf("Run = %d, %v, %v, RIP %#x", n, r, err, c.RIP)
	}
}

// TestTwoCPUsShareMemory interleaves two CPUs in small quanta over one
// memory: atomic increments from both must all land, and code patched
// while both have it cached must take effect on both.
func TestTwoCPUsShareMemory(t *testing.T) {
	// 1: mov $1,%eax; lock xadd %rax,(%rdi); dec %rcx; jnz 1b; hlt
	a := newTest(t, "b801000000 f0480fc107 48ffc9 75f1 f4", Config{})
	b := New(a.Memory(), Config{})
	for _, c := range []*CPU{a, b} {
		c.RIP = codeAddr
		c.Regs[RDI] = dataAddr
		c.Regs[RCX] = 1000
	}
	b.Regs[RSP] = tStack + 0x1000
	done := [2]bool{}
	for q := 0; !done[0] || !done[1]; q++ {
		for i, c := range []*CPU{a, b} {
			if done[i] {
				continue
			}
			_, r, err := c.Run(uint64(3 + q%5))
			switch r {
			case StopHalt:
				done[i] = true
			case StopBudget:
			default:
				t.Fatal(r, err)
			}
		}
	}
	if v, _ := a.Memory().Read64(dataAddr); v != 2000 {
		t.Errorf("counter = %d, want 2000", v)
	}
	// Patch "mov $1" into "mov $5" and run both again.
	if err := a.Memory().Poke(codeAddr+1, []byte{5}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*CPU{a, b} {
		c.RIP, c.Regs[RCX] = codeAddr, 10
		if _, r, err := c.Run(1000); r != StopHalt {
			t.Fatal(r, err)
		}
	}
	if v, _ := a.Memory().Read64(dataAddr); v != 2100 {
		t.Errorf("counter = %d, want 2100", v)
	}
}

// TestBranchHook: the branch hook sees every call and ret instruction,
// direct and indirect, with the instruction's address and where it went,
// and no jump.
func TestBranchHook(t *testing.T) {
	c := newControlTransfers(t)
	var got []string
	c.SetBranchHook(func(k BranchKind, from, to uint64) {
		got = append(got, fmt.Sprintf("%s %#x->%#x", k, from-codeAddr, to-codeAddr))
	})
	if _, r, err := c.Run(100); r != StopHalt || err != nil {
		t.Fatalf("Run: %v, %v", r, err)
	}
	want := []string{"call 0x0->0x20", "ret 0x23->0x6", "call 0x6->0x28", "ret 0x40->0xb"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("branches %v, want %v", got, want)
	}
}
