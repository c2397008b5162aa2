package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// position turns dotted paths into "file:line" for error messages.
type position struct {
	file string
	root *yaml.Node
}

// errorf returns an error naming the file, the line of the deepest node on
// path that exists, and path itself.
func (p *position) errorf(path, format string, args ...any) error {
	line := 0
	if p.root != nil {
		line = lineOf(p.root, strings.Split(path, "."))
	}
	msg := fmt.Sprintf(format, args...)
	if line > 0 {
		return fmt.Errorf("%s:%d: %s: %s", p.file, line, path, msg)
	}
	return fmt.Errorf("%s: %s: %s", p.file, path, msg)
}

var leadingKey = regexp.MustCompile(`^[a-z0-9_]+`)

// fieldLine returns the line of the key a validation message starts with
// (such as "routing_key must be ..."), or fallback when the message names
// no key of the mapping.
func (p *position) fieldLine(msg string, fallback int) int {
	if key := leadingKey.FindString(msg); key != "" && p.root != nil {
		if n := child(p.root, key); n != nil {
			return n.Line
		}
	}
	return fallback
}

// lineOf follows path (mapping keys and sequence indexes) from n and returns
// the line of the deepest node reached.
func lineOf(n *yaml.Node, path []string) int {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, step := range path {
		next := child(n, step)
		if next == nil {
			return line
		}
		n, line = next, next.Line
	}
	return line
}

func child(n *yaml.Node, step string) *yaml.Node {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == step {
				return n.Content[i+1]
			}
		}
	case yaml.SequenceNode:
		if i, err := strconv.Atoi(step); err == nil && i >= 0 && i < len(n.Content) {
			return n.Content[i]
		}
	}
	return nil
}

var (
	yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)
	// yamlUnknownField is the strict decoder's message for an unknown key;
	// it names a Go type the user never wrote.
	yamlUnknownField = regexp.MustCompile(`^field (.+) not found in type \S+$`)
)

// yamlError rewrites the decoder's "line N: msg" errors as "file:N: msg".
func yamlError(file string, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			return fmt.Errorf("%s:%s: %s", file, m[1], m[2])
		}
		return fmt.Errorf("%s: %s", file, msg)
	}
	msgs := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		if m := yamlLine.FindStringSubmatch(e); m != nil {
			msg := yamlUnknownField.ReplaceAllString(m[2], `unknown field "$1"`)
			msgs = append(msgs, fmt.Sprintf("%s:%s: %s", file, m[1], msg))
		} else {
			msgs = append(msgs, file+": "+e)
		}
	}
	return errors.New(strings.Join(msgs, "\n"))
}

// checkKeys rejects mapping keys in n that are not yaml fields of t,
// recursing into nested structs and slices of structs, so that a typo deep
// in a target's block is reported with its line.
func checkKeys(file string, n *yaml.Node, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for _, item := range n.Content {
			if err := checkKeys(file, item, t.Elem()); err != nil {
				return err
			}
		}
		return nil
	case n.Kind != yaml.MappingNode || t.Kind() != reflect.Struct:
		return nil
	}
	fields := yamlFields(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i]
		ft, ok := fields[key.Value]
		if !ok {
			return fmt.Errorf("%s:%d: unknown field %q (known fields: %s)",
				file, key.Line, key.Value, strings.Join(sortedKeys(fields), ", "))
		}
		if err := checkKeys(file, n.Content[i+1], ft); err != nil {
			return err
		}
	}
	return nil
}

// yamlFields maps the yaml keys of struct t, inline fields included, to
// their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range yamlFields(ft) {
					out[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func sortedKeys(m map[string]reflect.Type) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// decodeError is yamlError for a failed decode of n into a value of type
// into. Errors of custom unmarshalers, such as a bad duration, carry no
// line; for them it finds the value that fails and names its line.
func decodeError(file string, err error, n *yaml.Node, into reflect.Type) error {
	var te *yaml.TypeError
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if errors.As(err, &te) || yamlLine.MatchString(msg) {
		return yamlError(file, err)
	}
	if line := lineOfFailure(n, into); line > 0 {
		return fmt.Errorf("%s:%d: %s", file, line, msg)
	}
	return yamlError(file, err)
}

// lineOfFailure returns the line of the deepest value in n that fails to
// decode into its field of t, 0 if none does.
func lineOfFailure(n *yaml.Node, t reflect.Type) int {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return lineOfFailure(n.Content[0], t)
	}
	var kids []*yaml.Node
	var types []reflect.Type
	switch {
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for _, item := range n.Content {
			kids, types = append(kids, item), append(types, t.Elem())
		}
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			if ft, ok := fields[n.Content[i].Value]; ok {
				kids, types = append(kids, n.Content[i+1]), append(types, ft)
			}
		}
	}
	for i, kid := range kids {
		if kid.Decode(reflect.New(types[i]).Interface()) == nil {
			continue
		}
		if line := lineOfFailure(kid, types[i]); line > 0 {
			return line
		}
		return kid.Line
	}
	return 0
}
