package cliflags

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// LoadFile sets every flag not already set — on the command line or from
// the environment — from a YAML file whose keys are the flag names:
//
//	node-name: worker-1
//	exclude-cgroup: [/system.slice]     # a list flag
//	namespace-mode: {shop: enforce}     # a key=value flag
//
// An unknown key or a bad value is an error naming the file, line and key.
func LoadFile(fs *pflag.FlagSet, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil // empty file
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return fmt.Errorf("config file %s:%d: want a mapping of setting names to values", path, top.Line)
	}
	var errs []error
	for i := 0; i+1 < len(top.Content); i += 2 {
		key, val := top.Content[i], top.Content[i+1]
		if err := setFromNode(fs, key.Value, val); err != nil {
			errs = append(errs, fmt.Errorf("config file %s:%d: %s: %w", path, key.Line, key.Value, err))
		}
	}
	return errors.Join(errs...)
}

func setFromNode(fs *pflag.FlagSet, name string, val *yaml.Node) error {
	f := fs.Lookup(name)
	if f == nil || name == "config" {
		return errors.New("unknown setting")
	}
	if f.Changed {
		return nil // the command line or the environment wins
	}
	var value string
	switch val.Kind {
	case yaml.ScalarNode:
		value = val.Value
	case yaml.SequenceNode:
		var items []string
		for _, it := range val.Content {
			if it.Kind != yaml.ScalarNode {
				return errors.New("want a list of plain values")
			}
			items = append(items, it.Value)
		}
		value = strings.Join(items, ",")
	case yaml.MappingNode:
		var pairs []string
		for i := 0; i+1 < len(val.Content); i += 2 {
			k, v := val.Content[i], val.Content[i+1]
			if k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode {
				return errors.New("want a mapping of plain keys to plain values")
			}
			pairs = append(pairs, k.Value+"="+v.Value)
		}
		value = strings.Join(pairs, ",")
	default:
		return errors.New("unsupported value")
	}
	return fs.Set(name, value)
}
