package module

import (
	"strings"
	"testing"
)

// TestTemplateOf: a recorded command of a module build becomes a
// template with the work directory, the module's name and the replace
// flag as placeholders, and instantiating it for the same module gives
// the command back; a name that also shows up elsewhere in the command
// cannot be told from the flags, and the command is not templated.
func TestTemplateOf(t *testing.T) {
	const work = "/cache/work-1/module"
	cmd := "gcc-12 -Wp,-MMD," + work + "/.livepatch-a-b.mod.o.d -ffile-prefix-map=" + work + "=. -DKLP_REPLACE_ENABLE=true " +
		`-DKBUILD_BASENAME='"livepatch_a_b.mod"' -DKBUILD_MODNAME='"livepatch_a_b"' -D__KBUILD_MODNAME=kmod_livepatch_a_b ` +
		"-c -o " + work + "/livepatch-a-b.mod.o " + work + "/livepatch-a-b.mod.c ; ld @" + work + "/livepatch-a-b.mod"
	tmpl, err := templateOf(cmd, work, "livepatch-a-b", "true")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(tmpl, "livepatch") || strings.Contains(tmpl, work) || strings.Contains(tmpl, "=true") {
		t.Errorf("template still holds the module's name, work directory or flag: %s", tmpl)
	}
	if got := instantiate(tmpl, work, "livepatch-a-b", "true"); got != cmd {
		t.Errorf("instantiated:\n%s\nwant\n%s", got, cmd)
	}
	other := instantiate(tmpl, "/w2", "livepatch-c", "false")
	for _, want := range []string{"-Wp,-MMD,/w2/.livepatch-c.mod.o.d", `-DKBUILD_MODNAME='"livepatch_c"'`, "kmod_livepatch_c ", "-DKLP_REPLACE_ENABLE=false", "@/w2/livepatch-c.mod"} {
		if !strings.Contains(other, want) {
			t.Errorf("instantiated for another module lacks %q: %s", want, other)
		}
	}
	if _, err := templateOf("gcc -I./arch/x86/include -o "+work+"/x86.o", work, "x86", "true"); err == nil {
		t.Error("a name that is also part of the flags was templated")
	}
	if _, err := templateOf("echo %%KPATCH_WORK%%", work, "livepatch-a", "true"); err == nil {
		t.Error("a command with a placeholder's spelling was templated")
	}
}
