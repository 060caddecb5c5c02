package image

import (
	"debug/elf"
	"fmt"
)

// checkStatic verifies that path is a statically linked executable: an image
// with a single layer has no shared libraries to offer it.
func checkStatic(path, what string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s binary %s is not a readable executable (%v): build it or pass its path", what, path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s binary %s is dynamically linked: build it with CGO_ENABLED=0", what, path)
		}
	}
	return nil
}
