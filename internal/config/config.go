// Package config loads a command's settings from, in rising precedence:
// defaults, a YAML file (-config), RELAYMESH_<NAME> environment variables and
// command-line flags. Every setting is a flag of one flag.FlagSet, so -h
// documents all of them and the three sources can never disagree on names.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// EnvPrefix is prepended to a flag's upper-cased name, dashes as underscores.
const EnvPrefix = "RELAYMESH_"

// ErrUnknownKey is returned when the YAML file names a setting no flag has.
var ErrUnknownKey = errors.New("unknown configuration key")

// EnvName returns the environment variable that feeds flag name.
func EnvName(name string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Load parses args into fs, then fills every flag not given on the command
// line from the environment (lookupEnv) or, failing that, from the YAML file
// named by the "config" flag. fs must define a string flag "config".
func Load(fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool)) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: settings are given as -name value", fs.Arg(0))
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })

	cfgFlag := fs.Lookup("config")
	if cfgFlag == nil {
		return errors.New("config: flag set has no -config flag")
	}
	path := cfgFlag.Value.String()
	if !explicit["config"] {
		if v, ok := lookupEnv(EnvName("config")); ok {
			path = v
		}
	}
	file := map[string]string{}
	if path != "" {
		var err error
		if file, err = readYAML(fs, path); err != nil {
			return err
		}
	}

	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if explicit[f.Name] || f.Name == "config" {
			return
		}
		if v, ok := lookupEnv(EnvName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, err))
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %s: %q: %w", path, f.Name, v, err))
			}
		}
	})
	return errors.Join(errs...)
}

// readYAML reads a flat mapping of flag names to scalar values. Keys that no
// flag has are an error, so a misspelled setting never passes silently.
func readYAML(fs *flag.FlagSet, path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config file: %w", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(bytes.TrimSpace(raw), &doc); err != nil {
		return nil, fmt.Errorf("parse config file %s: %w", path, err)
	}
	out := make(map[string]string, len(doc))
	var unknown []string
	for k, v := range doc {
		if fs.Lookup(k) == nil || k == "config" {
			unknown = append(unknown, k)
			continue
		}
		switch t := v.(type) {
		case []any:
			parts := make([]string, len(t))
			for i, p := range t {
				parts[i] = fmt.Sprint(p)
			}
			out[k] = strings.Join(parts, ",")
		case map[string]any:
			return nil, fmt.Errorf("config file %s: %s: expected a scalar or a list, got a mapping", path, k)
		case nil:
			out[k] = ""
		case float64:
			out[k] = fmt.Sprint(int64OrFloat(t))
		default:
			out[k] = fmt.Sprint(t)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("config file %s: %w: %s (see -h for the valid names)", path, ErrUnknownKey, strings.Join(unknown, ", "))
	}
	return out, nil
}

// int64OrFloat keeps whole numbers free of exponent notation ("1e+06").
func int64OrFloat(f float64) any {
	if f == float64(int64(f)) {
		return int64(f)
	}
	return f
}
