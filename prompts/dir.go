package prompts

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Set is the templates of a prompt directory.
type Set struct {
	Dir       string
	Templates map[string]*Template
}

// LoadDir reads every *.txt file in dir as a template named after the file
// ("basic.txt" → "basic").
func LoadDir(dir string) (*Set, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: prompts directory not found", dir)
		}
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	s := &Set{Dir: dir, Templates: map[string]*Template{}}
	for _, e := range entries {
		if e.IsDir() || !strings.EqualFold(filepath.Ext(e.Name()), ".txt") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		name := strings.TrimSuffix(e.Name(), filepath.Ext(e.Name()))
		t, err := Parse(name, path, string(data))
		if err != nil {
			return nil, err
		}
		s.Templates[name] = t
	}
	if len(s.Templates) == 0 {
		return nil, fmt.Errorf("%s: no .txt prompt templates in the directory", dir)
	}
	return s, nil
}

// Names returns the template names, sorted.
func (s *Set) Names() []string {
	out := make([]string, 0, len(s.Templates))
	for n := range s.Templates {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Get returns the named template, or an error listing the ones there are.
func (s *Set) Get(name string) (*Template, error) {
	if t, ok := s.Templates[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("prompt %q not found in %s (have: %s)", name, s.Dir, strings.Join(s.Names(), ", "))
}
