/*
 * A patch module as kbuild links it for a kernel with IBT and return
 * thunks (6.12): ENDBR64 at every function an indirect branch enters,
 * every return a jump to __x86_return_thunk listed in .return_sites.
 * TestHardening assembles it as is and with the lines marked BREAK-x
 * changed, each of which the check must report (but one: a replacement
 * function is entered by ftrace's return, so it needs no ENDBR64).
 */
	.section .text.replacement,"ax",@progbits
	.nops 16
	.type replacement, @function
replacement:
	endbr64				/* BREAK-replacement-endbr */
	call __fentry__
	lea helper(%rip), %rax		/* helper's address is taken */
	call *%rax
0:	jmp __x86_return_thunk		/* BREAK-bare-ret */
	.size replacement, .-replacement

	.section .text.helper,"ax",@progbits
	.type helper, @function
helper:
	endbr64				/* BREAK-endbr */
	xor %eax, %eax
1:	jmp __x86_return_thunk
	.size helper, .-helper

	.section .text.direct,"ax",@progbits
	.type direct, @function
direct:				/* only called directly: no ENDBR64 needed */
	call helper
2:	jmp __x86_return_thunk
	.size direct, .-direct

	.section .init.text,"ax",@progbits
	.globl init_module
	.type init_module, @function
init_module:
	endbr64
	call direct
	xor %eax, %eax
3:	jmp __x86_return_thunk
	.size init_module, .-init_module

	.section .return_sites,"a",@progbits
	.long 0b - .			/* BREAK-return-site */
	.long 1b - .
	.long 2b - .
	.long 3b - .

	.section .kpatch.funcs,"a",@progbits
	.quad replacement, 0, 0, 0, 0, 0, 0

	.section .modinfo,"a",@progbits
	.asciz "name=livepatch_hardening"
