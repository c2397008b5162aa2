package config

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/am-fanout/am-fanout/core"
)

// fallbackSites holds where each fallback entry is written, as
// "file:line", by target name and entry, for the errors of
// checkFallbacks.
type fallbackSites map[string][]string

// note records the places of t's fallback entries, written in n.
func (s fallbackSites) note(t *core.Target, n *yaml.Node, file string) {
	list := child(n, "fallback")
	at := make([]string, len(t.Fallback))
	for i := range at {
		line := n.Line
		if list != nil {
			line = list.Line
			if e := child(list, fmt.Sprint(i)); e != nil {
				line = e.Line
			}
		}
		at[i] = fmt.Sprintf("%s:%d", file, line)
	}
	s[t.Name] = at
}

// checkFallbacks checks the fallback lists of the whole set of targets:
// each names a target, once, and no chain of fallbacks leads back to where
// it started, so that a dead letter's hand-overs always end.
func checkFallbacks(ts []*core.Target, sites fallbackSites) error {
	byName := make(map[string]*core.Target, len(ts))
	for _, t := range ts {
		byName[t.Name] = t
	}
	for _, t := range ts {
		seen := map[string]bool{}
		for i, f := range t.Fallback {
			switch {
			case byName[f] == nil:
				return fmt.Errorf("%s: target %q: fallback %q is not a target", sites[t.Name][i], t.Name, f)
			case seen[f]:
				return fmt.Errorf("%s: target %q: fallback %q is listed twice", sites[t.Name][i], t.Name, f)
			}
			seen[f] = true
		}
	}
	const (
		unvisited = iota
		onPath
		done
	)
	state := make(map[string]int, len(ts))
	var path []fallbackStep
	var visit func(t *core.Target) error
	visit = func(t *core.Target) error {
		state[t.Name] = onPath
		for i, f := range t.Fallback {
			at := sites[t.Name][i]
			switch state[f] {
			case onPath:
				return loopError(t.Name, f, at, path)
			case unvisited:
				path = append(path, fallbackStep{f, at})
				if err := visit(byName[f]); err != nil {
					return err
				}
				path = path[:len(path)-1]
			}
		}
		state[t.Name] = done
		return nil
	}
	for _, t := range ts {
		if state[t.Name] != unvisited {
			continue
		}
		path = []fallbackStep{{name: t.Name}}
		if err := visit(t); err != nil {
			return err
		}
	}
	return nil
}

// fallbackStep is a target on the path of visits, with the place of the
// fallback entry that led to it (none for the first).
type fallbackStep struct{ name, at string }

// loopError names the loop that the entry at at, from target from to
// target to, closes: the targets on path from to onwards, each with the
// place of the entry that leads to it.
func loopError(from, to, at string, path []fallbackStep) error {
	start := 0
	for i, s := range path {
		if s.name == to {
			start = i
		}
	}
	var b strings.Builder
	b.WriteString(to)
	for _, s := range path[start+1:] {
		fmt.Fprintf(&b, " → %s (%s)", s.name, s.at)
	}
	fmt.Fprintf(&b, " → %s (%s)", to, at)
	return fmt.Errorf("%s: target %q: fallback %q makes a loop: %s; a fallback's dead letters must not come back to it", at, from, to, b.String())
}
