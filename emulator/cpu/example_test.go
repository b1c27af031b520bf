package cpu_test

import (
	"fmt"

	"github.com/kpatchgo/kpatch-build/emulator/cpu"
	"github.com/kpatchgo/kpatch-build/emulator/mem"
)

// A machine maps memory, points a CPU at code and runs it in quanta,
// serving hypercalls and faults between quanta.
func Example() {
	const text, stack = 0xffffffff81000000, 0xffffc90000000000
	m := mem.New()
	if err := m.Map(text, mem.PageSize, mem.PermRX); err != nil {
		panic(err)
	}
	if err := m.Map(stack, 4*mem.PageSize, mem.PermRW); err != nil {
		panic(err)
	}
	// mov $1,%eax; mov $7,%edi; vmcall; add %rax,%rax; hlt
	code := []byte{0xb8, 1, 0, 0, 0, 0xbf, 7, 0, 0, 0, 0x0f, 0x01, 0xc1, 0x48, 0x01, 0xc0, 0xf4}
	if err := m.Poke(text, code); err != nil {
		panic(err)
	}
	c := cpu.New(m, cpu.Config{})
	c.RIP = text
	c.Regs[cpu.RSP] = stack + 4*mem.PageSize
	for {
		_, reason, err := c.Run(10000) // one scheduler quantum
		switch reason {
		case cpu.StopBudget:
			continue // the scheduler could switch tasks here
		case cpu.StopVMCall:
			nr, arg := c.Regs[cpu.RAX], c.Regs[cpu.RDI]
			fmt.Printf("hypercall %d(%d)\n", nr, arg)
			c.Regs[cpu.RAX] = arg * 3 // the result
			continue
		case cpu.StopHalt:
			fmt.Println("halted, rax =", c.Regs[cpu.RAX], "after", c.Insns, "instructions")
		default:
			fmt.Println("stopped:", reason, err)
		}
		return
	}
	// Output:
	// hypercall 1(7)
	// halted, rax = 42 after 5 instructions
}
