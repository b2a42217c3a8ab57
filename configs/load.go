package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads the config file at path, decodes it strictly, fills the
// defaults (relative paths are taken from the folder holding the file) and
// validates it. Every problem found is reported, not just the first.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("configs: %w", err)
	}
	return parse(data, path)
}

// Parse is Load for a config already in memory; name is the file name used in
// error messages, and its folder is the base for relative paths.
func Parse(data []byte, name string) (*Config, error) {
	return parse(data, name)
}

func parse(data []byte, name string) (*Config, error) {
	dir, err := filepath.Abs(filepath.Dir(name))
	if err != nil {
		dir = filepath.Dir(name)
	}
	c := &Config{dir: dir, written: map[string]bool{}}
	if err := c.decode(data, name); err != nil {
		return nil, err
	}
	c.Init()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("configs: %s:\n%w", name, err)
	}
	return c, nil
}

// decode checks the document against the schema (unknown keys, wrong kinds
// of value, bad durations — each with its line and YAML path), then decodes
// it with yaml.v3's own strict mode as the last word.
func (c *Config) decode(data []byte, name string) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("configs: %s %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // an empty file: everything takes its default
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("configs: %s line %d: the file must be a mapping of keys like \"data_dir: ./data\"", name, root.Line)
	}
	s := &schemaWalk{written: c.written}
	s.walk(root, configType, "")
	if len(s.errs) > 0 {
		errs := make([]error, len(s.errs))
		for i, e := range s.errs {
			errs[i] = fmt.Errorf("configs: %s line %d: %s", name, e.line, e.msg)
		}
		return errors.Join(errs...)
	}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			errs := make([]error, len(te.Errors))
			for i, msg := range te.Errors {
				errs[i] = fmt.Errorf("configs: %s %s", name, msg)
			}
			return errors.Join(errs...)
		}
		return fmt.Errorf("configs: %s %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
