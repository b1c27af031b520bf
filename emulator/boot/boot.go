package boot

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/kpatchgo/kpatch-build/emulator/abi"
	"github.com/kpatchgo/kpatch-build/emulator/cpu"
	"github.com/kpatchgo/kpatch-build/emulator/ftrace"
	"github.com/kpatchgo/kpatch-build/emulator/kallsyms"
	"github.com/kpatchgo/kpatch-build/emulator/loader"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
	"github.com/kpatchgo/kpatch-build/emulator/mem"
)

// Options configure a boot.
type Options struct {
	// CPUs, Seed and Quantum configure the machine (see machine.Config).
	CPUs    int
	Seed    int64
	Quantum uint64
	// CPUID is the emulated CPU's cpuid (nil: cpu.DefaultCPUID). The
	// feature bits it reports choose the alternatives.
	CPUID cpu.CPUIDFunc
	// Console also receives the console output, if set.
	Console io.Writer
	// BootLimit bounds the virtual time until HC_BOOT_DONE (0: 1 s).
	BootLimit uint64
	// OnBootDone runs when the kernel reports the end of its boot, before
	// the secondary CPUs run (used to start user space).
	OnBootDone func(k *Kernel)
}

// Kernel is a booted kernel: the machine and its kernel services.
type Kernel struct {
	// M is the machine.
	M *machine.Machine
	// Ftrace is the function tracer.
	Ftrace *ftrace.Ftrace
	// Loader is the module loader.
	Loader *loader.Loader
	// Build is the kernel tree booted (nil if booted from a bare vmlinux).
	Build *Build
	// Symbols are vmlinux's ELF symbols by name (globals win over locals).
	Symbols map[string]uint64
	// Features are boot_cpu_data.x86_capability as filled in at boot.
	Features [NCapInts]uint32
	// AltApplied counts the alternatives that were applied.
	AltApplied int
	// BootTime is the virtual time HC_BOOT_DONE came at.
	BootTime uint64
}

// NCapInts is the number of 32-bit feature words (NCAPINTS).
const NCapInts = abi.NCAPINTS

// X86 feature bits (word*32+bit) the target knows.
const (
	FeatureAlways     = abi.X86_FEATURE_ALWAYS
	FeatureXMM4_2     = abi.X86_FEATURE_XMM4_2
	FeaturePOPCNT     = abi.X86_FEATURE_POPCNT
	FeatureHypervisor = abi.X86_FEATURE_HYPERVISOR
	FeatureERMS       = abi.X86_FEATURE_ERMS
)

// Features computes the feature words from a cpuid function: word 0 is
// leaf 1 %edx, word 4 leaf 1 %ecx, word 9 leaf 7 %ebx, and the synthetic
// X86_FEATURE_ALWAYS is set.
func Features(fn cpu.CPUIDFunc) (w [NCapInts]uint32) {
	if fn == nil {
		fn = cpu.DefaultCPUID
	}
	_, _, ecx, edx := fn(1, 0)
	_, ebx7, _, _ := fn(7, 0)
	w[0], w[4], w[9] = edx, ecx, ebx7
	w[FeatureAlways/32] |= 1 << (FeatureAlways % 32)
	return w
}

// WithFeatures returns a cpuid function reporting cpu.DefaultCPUID plus
// the given leaf-1 %ecx bits (X86_FEATURE_* numbers of word 4).
func WithFeatures(bits ...int) cpu.CPUIDFunc {
	return func(leaf, sub uint32) (a, b, c, d uint32) {
		a, b, c, d = cpu.DefaultCPUID(leaf, sub)
		if leaf == 1 {
			for _, f := range bits {
				if f/32 == 4 {
					c |= 1 << (f % 32)
				}
			}
		}
		return
	}
}

// Boot boots the kernel of build b.
func Boot(b *Build, opts Options) (*Kernel, error) {
	k, err := BootVmlinux(b.Vmlinux, opts)
	if k != nil {
		k.Build = b
	}
	return k, err
}

// BootVmlinux boots the vmlinux at path.
func BootVmlinux(path string, opts Options) (*Kernel, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := machine.New(machine.Config{CPUs: opts.CPUs, Seed: opts.Seed, Quantum: opts.Quantum, CPUID: opts.CPUID, Console: opts.Console})
	if err != nil {
		return nil, err
	}
	k := &Kernel{M: m, Symbols: map[string]uint64{}}
	if err := k.load(f); err != nil {
		return nil, fmt.Errorf("boot: %s: %w", path, err)
	}
	if opts.OnBootDone != nil {
		m.OnBootDone(func() { opts.OnBootDone(k) })
	}
	limit := opts.BootLimit
	if limit == 0 {
		limit = 1_000_000_000
	}
	// Boot ends when every CPU has come up (CPU 0 announces HC_BOOT_DONE,
	// then the others run their start-up code).
	if err := m.RunUntil(m.CPUsUp, limit); err != nil {
		return k, fmt.Errorf("boot: %w", err)
	}
	if !m.BootDone() {
		return k, fmt.Errorf("boot: no HC_BOOT_DONE after %d ns of virtual time", limit)
	}
	k.BootTime = m.Now()
	return k, nil
}

func (k *Kernel) sym(name string) (uint64, error) {
	a, ok := k.Symbols[name]
	if !ok {
		return 0, fmt.Errorf("vmlinux has no symbol %s", name)
	}
	return a, nil
}

// load does everything before the first instruction.
func (k *Kernel) load(f *elf.File) error {
	m := k.M
	syms, err := f.Symbols()
	if err != nil {
		return err
	}
	for _, s := range syms {
		if s.Section == elf.SHN_UNDEF || s.Name == "" {
			continue
		}
		if _, ok := k.Symbols[s.Name]; ok && elf.ST_BIND(s.Info) == elf.STB_LOCAL {
			continue
		}
		k.Symbols[s.Name] = s.Value
	}
	ks := kallsyms.FromELF("vmlinux", syms, func(s elf.Symbol) (uint64, bool) { return s.Value, true })
	if err := m.Syms.Add("vmlinux", ks); err != nil {
		return err
	}

	// Segments at their load addresses (p_paddr).
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Memsz == 0 {
			continue
		}
		perm := mem.PermRead
		if p.Flags&elf.PF_W != 0 {
			perm |= mem.PermWrite
		}
		if p.Flags&elf.PF_X != 0 {
			perm |= mem.PermExec
		}
		lo := p.Paddr &^ uint64(mem.PageMask)
		hi := (p.Paddr + p.Memsz + mem.PageMask) &^ uint64(mem.PageMask)
		for a := lo; a < hi; a += mem.PageSize {
			if old, ok := m.Mem.PermAt(a); ok {
				if err := m.Mem.Protect(a, mem.PageSize, old|perm); err != nil {
					return err
				}
			} else if err := m.Mem.Map(a, mem.PageSize, perm); err != nil {
				return err
			}
		}
		if p.Filesz == 0 {
			continue
		}
		data := make([]byte, p.Filesz)
		if _, err := p.ReadAt(data, 0); err != nil {
			return fmt.Errorf("segment at %#x: %w", p.Paddr, err)
		}
		if err := m.Mem.Poke(p.Paddr, data); err != nil {
			return err
		}
	}

	need := func(names ...string) ([]uint64, error) {
		out := make([]uint64, len(names))
		for i, n := range names {
			a, err := k.sym(n)
			if err != nil {
				return nil, err
			}
			out[i] = a
		}
		return out, nil
	}
	a, err := need("ret_from_fork", "entry_SYSCALL_64", "secondary_startup_64", "current_task",
		"startup_64", "init_stack", "__per_cpu_load", "__per_cpu_start", "__per_cpu_end",
		"__per_cpu_offset", "nr_cpu_ids", "boot_cpu_data", "__fentry__")
	if err != nil {
		return err
	}
	m.SetKernelSymbols(machine.KernelSymbols{RetFromFork: a[0], EntrySyscall: a[1], SecondaryStartup: a[2], CurrentTask: a[3]})
	startup, initStack, pcpuLoad, pcpuStart, pcpuEnd, pcpuOffset, nrCPU, bootCPU, fentry := a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12]

	// Per-CPU areas.
	image := make([]byte, pcpuEnd-pcpuStart)
	if err := m.Mem.Peek(pcpuLoad, image); err != nil {
		return fmt.Errorf("per-CPU image: %w", err)
	}
	bases, err := m.SetupPerCPU(image)
	if err != nil {
		return err
	}
	for i, b := range bases {
		if err := m.Mem.Write64(pcpuOffset+uint64(i)*8, b-pcpuStart); err != nil {
			return err
		}
	}
	if err := m.Mem.Write32(nrCPU, uint32(len(bases))); err != nil {
		return err
	}

	// CPU features and alternatives.
	k.Features = Features(m.Config().CPUID)
	var fw [NCapInts * 4]byte
	for i, w := range k.Features {
		binary.LittleEndian.PutUint32(fw[i*4:], w)
	}
	if err := m.Mem.Poke(bootCPU, fw[:]); err != nil {
		return err
	}
	if err := k.applyAlternatives(); err != nil {
		return err
	}

	// Special tables, ftrace, exports.
	rng := func(start, stop string) [2]uint64 {
		s, e := k.Symbols[start], k.Symbols[stop]
		return [2]uint64{s, e}
	}
	if err := m.RegisterTables(&machine.Tables{Owner: "vmlinux",
		Bug:  rng("__start___bug_table", "__stop___bug_table"),
		Ex:   rng("__start___ex_table", "__stop___ex_table"),
		Jump: rng("__start___jump_table", "__stop___jump_table")}); err != nil {
		return err
	}
	if k.Ftrace, err = ftrace.New(m, fentry); err != nil {
		return err
	}
	var sites []uint64
	mc := rng("__start_mcount_loc", "__stop_mcount_loc")
	for a := mc[0]; a+8 <= mc[1]; a += 8 {
		v, _ := m.Mem.Read64(a)
		sites = append(sites, v)
	}
	if err := k.Ftrace.AddSites("vmlinux", sites); err != nil {
		return err
	}
	var exports []loader.Export
	for _, t := range []struct {
		start, stop string
		gpl         bool
	}{{"__start___ksymtab", "__stop___ksymtab", false}, {"__start___ksymtab_gpl", "__stop___ksymtab_gpl", true}} {
		r := rng(t.start, t.stop)
		exports = append(exports, loader.ReadKsymtab(m, r[0], r[1], t.gpl, "vmlinux")...)
	}
	k.Loader = loader.New(m, k.Ftrace, exports)
	k.Loader.Alternatives = k.applyAltRange

	_, err = m.StartBoot(startup, initStack+machine.ThreadSize)
	return err
}

// applyAlternatives patches every .altinstructions entry of vmlinux whose
// feature test passes.
func (k *Kernel) applyAlternatives() error {
	return k.applyAltRange(k.Symbols["__alt_instructions"], k.Symbols["__alt_instructions_end"])
}

// applyAltRange patches the .altinstructions entries in [start, end)
// whose feature test passes: vmlinux's at boot, a module's when it loads.
func (k *Kernel) applyAltRange(start, end uint64) error {
	m := k.M
	for e := start; e+abi.Sizeof_alt_instr <= end; e += abi.Sizeof_alt_instr {
		var b [abi.Sizeof_alt_instr]byte
		if err := m.Mem.Peek(e, b[:]); err != nil {
			return err
		}
		rel := func(off int) uint64 {
			return e + uint64(off) + uint64(int64(int32(binary.LittleEndian.Uint32(b[off:]))))
		}
		instr, repl := rel(abi.Offsetof_alt_instr_instr_offset), rel(abi.Offsetof_alt_instr_repl_offset)
		cpuid := binary.LittleEndian.Uint16(b[abi.Offsetof_alt_instr_cpuid:])
		ilen, rlen := int(b[abi.Offsetof_alt_instr_instrlen]), int(b[abi.Offsetof_alt_instr_replacementlen])
		feat := int(cpuid &^ abi.ALT_FLAG_NOT)
		has := feat/32 < NCapInts && k.Features[feat/32]&(1<<(feat%32)) != 0
		if cpuid&abi.ALT_FLAG_NOT != 0 {
			has = !has
		}
		if !has {
			continue
		}
		if rlen > ilen {
			return fmt.Errorf("alternative at %s: replacement (%d bytes) longer than the original (%d)", m.Syms.Format(instr), rlen, ilen)
		}
		buf := make([]byte, ilen)
		if err := m.Mem.Peek(repl, buf[:rlen]); err != nil {
			return err
		}
		for i := rlen; i < ilen; i++ {
			buf[i] = 0x90
		}
		if err := m.Mem.Poke(instr, buf); err != nil {
			return err
		}
		k.AltApplied++
	}
	return nil
}

// LoadModule loads the .ko at path.
func (k *Kernel) LoadModule(path string) (*loader.Module, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	name := path
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			name = name[i+1:]
			break
		}
	}
	if len(name) > 3 && name[len(name)-3:] == ".ko" {
		name = name[:len(name)-3]
	}
	return k.Loader.Load(data, name)
}
