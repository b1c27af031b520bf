package kerneltree

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/kpatchgo/kpatch-build/kbuild"
)

// A recorded command is kbuild's own record of how it built an object:
// the .OBJ.cmd file its if_changed rules write beside the object, whose
// first line is "savedcmd_OBJ := COMMAND" (6.3 on; "cmd_OBJ := COMMAND"
// before), followed by the object's source and the files it depends on
// (deps_OBJ). The record is kept beside the cached original object
// (cmdName): the journal's undo removes it from the tree.
//
// Running the recorded command instead of make gives the same object as
// long as nothing kbuild decides the command from has changed: the
// Makefiles, the configuration and the generated headers are the
// prepared tree's (checked before every run, and no patch may change a
// build file), and the flags the tool adds name the tree's directory,
// which the record must name too. What make would add on top of the
// command for a C object (genksyms's symbol versions, the objtool
// dependency list, the kernel-doc and sparse checks) goes into kbuild's
// own files, not into the object.

// cmdName is the file beside an object (in the tree or in the cache of
// original objects) that holds kbuild's record of its command.
func cmdName(obj string) string {
	return filepath.Join(filepath.Dir(obj), "."+filepath.Base(obj)+".cmd")
}

// recordedCommand reads kbuild's record of obj's command (data, from
// file) and returns the shell command. It says why when the record is no
// use: not obj's, no dependency list, a source that is not C, or make
// syntax left in the command that only make could expand.
func recordedCommand(file string, data []byte, obj string) (string, error) {
	var cmd, source string
	deps := false
	for _, line := range strings.Split(string(data), "\n") {
		name, val, ok := strings.Cut(line, " := ")
		if !ok {
			continue
		}
		switch name {
		case "savedcmd_" + obj, "cmd_" + obj:
			cmd = val
		case "source_" + obj:
			source = strings.TrimSpace(val)
		case "deps_" + obj:
			deps = true
		}
	}
	switch {
	case cmd == "":
		return "", fmt.Errorf("%s: no command recorded for %s", file, obj)
	case !deps:
		return "", fmt.Errorf("%s: no dependency list (deps_%s)", file, obj)
	case !strings.HasSuffix(source, ".c"):
		return "", fmt.Errorf("%s: source %q is not a C file", file, source)
	}
	return kbuild.UnescapeCommand(file, cmd)
}

// recordedCommands returns the recorded command of every object (kept in
// origDir), or the reason make must build them instead: a patched file
// that is not a C source or header, a record that is missing or of no
// use, or one made for a tree elsewhere (its flags map another
// directory).
func (t *Tree) recordedCommands(origDir string, objs, patched []string) (map[string]string, error) {
	for _, f := range patched {
		if !strings.HasSuffix(f, ".c") && !strings.HasSuffix(f, ".h") {
			return nil, fmt.Errorf("the patch changes %s, not a C source or header", f)
		}
	}
	deps, err := t.preparedDeps()
	if err != nil {
		return nil, err
	}
	for _, f := range patched {
		if deps[f] != "" {
			return nil, fmt.Errorf("the patch changes %s, which %s, made by the preparation, depends on: make decides whether to make it again", f, deps[f])
		}
	}
	cmds := map[string]string{}
	for _, obj := range objs {
		file := filepath.Join(origDir, cmdName(obj))
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("no recorded command: %w", err)
		}
		cmd, err := recordedCommand(file, data, obj)
		if err != nil {
			return nil, err
		}
		if !strings.Contains(cmd, " "+kcflags(t.Dir)+" ") || !strings.Contains(cmd, " -o "+obj+" ") {
			return nil, fmt.Errorf("%s: not a command for %s with this tree's flags (%s)", file, obj, kcflags(t.Dir))
		}
		cmds[obj] = cmd
	}
	return cmds, nil
}

// preparedDeps are the files that what the preparation made depends on
// (asm-offsets.h, bounds.h and the other generated headers, the tools),
// from kbuild's records of them (the manifest's .cmd files: their
// source_ and deps_ lists), each with the file that depends on it. make
// would make such a file again before an object when a patch changes what
// it depends on; a recorded command would not.
func (t *Tree) preparedDeps() (map[string]string, error) {
	manifest, err := t.readManifest()
	if err != nil {
		return nil, err
	}
	deps := map[string]string{}
	for rel := range manifest {
		base := path.Base(rel)
		if !strings.HasPrefix(base, ".") || !strings.HasSuffix(base, ".cmd") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(t.Dir, rel))
		if err != nil {
			return nil, err
		}
		target := path.Join(path.Dir(rel), strings.TrimSuffix(strings.TrimPrefix(base, "."), ".cmd"))
		in := false
		for _, line := range strings.Split(string(b), "\n") {
			name, val, ok := strings.Cut(line, " := ")
			switch {
			case ok && strings.HasPrefix(name, "source_"):
				deps[path.Clean(strings.TrimSpace(val))] = target
				in = false
			case ok && strings.HasPrefix(name, "deps_"):
				in = true
			case in && strings.HasPrefix(line, " "):
				f := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(line), "\\"))
				if f != "" && !strings.HasPrefix(f, "$(") && !path.IsAbs(f) {
					deps[path.Clean(f)] = target
				}
			default:
				in = false
			}
		}
	}
	return deps, nil
}

// saveRecords copies kbuild's records of the objects' commands from the
// tree into origDir, beside the original objects, where none is yet.
func saveRecords(tree, origDir string, objs []string) error {
	for _, obj := range objs {
		dst := filepath.Join(origDir, cmdName(obj))
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(tree, cmdName(obj)))
		if errors.Is(err, fs.ErrNotExist) {
			continue // none recorded: make builds the object next time too
		}
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// runRecorded runs the objects' recorded commands in the tree, as make
// would (sh -c in the tree's top directory, the C locale), Jobs at a
// time.
func (t *Tree) runRecorded(ctx context.Context, o *ObjectsOptions, cmds map[string]string, objs []string) error {
	jobs := max(o.Jobs, 1)
	sem := make(chan struct{}, jobs)
	errs := make([]error, len(objs))
	var wg sync.WaitGroup
	for i, obj := range objs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = t.runCommand(ctx, o, cmds[obj], obj)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, obj := range objs {
		if _, err := os.Stat(filepath.Join(t.Dir, obj)); err != nil {
			return fmt.Errorf("the recorded command did not produce %s", obj)
		}
	}
	return nil
}

// runCommand runs one recorded command; a failure is a
// *kbuild.MakeError (the compiler's first error first).
func (t *Tree) runCommand(ctx context.Context, o *ObjectsOptions, command, obj string) error {
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Dir = t.Dir
	cmd.Env = append(append(os.Environ(), "LC_ALL=C", "LANG=C", "LC_CTYPE=C", "LC_MESSAGES=C"), o.Env...)
	if t.lock != nil {
		cmd.ExtraFiles = t.lock.Files()
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if o.BuildLog != nil {
		fmt.Fprintf(o.BuildLog, "%s\n%s", command, out.Bytes())
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", obj, ctx.Err())
		}
		return kbuild.NewMakeError("recorded command of "+obj, out.Bytes(), err, o.FailLog)
	}
	return nil
}

// moduleStateDir is the directory beside the prepared tree where the
// module build keeps its records (module.KbuildOptions.StateDir).
const moduleStateDir = "module-build"

// ModuleStateDir is the directory, beside the prepared tree and out of
// every patch's reach, where the module build keeps kbuild's recorded
// commands and the objects the modules of this tree share; it is written
// only under the tree's lock (Locked).
func (t *Tree) ModuleStateDir() string { return filepath.Join(t.home, moduleStateDir) }
