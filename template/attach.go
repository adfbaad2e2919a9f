package template

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// attachRoot returns the attach root, absolute and cleaned, and the same
// with its symbolic links resolved.
func (t *Template) attachRoot(root string) (string, string, error) {
	if root == "" {
		root = t.dir
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return "", "", fmt.Errorf("attach root: %w", err)
	}
	real, err := resolve(root)
	if err != nil {
		return "", "", fmt.Errorf("attach root: %w", err)
	}
	return root, real, nil
}

// attachPath resolves an Attach: value against the template's folder and
// checks that it lies under the attach root, both as written and with its
// symbolic links resolved. It returns the path as written, made absolute
// and cleaned, so that the attachment keeps the name the template gave it.
func (t *Template) attachPath(v, root, rootReal string) (string, error) {
	p := v
	if !filepath.IsAbs(p) {
		p = filepath.Join(t.dir, p)
	}
	p = filepath.Clean(p)
	if !within(root, p) {
		return "", fmt.Errorf("attachment %q is outside the attach root %s", v, root)
	}
	real, err := resolve(p)
	if err != nil {
		return "", fmt.Errorf("attachment %q: %w", v, err)
	}
	if !within(rootReal, real) {
		return "", fmt.Errorf("attachment %q leads outside the attach root %s through a symbolic link (to %s)", v, root, real)
	}
	return p, nil
}

// within reports whether path p lies strictly under folder root; both are
// absolute and clean.
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// resolve is filepath.EvalSymlinks for a path whose last parts may not
// exist yet: the longest existing prefix is resolved and the rest appended.
// A part that exists but cannot be resolved (a broken symbolic link, a
// loop) is an error, since where it leads cannot be checked.
func resolve(p string) (string, error) {
	var rest []string
	for cur := p; ; {
		real, err := filepath.EvalSymlinks(cur)
		if err == nil {
			for i := len(rest) - 1; i >= 0; i-- {
				real = filepath.Join(real, rest[i])
			}
			return real, nil
		}
		if _, lerr := os.Lstat(cur); lerr == nil {
			return "", fmt.Errorf("cannot resolve %s: %w", cur, err)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return p, nil
		}
		rest = append(rest, filepath.Base(cur))
		cur = parent
	}
}
