/* Emulator-side support for the differential tests: an entry symbol and
 * the __fentry__ that -pg -mfentry builds call. */
	.text
	.globl t_start, __fentry__
t_start:
	hlt
__fentry__:
	ret
