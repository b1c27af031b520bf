package cpu

import (
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/mem"
)

// FuzzRun executes arbitrary bytes as code with registers pointing into
// mapped memory: whatever the bytes, Run must return (never panic) with a
// consistent stop reason.
func FuzzRun(f *testing.F) {
	for _, seed := range [][]byte{
		{0x48, 0x01, 0xd8, 0xf4},             // add %rbx,%rax; hlt
		{0xf3, 0xaa, 0xeb, 0xfc},             // rep stosb; jmp back
		{0x48, 0xf7, 0xf3, 0x0f, 0x0b},       // div %rbx; ud2
		{0xf0, 0x48, 0x0f, 0xb1, 0x0f, 0xc3}, // lock cmpxchg %rcx,(%rdi); ret
		{0x66, 0x0f, 0xa4, 0xc2, 0x13},       // shld $19,%ax,%dx
		{0xd2, 0xd0, 0xd3, 0xd8, 0x0f, 0x01, 0xc1},
	} {
		f.Add(seed, uint64(3), uint64(0x40))
	}
	f.Fuzz(func(t *testing.T, code []byte, a, b uint64) {
		if len(code) > 4096 {
			code = code[:4096]
		}
		m := mem.New()
		const text, data, stack = 0x400000, 0x600000, 0x800000
		if err := m.Map(text, 0x1000, mem.PermRX); err != nil {
			t.Fatal(err)
		}
		if err := m.Map(data, 0x2000, mem.PermRW); err != nil {
			t.Fatal(err)
		}
		if err := m.Map(stack, 0x1000, mem.PermRW); err != nil {
			t.Fatal(err)
		}
		if err := m.Poke(text, code); err != nil {
			t.Fatal(err)
		}
		c := New(m, Config{})
		for i := range c.Regs {
			c.Regs[i] = data + (a>>(i*4))&0xfff
		}
		c.Regs[RAX], c.Regs[RCX], c.Regs[RBX] = a, b&0xff, b
		c.Regs[RSP] = stack + 0x800
		c.RIP = text
		for i := 0; i < 20; i++ {
			n, r, err := c.Run(500)
			if n > 500 {
				t.Fatalf("ran %d > 500", n)
			}
			switch r {
			case StopBudget, StopVMCall, StopHalt:
				if err != nil {
					t.Fatalf("%v with error %v", r, err)
				}
			case StopTrap:
				t.Fatal("trap without traps")
			case StopException, StopUnimplemented:
				if err == nil {
					t.Fatalf("%v without error", r)
				}
				_ = err.Error()
				return
			}
		}
	})
}
