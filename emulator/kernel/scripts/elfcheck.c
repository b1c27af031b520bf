// SPDX-License-Identifier: GPL-2.0
/*
 * A host program (built and run by scripts/check.sh) that checks the
 * layout promises of README.md and ABI.md on the built files:
 *
 *   elfcheck vmlinux VMLINUX
 *   elfcheck module MODULE.ko Module.symvers
 *
 * It decodes every special-section entry the way the machine will, so it
 * doubles as a reference for the Go side.  Prints one line per check
 * group and "FAIL: ..." lines; exits 1 on any failure.
 */
#include <elf.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *img;
static size_t img_size;
static Elf64_Ehdr *eh;
static Elf64_Shdr *sh;
static const char *shstr;
static Elf64_Sym *syms;
static size_t nsyms;
static const char *strtab;
static int failures;

static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("FAIL: ", stdout);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	failures++;
}

static void load(const char *path)
{
	FILE *f = fopen(path, "rb");
	int i;

	if (!f) {
		perror(path);
		exit(2);
	}
	fseek(f, 0, SEEK_END);
	img_size = ftell(f);
	rewind(f);
	img = malloc(img_size);
	if (fread(img, 1, img_size, f) != img_size) {
		perror(path);
		exit(2);
	}
	fclose(f);
	eh = (Elf64_Ehdr *)img;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_machine != EM_X86_64) {
		fprintf(stderr, "%s: not an x86-64 ELF64 file\n", path);
		exit(2);
	}
	sh = (Elf64_Shdr *)(img + eh->e_shoff);
	shstr = (const char *)img + sh[eh->e_shstrndx].sh_offset;
	for (i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type == SHT_SYMTAB) {
			syms = (Elf64_Sym *)(img + sh[i].sh_offset);
			nsyms = sh[i].sh_size / sizeof(Elf64_Sym);
			strtab = (const char *)img + sh[sh[i].sh_link].sh_offset;
		}
	}
	if (!syms) {
		fprintf(stderr, "%s: no symbol table\n", path);
		exit(2);
	}
}

static Elf64_Shdr *section(const char *name)
{
	int i;

	for (i = 0; i < eh->e_shnum; i++)
		if (!strcmp(shstr + sh[i].sh_name, name))
			return &sh[i];
	return NULL;
}

static const char *sym_name(const Elf64_Sym *s)
{
	return strtab + s->st_name;
}

static Elf64_Sym *symbol(const char *name)
{
	size_t i;

	for (i = 1; i < nsyms; i++)
		if (!strcmp(sym_name(&syms[i]), name))
			return &syms[i];
	return NULL;
}

static uint64_t symval(const char *name)
{
	Elf64_Sym *s = symbol(name);

	if (!s) {
		fail("symbol %s missing", name);
		return 0;
	}
	return s->st_value;
}

/* vmlinux: translate a link address (not per-CPU) to file bytes. */
static unsigned char *at(uint64_t addr, size_t len)
{
	int i;

	for (i = 1; i < eh->e_shnum; i++) {
		if (!(sh[i].sh_flags & SHF_ALLOC) || sh[i].sh_type == SHT_NOBITS)
			continue;
		if (!strcmp(shstr + sh[i].sh_name, ".data..percpu"))
			continue;
		if (addr >= sh[i].sh_addr && addr + len <= sh[i].sh_addr + sh[i].sh_size)
			return img + sh[i].sh_offset + (addr - sh[i].sh_addr);
	}
	return NULL;
}

static const char *section_of(uint64_t addr)
{
	int i;

	for (i = 1; i < eh->e_shnum; i++)
		if ((sh[i].sh_flags & SHF_ALLOC) && strcmp(shstr + sh[i].sh_name, ".data..percpu") &&
		    addr >= sh[i].sh_addr && addr < sh[i].sh_addr + sh[i].sh_size)
			return shstr + sh[i].sh_name;
	return "?";
}

static int in_text(uint64_t addr)
{
	const char *s = section_of(addr);

	return !strcmp(s, ".text") || !strcmp(s, ".init.text");
}

static int32_t s32_at(uint64_t addr)
{
	int32_t v = 0;
	unsigned char *p = at(addr, 4);

	if (p)
		memcpy(&v, p, 4);
	return v;
}

/* A special section with start/stop symbols; returns its entry count. */
static size_t table(const char *sec, const char *start, const char *stop, size_t entsize)
{
	Elf64_Shdr *s = section(sec);

	if (!s) {
		fail("section %s missing", sec);
		return 0;
	}
	if (symval(start) != s->sh_addr || symval(stop) != s->sh_addr + s->sh_size)
		fail("%s: %s/%s do not bound the section", sec, start, stop);
	if (s->sh_size % entsize)
		fail("%s: size %lu is not a multiple of %zu", sec, (unsigned long)s->sh_size, entsize);
	return s->sh_size / entsize;
}

static const char *asm_funcs[] = {
	"startup_64", "secondary_startup_64", "entry_SYSCALL_64", "ret_from_fork",
	"__fentry__", NULL,
};

static int is_asm_func(const char *name)
{
	int i;

	for (i = 0; asm_funcs[i]; i++)
		if (!strcmp(asm_funcs[i], name))
			return 1;
	return 0;
}

static void check_vmlinux(void)
{
	uint64_t fentry = symval("__fentry__"), start, a;
	size_t n, i, j, funcs = 0;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + eh->e_phoff);
	Elf64_Shdr *pcpu = section(".data..percpu");
	int dup_show_val_kb = 0;
	const char *clones[] = { ".cold", ".isra.", ".constprop.", ".part.", NULL };

	if (eh->e_type != ET_EXEC)
		fail("vmlinux is not ET_EXEC");
	if (eh->e_entry != symval("startup_64"))
		fail("entry point is not startup_64");

	/* Per-CPU section at 0, loaded at __per_cpu_load. */
	if (!pcpu || pcpu->sh_addr != 0)
		fail(".data..percpu is not linked at 0");
	for (i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr == 0 &&
		    ph[i].p_paddr != symval("__per_cpu_load"))
			fail("per-CPU segment p_paddr %#lx != __per_cpu_load",
			     (unsigned long)ph[i].p_paddr);
		else if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr && ph[i].p_paddr != ph[i].p_vaddr)
			fail("segment %zu: p_paddr != p_vaddr", i);
	if (symval("__per_cpu_start") != 0 || (pcpu && symval("__per_cpu_end") != pcpu->sh_size))
		fail("__per_cpu_start/__per_cpu_end do not bound .data..percpu");
	if (symval("__init_begin") > symval("_sinittext") || symval("__init_end") < symval("_einittext"))
		fail("__init_begin/__init_end do not cover .init.text");
	printf("layout: entry startup_64, .data..percpu at 0 loaded at %#lx, %u PT_LOAD\n",
	       (unsigned long)symval("__per_cpu_load"), eh->e_phnum);

	/* __mcount_loc: each entry is a "call __fentry__" at a function start. */
	n = table("__mcount_loc", "__start_mcount_loc", "__stop_mcount_loc", 8);
	start = symval("__start_mcount_loc");
	for (i = 0; i < n; i++) {
		uint64_t site;
		unsigned char *p;

		memcpy(&site, at(start + 8 * i, 8), 8);
		p = at(site, 5);
		if (!p || p[0] != 0xe8 || site + 5 + s32_at(site + 1) != fentry)
			fail("__mcount_loc[%zu] = %#lx is not a call to __fentry__", i, (unsigned long)site);
	}
	for (j = 1; j < nsyms; j++) {
		Elf64_Sym *s = &syms[j];
		const char *name = sym_name(s);
		int found = 0;

		if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || !s->st_size)
			continue;
		if (!strcmp(name, "show_val_kb"))
			dup_show_val_kb++;
		for (i = 0; clones[i]; i++)
			if (strstr(name, clones[i]))
				clones[i] = "";	/* seen */
		if (is_asm_func(name) || strstr(name, ".cold"))
			continue;
		funcs++;
		for (i = 0; i < n && !found; i++) {
			memcpy(&a, at(start + 8 * i, 8), 8);
			found = a == s->st_value;
		}
		if (!found)
			fail("function %s does not start with a recorded call __fentry__", name);
	}
	if (funcs != n)
		fail("%zu C functions but %zu __mcount_loc entries", funcs, n);
	printf("__mcount_loc: %zu entries, one per C function, each \"call __fentry__\"\n", n);
	for (i = 0; clones[i]; i++)
		if (*clones[i])
			fail("no %s function in vmlinux", clones[i]);
	if (dup_show_val_kb != 2)
		fail("expected 2 local show_val_kb, found %d", dup_show_val_kb);
	printf("functions: .cold/.isra/.constprop/.part present, show_val_kb x%d\n", dup_show_val_kb);

	/* __bug_table: s32 bug_addr_disp, s32 file_disp, u16 line, u16 flags. */
	n = table("__bug_table", "__start___bug_table", "__stop___bug_table", 12);
	start = symval("__start___bug_table");
	for (i = 0; i < n; i++) {
		uint64_t e = start + 12 * i, addr = e + s32_at(e), file = e + 4 + s32_at(e + 4);
		unsigned char *p = at(addr, 2), *l = at(e + 8, 4);
		const char *fname = (const char *)at(file, 1);

		if (!p || p[0] != 0x0f || p[1] != 0x0b)
			fail("__bug_table[%zu]: %#lx is not ud2", i, (unsigned long)addr);
		if (!fname || (!strstr(fname, ".c") && !strstr(fname, ".h")))
			fail("__bug_table[%zu]: bad file name", i);
		else
			printf("  bug %s:%u flags %#x at %#lx\n", fname, l[0] | l[1] << 8,
			       l[2] | l[3] << 8, (unsigned long)addr);
	}
	printf("__bug_table: %zu entries of 12 bytes\n", n);

	/* __ex_table: s32 insn, s32 fixup, s32 data. */
	n = table("__ex_table", "__start___ex_table", "__stop___ex_table", 12);
	start = symval("__start___ex_table");
	for (i = 0; i < n; i++) {
		uint64_t e = start + 12 * i, insn = e + s32_at(e), fixup = e + 4 + s32_at(e + 4);
		int32_t type = s32_at(e + 8) & 0xff;

		if (!in_text(insn) || !in_text(fixup) || (type != 1 && type != 3))
			fail("__ex_table[%zu]: insn %#lx fixup %#lx type %d", i,
			     (unsigned long)insn, (unsigned long)fixup, type);
	}
	printf("__ex_table: %zu entries of 12 bytes\n", n);

	/* __jump_table: s32 code, s32 target, s64 key|branch. */
	n = table("__jump_table", "__start___jump_table", "__stop___jump_table", 16);
	start = symval("__start___jump_table");
	for (i = 0; i < n; i++) {
		uint64_t e = start + 16 * i, code = e + s32_at(e), target = e + 4 + s32_at(e + 4);
		int64_t rel;
		uint64_t key;
		int branch, enabled, jmp;
		unsigned char *p = at(code, 5);
		static const unsigned char nop5[] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };

		memcpy(&rel, at(e + 8, 8), 8);
		key = e + 8 + rel;
		branch = key & 1;
		key &= ~3ULL;
		enabled = s32_at(key);
		jmp = p && p[0] == 0xe9;
		if (!p || !in_text(target) || (!jmp && memcmp(p, nop5, 5)))
			fail("__jump_table[%zu]: bad site %#lx", i, (unsigned long)code);
		if (jmp && code + 5 + s32_at(code + 1) != target)
			fail("__jump_table[%zu]: jmp does not go to the target", i);
		if (jmp != (enabled != branch))
			fail("__jump_table[%zu]: initial site does not match key state", i);
		printf("  jump %#lx -> %#lx key %#lx (%s) branch %d: %s\n", (unsigned long)code,
		       (unsigned long)target, (unsigned long)key, section_of(key), branch,
		       jmp ? "jmp" : "nop");
	}
	printf("__jump_table: %zu entries of 16 bytes\n", n);

	/* .altinstructions: s32 instr, s32 repl, u16 cpuid, u8 instrlen, u8 replacementlen. */
	n = table(".altinstructions", "__alt_instructions", "__alt_instructions_end", 12);
	start = symval("__alt_instructions");
	for (i = 0; i < n; i++) {
		uint64_t e = start + 12 * i, instr = e + s32_at(e), repl = e + 4 + s32_at(e + 4);
		unsigned char *f = at(e + 8, 4);

		if (!in_text(instr) || strcmp(section_of(repl), ".altinstr_replacement") ||
		    f[2] < f[3])
			fail(".altinstructions[%zu]: bad entry", i);
		printf("  alt %#lx (%u bytes) <- %#lx (%u bytes) if feature %u\n",
		       (unsigned long)instr, f[2], (unsigned long)repl, f[3], f[0] | f[1] << 8);
	}
	printf(".altinstructions: %zu entries of 12 bytes\n", n);

	/* .smp_locks: s32 offsets to lock prefixes (0xf0). */
	n = table(".smp_locks", "__smp_locks", "__smp_locks_end", 4);
	start = symval("__smp_locks");
	for (i = 0; i < n; i++) {
		unsigned char *p = at(start + 4 * i + s32_at(start + 4 * i), 1);

		if (!p || *p != 0xf0)
			fail(".smp_locks[%zu] does not point at a lock prefix", i);
	}
	printf(".smp_locks: %zu entries of 4 bytes\n", n);

	/* __ksymtab(_gpl): s32 value, s32 name, s32 namespace. */
	for (j = 0; j < 2; j++) {
		const char *sec = j ? "__ksymtab_gpl" : "__ksymtab";
		char st[64], sp[64];

		snprintf(st, sizeof(st), "__start_%s", sec);
		snprintf(sp, sizeof(sp), "__stop_%s", sec);
		n = table(sec, st, sp, 12);
		start = symval(st);
		for (i = 0; i < n; i++) {
			uint64_t e = start + 12 * i;
			const char *name = (const char *)at(e + 4 + s32_at(e + 4), 1);
			Elf64_Sym *s = name ? symbol(name) : NULL;

			if (!s || s->st_value != e + s32_at(e))
				fail("%s[%zu]: %s does not resolve", sec, i, name ? name : "?");
		}
		printf("%s: %zu entries of 12 bytes\n", sec, n);
	}
}

static void check_module(const char *symvers_path)
{
	FILE *f = fopen(symvers_path, "r");
	char line[512], *exported = calloc(1, 1);
	size_t len = 0, i;
	Elf64_Shdr *mi = section(".modinfo");
	Elf64_Sym *init = symbol("init_module");
	int undef = 0;

	if (eh->e_type != ET_REL)
		fail("module is not ET_REL");
	if (section(".gnu.linkonce.this_module"))
		fail("module has .gnu.linkonce.this_module");
	if (!f) {
		perror(symvers_path);
		exit(2);
	}
	while (fgets(line, sizeof(line), f)) {
		char *name = strchr(line, '\t'), *end;

		if (!name || strncmp(line, "0x00000000\t", 11))
			fail("Module.symvers: bad line %s", line);
		if (!name)
			continue;
		end = strchr(++name, '\t');
		if (!end)
			continue;
		exported = realloc(exported, len + (end - name) + 3);
		exported[len++] = '\n';
		memcpy(exported + len, name, end - name);
		len += end - name;
		exported[len++] = '\n';
		exported[len] = '\0';
		len--;
	}
	fclose(f);
	for (i = 1; i < nsyms; i++) {
		char key[256];

		if (syms[i].st_shndx != SHN_UNDEF || !syms[i].st_name)
			continue;
		undef++;
		snprintf(key, sizeof(key), "\n%s\n", sym_name(&syms[i]));
		if (!strstr(exported, key))
			fail("undefined symbol %s is not exported by vmlinux", sym_name(&syms[i]));
	}
	if (!mi || !memmem(img + mi->sh_offset, mi->sh_size, "name=", 5))
		fail("no name= in .modinfo");
	if (!init || init->st_shndx == SHN_UNDEF || ELF64_ST_BIND(init->st_info) != STB_GLOBAL)
		fail("init_module is not a defined global");
	printf("module: ET_REL, %d undefined symbols all exported, .modinfo name= present\n", undef);
	free(exported);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "vmlinux")) {
		load(argv[2]);
		check_vmlinux();
	} else if (argc == 4 && !strcmp(argv[1], "module")) {
		load(argv[2]);
		check_module(argv[3]);
	} else {
		fprintf(stderr, "usage: elfcheck vmlinux FILE | elfcheck module FILE.ko Module.symvers\n");
		return 2;
	}
	return failures ? 1 : 0;
}
