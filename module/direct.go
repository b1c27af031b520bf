package module

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kpatchgo/kpatch-build/kbuild"
	"github.com/kpatchgo/kpatch-build/worktree"
)

// The direct link: kbuild's external-module build of a patch module runs
// a handful of commands (compile the hook, ld -r the parts with objtool
// on kernels that want it, list the module in modules.order, modpost
// with the kernel's Module.symvers for vermagic, CRCs and __versions,
// compile NAME.mod.c, and on 6.10 on .module-common.o, and the final
// link with the kernel's module.lds), and records each in a .cmd file.
// After a kbuild build of a module, those records are kept in the
// prepared tree's state (KbuildOptions.StateDir) as templates, with the
// work directory, the module's name and the replace flag made
// placeholders; a later build of a module for the same tree runs the
// templates' commands directly, without make (about a second less), and
// gives the same bytes (a test compares the two on the whole catalogue).

// templateVersion changes when the template's format or the steps change.
const templateVersion = "1"

// templateFile is the templates' file in KbuildOptions.StateDir.
const templateFile = "module-commands.json"

// The placeholders of a template.
const (
	phWork    = "%%KPATCH_WORK%%"
	phName    = "%%KPATCH_NAME%%"
	phModName = "%%KPATCH_MODNAME%%"
	phReplace = "%%KPATCH_REPLACE%%"
)

// templateStep is one command of the module's build: the .cmd file it is
// recorded in (its name templated) and the command.
type templateStep struct {
	Target  string // the target, relative to the work directory (templated)
	Command string // the shell command, run in the tree (templated)
}

// moduleTemplate is kbuild's recorded build of a patch module.
type moduleTemplate struct {
	Version string
	// Tree is the prepared tree's directory the commands were recorded
	// for (its flags map it): a moved cache records them again.
	Tree string
	// Hook compiles the patch hook; HookRecord is kbuild's record of it
	// (.patch-hook.o.cmd, which modpost reads); Steps follow the parts,
	// in order.
	Hook       string
	HookRecord string
	Steps      []templateStep
	// Common is the module-common object (6.10 on), "" when the kernel
	// has none: cached in the state directory (commonFile), the same
	// bytes for every module of the tree.
	Common string
}

// commonFile is the cached module-common object.
const commonFile = "module-common.o"

// moduleSteps are kbuild's steps after the parts, in the order it runs
// them: the file (relative to the work directory, templated) each is
// recorded for. commonObject is 6.10's and later.
var moduleSteps = []string{phName + ".o", "modules.order", "Module.symvers", phName + ".mod.o", phName + ".ko"}

const commonObject = ".module-common.o"

// templateOf makes a template of one recorded command: the work
// directory, the module's name (dashes and underscores) and the replace
// flag become placeholders. It fails when the name shows up anywhere
// else (a name too short or too common to tell from the flags).
func templateOf(cmd, work, name, replace string) (string, error) {
	if strings.Contains(cmd, "%%KPATCH_") {
		return "", errors.New("the command holds a placeholder's spelling")
	}
	modname := ModName(name)
	s := strings.ReplaceAll(cmd, work, phWork)
	s = strings.ReplaceAll(s, phWork+"/."+name+".", phWork+"/."+phName+".")
	s = strings.ReplaceAll(s, phWork+"/"+name+".", phWork+"/"+phName+".")
	for _, f := range []string{`'"%s"'`, `'"%s.mod"'`} {
		s = strings.ReplaceAll(s, fmt.Sprintf(f, modname), fmt.Sprintf(f, phModName))
	}
	s = strings.ReplaceAll(s, "=kmod_"+modname+" ", "=kmod_"+phModName+" ")
	s = strings.ReplaceAll(s, "-DKLP_REPLACE_ENABLE="+replace, "-DKLP_REPLACE_ENABLE="+phReplace)
	if strings.Contains(s, name) || strings.Contains(s, modname) {
		return "", fmt.Errorf("the module name %s appears where it cannot be told from the flags", name)
	}
	return s, nil
}

// instantiate fills a template's placeholders.
func instantiate(s, work, name, replace string) string {
	return strings.NewReplacer(phWork, work, phName, name, phModName, ModName(name), phReplace, replace).Replace(s)
}

// recordTemplate makes the templates of the module kbuild just built in
// work (tree: the prepared tree) and keeps them in stateDir, with the
// module-common object and the hook object.
func recordTemplate(stateDir, tree, work, name, replace string, parts []string) error {
	read := func(target string) (string, error) {
		file := filepath.Join(work, "."+target+".cmd")
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		line, _, _ := strings.Cut(string(b), "\n")
		_, cmd, ok := strings.Cut(line, " := ")
		if !ok {
			return "", fmt.Errorf("%s: no command", file)
		}
		cmd, err = kbuild.UnescapeCommand(file, cmd)
		if err != nil {
			return "", err
		}
		return templateOf(cmd, work, name, replace)
	}
	t := &moduleTemplate{Version: templateVersion, Tree: tree}
	known := map[string]bool{"patch-hook.o": true, name + ".mod": true}
	for _, p := range parts[1:] {
		known[p] = true
	}
	var err error
	if t.Hook, err = read("patch-hook.o"); err != nil {
		return err
	}
	rec, err := os.ReadFile(filepath.Join(work, ".patch-hook.o.cmd"))
	if err != nil {
		return err
	}
	if t.HookRecord, err = templateOf(string(rec), work, name, replace); err != nil {
		return fmt.Errorf(".patch-hook.o.cmd: %w", err)
	}
	for _, target := range moduleSteps {
		real := strings.ReplaceAll(target, phName, name)
		known[real] = true
		cmd, err := read(real)
		if err != nil {
			return err
		}
		t.Steps = append(t.Steps, templateStep{Target: target, Command: cmd})
	}
	if _, err := os.Stat(filepath.Join(work, commonObject)); err == nil {
		known[commonObject] = true
		if t.Common, err = read(commonObject); err != nil {
			return err
		}
	}
	// Every command kbuild ran is one of the template's.
	cmds, _ := filepath.Glob(filepath.Join(work, ".*.cmd"))
	for _, c := range cmds {
		target := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(c), "."), ".cmd")
		if !known[target] {
			return fmt.Errorf("kbuild ran a command the template does not know: %s", filepath.Base(c))
		}
	}
	// The list of parts is the one the direct link writes.
	mod, err := os.ReadFile(filepath.Join(work, name+".mod"))
	if err != nil {
		return err
	}
	if string(mod) != modList(work, parts) {
		return fmt.Errorf("%s.mod is not the list of parts the direct link writes", name)
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return err
	}
	if t.Common != "" {
		if err := copyFile(filepath.Join(work, commonObject), filepath.Join(stateDir, commonFile)); err != nil {
			return err
		}
	}
	if err := saveHook(stateDir, work, name, replace); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(t, "", "\t")
	return worktree.ReplaceFile(filepath.Join(stateDir, templateFile), b, 0o644)
}

// loadTemplate reads the templates kept in stateDir, or says why there
// are none to use.
func loadTemplate(stateDir, tree string) (*moduleTemplate, error) {
	file := filepath.Join(stateDir, templateFile)
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var t moduleTemplate
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	switch {
	case t.Version != templateVersion:
		return nil, fmt.Errorf("%s: version %q, not %q", file, t.Version, templateVersion)
	case t.Tree != tree:
		return nil, fmt.Errorf("%s: recorded for the tree at %s", file, t.Tree)
	case len(t.Steps) != len(moduleSteps) || t.Hook == "" || t.HookRecord == "":
		return nil, fmt.Errorf("%s: malformed", file)
	}
	for i, s := range t.Steps {
		if s.Target != moduleSteps[i] {
			return nil, fmt.Errorf("%s: step %d is %s, not %s", file, i, s.Target, moduleSteps[i])
		}
	}
	if t.Common != "" {
		if _, err := os.Stat(filepath.Join(stateDir, commonFile)); err != nil {
			return nil, err
		}
	}
	return &t, nil
}

// modList is NAME.mod, the parts' list ld reads: one path a line.
func modList(work string, parts []string) string {
	var b strings.Builder
	for _, p := range parts {
		fmt.Fprintf(&b, "%s/%s\n", work, p)
	}
	return b.String()
}

// hookFile is the cached hook object of a module in the state
// directory, named for what it is compiled from: the module's name (its
// KBUILD_MODNAME), the replace flag and the hook's source.
func hookFile(stateDir, name, replace string) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\n%s\n%s", name, replace, hookSource))
	return filepath.Join(stateDir, "patch-hook-"+hex.EncodeToString(sum[:])[:20]+".o")
}

// saveHook keeps the hook object just built in work for the next build of
// the same module.
func saveHook(stateDir, work, name, replace string) error {
	return copyFile(filepath.Join(work, "patch-hook.o"), hookFile(stateDir, name, replace))
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return worktree.ReplaceFile(dst, b, 0o644)
}

// linkDirect builds the module in work from its parts (written there as
// PART_shipped) by the template's commands, run in the tree; it returns
// modpost's output.
func linkDirect(ctx context.Context, o *KbuildOptions, t *moduleTemplate, tree, work, replace string, parts []string) (string, error) {
	for _, p := range parts[1:] {
		if err := copyFile(filepath.Join(work, p+"_shipped"), filepath.Join(work, p)); err != nil {
			return "", err
		}
	}
	run := func(target, tmpl string) (string, error) {
		return runStep(ctx, tree, instantiate(target, work, o.Name, replace), instantiate(tmpl, work, o.Name, replace), o.FailLog)
	}
	if err := copyFile(hookFile(o.StateDir, o.Name, replace), filepath.Join(work, "patch-hook.o")); err != nil {
		if _, err := run("patch-hook.o", t.Hook); err != nil {
			return "", err
		}
		// kbuild's fixdep turns the compiler's dependency file into
		// the record, written below from the template.
		if err := os.Remove(filepath.Join(work, ".patch-hook.o.d")); err != nil {
			return "", err
		}
		if err := saveHook(o.StateDir, work, o.Name, replace); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(filepath.Join(work, ".patch-hook.o.cmd"), []byte(instantiate(t.HookRecord, work, o.Name, replace)), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(work, o.Name+".mod"), []byte(modList(work, parts)), 0o644); err != nil {
		return "", err
	}
	if t.Common != "" {
		if err := copyFile(filepath.Join(o.StateDir, commonFile), filepath.Join(work, commonObject)); err != nil {
			return "", err
		}
	}
	var modpost string
	for _, s := range t.Steps {
		if s.Target == phName+".mod.o" {
			// NAME.mod.c is modpost's: the same for a module whose
			// name and imported symbols stay the same, as they do
			// while a patch author edits a function.
			cached, err := modObjFile(o.StateDir, work, o.Name, s.Command)
			if err != nil {
				return "", err
			}
			mod := filepath.Join(work, o.Name+".mod.o")
			if copyFile(cached, mod) == nil {
				continue
			}
			if _, err := run(s.Target, s.Command); err != nil {
				return "", err
			}
			if err := copyFile(mod, cached); err != nil {
				return "", err
			}
			continue
		}
		out, err := run(s.Target, s.Command)
		if err != nil {
			return "", err
		}
		if s.Target == "Module.symvers" {
			modpost = out
		}
	}
	return modpost, nil
}

// modObjFile is the cached NAME.mod.o of a module in the state
// directory, named for what it is compiled from: the module's name, the
// command's template and NAME.mod.c (in work, written by modpost).
func modObjFile(stateDir, work, name, command string) (string, error) {
	src, err := os.ReadFile(filepath.Join(work, name+".mod.c"))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\n%s\n%s", name, command, src))
	return filepath.Join(stateDir, "mod-"+hex.EncodeToString(sum[:])[:20]+".o"), nil
}

// runStep runs one command of the module's build in the tree, as kbuild
// does (sh -c, the C locale; KBUILD_MODPOST_WARN for modpost, whose
// flags the record already holds); a failure is a *kbuild.MakeError.
func runStep(ctx context.Context, tree, target, command, failLog string) (string, error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Dir = tree
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), "KBUILD_MODPOST_WARN=1", "LC_ALL=C", "LANG=C", "LC_CTYPE=C", "LC_MESSAGES=C")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("%s: %w", target, ctx.Err())
		}
		return "", kbuild.NewMakeError("kbuild's recorded command for "+filepath.Base(target), out.Bytes(), err, failLog)
	}
	return out.String(), nil
}
