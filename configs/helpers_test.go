package configs

import (
	"strings"

	"gopkg.in/yaml.v3"
)

func yamlUnmarshalStrict(s string, v any) error {
	dec := yaml.NewDecoder(strings.NewReader(s))
	dec.KnownFields(true)
	return dec.Decode(v)
}
