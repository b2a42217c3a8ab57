package configs

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var (
	configType   = reflect.TypeFor[Config]()
	durationType = reflect.TypeFor[Duration]()
)

// schemaWalk walks a YAML document alongside the Go type it decodes into, so
// that a mistake is reported with both its line and its YAML path
// ("radius.fragment_size"), which yaml.v3's own errors lack.
type schemaWalk struct {
	errs    []walkError
	written map[string]bool
}

type walkError struct {
	line int
	msg  string
}

func (s *schemaWalk) fail(n *yaml.Node, format string, args ...any) {
	s.errs = append(s.errs, walkError{line: n.Line, msg: fmt.Sprintf(format, args...)})
}

func (s *schemaWalk) walk(n *yaml.Node, t reflect.Type, path string) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if t == durationType {
		if _, err := parseDuration(n); err != nil {
			s.fail(n, "%s: %v", path, err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		s.walk(n, t.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if !isNull(n) {
				s.fail(n, "%s: expected a mapping of keys here, found %s", orTop(path), describe(n))
			}
			return
		}
		fields := yamlFields(t)
		s.pairs(n, func(k, v *yaml.Node) {
			f, ok := fields[k.Value]
			if !ok {
				s.fail(k, "unknown field %q in %s%s", k.Value, orTop(path), hint(k.Value, path, fields))
				return
			}
			p := join(path, k.Value)
			s.written[p] = true
			s.walk(v, f.Type, p)
		})
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			if !isNull(n) {
				s.fail(n, "%s: expected a mapping of names here, found %s", path, describe(n))
			}
			return
		}
		s.pairs(n, func(k, v *yaml.Node) {
			p := join(path, k.Value)
			s.written[p] = true
			s.walk(v, t.Elem(), p)
		})
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if !isNull(n) {
				s.fail(n, "%s: expected a list here (like [a, b] or lines starting with \"- \"), found %s", path, describe(n))
			}
			return
		}
		for i, item := range n.Content {
			s.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && !isNull(n)) {
			s.fail(n, "%s: %s is not a whole number", path, describe(n))
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!bool" && !isNull(n)) {
			s.fail(n, "%s: %s is not true or false", path, describe(n))
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			s.fail(n, "%s: expected a single value, found %s", path, describe(n))
		}
	}
}

// pairs calls fn for each key/value of a mapping, following "<<" merge keys.
func (s *schemaWalk) pairs(n *yaml.Node, fn func(k, v *yaml.Node)) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.ShortTag() == "!!merge" {
			for v.Kind == yaml.AliasNode && v.Alias != nil {
				v = v.Alias
			}
			if v.Kind == yaml.MappingNode {
				s.pairs(v, fn)
			}
			continue
		}
		fn(k, v)
	}
}

// yamlFields maps the YAML keys of struct t to its fields.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	fields := make(map[string]reflect.StructField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f
	}
	return fields
}

// hint helps with an unknown key: the CA passphrase has no place in the
// file, and a near miss is probably a typo.
func hint(key, path string, fields map[string]reflect.StructField) string {
	if strings.Contains(strings.ToLower(key), "passphrase") || strings.Contains(strings.ToLower(key), "password") {
		where := "ca."
		if path == "ca" {
			where = ""
		}
		return fmt.Sprintf("; the CA passphrase never goes in the config file: set %spassphrase_env to the name of an environment variable holding it, or %spassphrase_file to a file (chmod 600) holding it", where, where)
	}
	best, bestDist := "", 3
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if d := editDistance(key, name); d < bestDist {
			best, bestDist = name, d
		}
	}
	if best != "" {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	return "; known fields are " + strings.Join(names, ", ")
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "something else"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orTop(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}
