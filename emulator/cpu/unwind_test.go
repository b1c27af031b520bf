package cpu

import (
	"testing"
)

// TestUnwindersAgree stops at every entry of a recursive C function built
// with frame pointers and checks that the frame-pointer walk and the
// shadow stack report the same callers.
func TestUnwindersAgree(t *testing.T) {
	needTools(t)
	path := buildEmu(t, t.TempDir(), []string{"-pg", "-mfentry", "-fno-omit-frame-pointer"}, "control.c")
	mm := loadELF(t, path, Config{})
	c := mm.cpu
	target := mm.syms["ack"]
	if target == 0 {
		t.Fatal("no symbol ack")
	}
	c.AddTrap(target)
	c.Regs = [16]uint64{RDI: 13, RSI: 1, RDX: 3} // ack(1, 3) via t_recursion
	sp := uint64(stackBase + stackSize - 64)
	if err := mm.m.Write64(sp, haltAddr); err != nil {
		t.Fatal(err)
	}
	c.Regs[RSP] = sp
	c.RIP = mm.syms["t_recursion"]
	c.SetShadow([]Frame{{Ret: haltAddr, Callee: c.RIP, SP: sp}})
	stops := 0
	for {
		_, r, err := c.Run(1 << 20)
		if r == StopHalt {
			break
		}
		if r != StopTrap {
			t.Fatalf("stop %v: %v", r, err)
		}
		stops++
		// At the entry %rbp still belongs to the caller: the walk
		// starts one frame up, and [rsp] holds the innermost return.
		shadow := ReturnAddresses(c.Shadow())
		ret, _ := mm.m.Read64(c.Regs[RSP])
		if shadow[0] != ret {
			t.Fatalf("stop %d: shadow top %#x, [rsp] %#x", stops, shadow[0], ret)
		}
		fp, reliable := WalkFramePointers(mm.m, c.Regs[RBP], stackBase, stackBase+stackSize, 64)
		if !reliable {
			t.Fatalf("stop %d: frame-pointer walk unreliable: %x", stops, fp)
		}
		if len(fp) != len(shadow)-1 {
			t.Fatalf("stop %d: frame pointers %x, shadow %x", stops, fp, shadow)
		}
		for i := range fp {
			if fp[i] != shadow[i+1] {
				t.Fatalf("stop %d frame %d: fp %s, shadow %s", stops, i, c.Symbol(fp[i]), c.Symbol(shadow[i+1]))
			}
		}
	}
	if stops < 3 {
		t.Errorf("only %d stops at ack", stops)
	}
	t.Logf("%d stops, unwinders agree", stops)
}
