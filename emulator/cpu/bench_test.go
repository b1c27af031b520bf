package cpu

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEmulate runs a compute-bound C workload (hashing, insertion
// sort, arithmetic) built with the kernel flags and reports emulated
// instructions per second.
func BenchmarkEmulate(b *testing.B) { benchEmulate(b, false) }

// BenchmarkEmulateGeneral runs the same workload with the fast forms
// turned off after translation, so that every instruction goes through
// exec and the functions of its instruction family (the fast forms leave
// well under 1% of BenchmarkEmulate's instructions to exec).
func BenchmarkEmulateGeneral(b *testing.B) { benchEmulate(b, true) }

// benchEmulate is BenchmarkEmulate, with every translated instruction
// executed by exec when general is set; the results must not differ.
func benchEmulate(b *testing.B, general bool) {
	needTools(b)
	path := buildEmu(b, b.TempDir(), nil, "bench.c")
	mm := loadELF(b, path, Config{})
	fn := mm.syms["t_bench"]
	// Warm up the decoded-block cache.
	want, err := mm.call(fn, 1, 1, 1)
	if err != nil {
		b.Fatal(err)
	}
	if general {
		n := 0
		for _, blk := range mm.cpu.cache {
			for i := range blk.insts {
				if blk.insts[i].fast != xNone {
					blk.insts[i].fast = xNone
					n++
				}
			}
		}
		if n == 0 {
			b.Fatal("no fast form to turn off: the benchmark would measure nothing new")
		}
		if got, err := mm.call(fn, 1, 1, 1); err != nil || got != want {
			b.Fatalf("without the fast forms: %#x, %v; with them %#x", got, err, want)
		}
	}
	b.ResetTimer()
	start, cstart := time.Now(), cpuTime()
	before := mm.cpu.Insns
	for i := 0; i < b.N; i++ {
		if _, err := mm.call(fn, 10, uint64(i), 3); err != nil {
			b.Fatal(err)
		}
	}
	insns := mm.cpu.Insns - before
	b.ReportMetric(float64(insns)/time.Since(start).Seconds(), "insn/s")
	// The same per second of CPU time: robust against a busy machine.
	if ct := cpuTime() - cstart; ct > 0 {
		b.ReportMetric(float64(insns)/ct.Seconds(), "insn/cpu-s")
	}
	b.ReportMetric(float64(insns)/float64(b.N), "insn/op")
}

// TestBenchWorkload checks the benchmark's workload against the host.
func TestBenchWorkload(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	path := buildEmu(t, dir, nil, "bench.c")
	mm := loadELF(t, path, Config{})
	inputs := [][3]uint64{{3, 1, 2}, {1, 0, 0}, {5, 99, 7}}
	want := hostRun(t, dir, []string{"bench"}, []string{"bench.c"}, inputs)
	for i, in := range inputs {
		got, err := mm.call(mm.syms["t_bench"], in[0], in[1], in[2])
		if err != nil || got != want["bench"][i] {
			t.Errorf("bench%v = %#x, %v; host says %#x", in, got, err, want["bench"][i])
		}
	}
}
