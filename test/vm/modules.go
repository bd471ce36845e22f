package vm

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
)

// moduleDeps is a kernel's modules.dep: module name → its .ko path relative to
// the release's module directory, and the names of what it needs loaded first.
type moduleDeps struct {
	path map[string]string
	deps map[string][]string
}

// moduleName turns "kernel/fs/9p/9p.ko" into "9p", as modprobe names modules.
func moduleName(ko string) string {
	base := path.Base(ko)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		base = strings.TrimSuffix(base, ext)
	}
	return strings.ReplaceAll(strings.TrimSuffix(base, ".ko"), "-", "_")
}

// parseModulesDep reads modules.dep as depmod writes it:
// "kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/netfs/netfs.ko".
func parseModulesDep(r io.Reader) (*moduleDeps, error) {
	md := &moduleDeps{path: map[string]string{}, deps: map[string][]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for line := 1; sc.Scan(); line++ {
		ko, deps, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			return nil, fmt.Errorf("modules.dep line %d: no colon in %q", line, sc.Text())
		}
		name := moduleName(ko)
		md.path[name] = ko
		for _, d := range strings.Fields(deps) {
			md.deps[name] = append(md.deps[name], moduleName(d))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules.dep: %w", err)
	}
	return md, nil
}

// loadOrder returns the modules to insert, each after everything it depends
// on, each once. builtin lists modules compiled into the kernel, which need
// no loading.
func (md *moduleDeps) loadOrder(want []string, builtin map[string]bool) ([]string, error) {
	var order []string
	state := map[string]int{} // 1: being visited, 2: done
	var visit func(name string) error
	visit = func(name string) error {
		switch {
		case state[name] == 2, builtin[name]:
			return nil
		case state[name] == 1:
			return fmt.Errorf("module dependency cycle through %s", name)
		}
		if _, ok := md.path[name]; !ok {
			return fmt.Errorf("module %s: not built for this kernel", name)
		}
		state[name] = 1
		for _, d := range md.deps[name] {
			if err := visit(d); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, name)
		return nil
	}
	for _, name := range want {
		if err := visit(moduleName(name)); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// parseBuiltin reads modules.builtin: one "kernel/…/name.ko" per line.
func parseBuiltin(r io.Reader) (map[string]bool, error) {
	builtin := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			builtin[moduleName(l)] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules.builtin: %w", err)
	}
	return builtin, nil
}
