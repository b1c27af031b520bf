package cpu

import (
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
)

// diffSources are the C files of the differential tests, in testdata.
var diffSources = []string{"arith.c", "bits.c", "mem.c", "control.c", "atomic.c", "flags.c", "kernel.c"}

const diffInputs = 10000

// interesting are values at the edges of every width.
var interesting = []uint64{
	0, 1, 2, 3, 7, 8, 15, 16, 31, 32, 63, 64, 0x7f, 0x80, 0xff, 0x100,
	0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff,
	0x100000000, 0x7fffffffffffffff, 0x8000000000000000, 0xffffffffffffffff,
	0xfffffffffffffffe, 0xffffffffffffff80, 0xffffffffffff8000, 0xffffffff80000000,
	0x5555555555555555, 0xaaaaaaaaaaaaaaaa,
}

// diffInputs returns deterministic inputs mixing edge values, small
// numbers and random bit patterns of every width.
func makeInputs(n int) [][3]uint64 {
	r := rand.New(rand.NewPCG(1, 2))
	val := func() uint64 {
		switch r.IntN(6) {
		case 0:
			return interesting[r.IntN(len(interesting))]
		case 1:
			return interesting[r.IntN(len(interesting))] + uint64(r.IntN(5)) - 2
		case 2:
			return uint64(r.IntN(64))
		case 3:
			w := []uint{8, 16, 32}[r.IntN(3)]
			v := r.Uint64() & (1<<w - 1)
			if r.IntN(2) == 0 {
				v = uint64(int64(v<<(64-w)) >> (64 - w)) // sign-extended
			}
			return v
		}
		return r.Uint64()
	}
	in := make([][3]uint64, n)
	for i := range in {
		in[i] = [3]uint64{val(), val(), val()}
	}
	return in
}

// TestDifferential compiles the C functions in testdata twice, for the
// emulator with kernel flags and for the host, runs both on the same
// inputs and requires identical results.
func TestDifferential(t *testing.T) {
	n := diffInputs
	if testing.Short() {
		n = 1000
	}
	testDifferential(t, nil, n)
}

// TestDifferentialFentry repeats the differential test on code built as
// the kernel is, with -pg -mfentry -mrecord-mcount (every function first
// calls __fentry__) and frame pointers.
func TestDifferentialFentry(t *testing.T) {
	testDifferential(t, []string{"-pg", "-mfentry", "-mrecord-mcount", "-fno-omit-frame-pointer"}, 300)
}

func testDifferential(t *testing.T, extra []string, n int) {
	needTools(t)
	dir := t.TempDir()
	path := buildEmu(t, dir, extra, diffSources...)
	mm := loadELF(t, path, Config{})
	var names []string
	for name := range mm.syms {
		if strings.HasPrefix(name, "t_") && name != "t_start" {
			names = append(names, strings.TrimPrefix(name, "t_"))
		}
	}
	sort.Strings(names)
	if len(names) < 40 {
		t.Fatalf("only %d test functions", len(names))
	}
	inputs := makeInputs(n)
	want := hostRun(t, dir, names, diffSources, inputs)
	var total uint64
	for _, name := range names {
		fn := mm.syms["t_"+name]
		bad := 0
		for i, in := range inputs {
			before := mm.cpu.Insns
			got, err := mm.call(fn, in[0], in[1], in[2])
			total += mm.cpu.Insns - before
			if err != nil {
				t.Errorf("%s(%#x, %#x, %#x): %v", name, in[0], in[1], in[2], err)
				bad++
			} else if got != want[name][i] {
				t.Errorf("%s(%#x, %#x, %#x) = %#x, host says %#x", name, in[0], in[1], in[2], got, want[name][i])
				bad++
			}
			if bad >= 5 {
				t.Errorf("%s: giving up after %d mismatches", name, bad)
				break
			}
		}
		if s := mm.cpu.Shadow(); len(s) != 0 {
			t.Errorf("%s: shadow stack not empty after return: %v", name, s)
		}
	}
	if u := mm.cpu.ShadowUnderflows(); u != 0 {
		t.Errorf("%d returns matched no shadow frame", u)
	}
	t.Logf("%d functions x %d inputs, %d emulated instructions", len(names), len(inputs), total)
}
