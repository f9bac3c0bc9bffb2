package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/influxdata/telegraf/plugins/inputs"
)

// checkConfig reports what Telegraf's shim would silently ignore in the
// plugin config file: keys the plugin has no option for (in its table and
// in any of its sub-tables, such as [[inputs.qliksense_sessions.proxy]]),
// tables other than the plugin's, and a second [[inputs.qliksense_sessions]]
// (the shim runs only the first). Each problem is one line of the error.
//
// It decodes the file as shim.LoadConfig does (the same environment variable
// expansion, BurntSushi toml, each input table into a new instance of the
// registered plugin) and then asks the decoder which keys went unused, so
// options the plugin gains later need no change here. Files the shim cannot
// read or decode at all pass: the shim reports those itself.
func checkConfig(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil //nolint:nilerr // the shim reads the file next and reports this itself
	}
	data := expandEnvVars(b)
	var conf struct {
		Inputs     map[string][]toml.Primitive
		Processors map[string][]toml.Primitive
		Outputs    map[string][]toml.Primitive
	}
	md, err := toml.Decode(data, &conf)
	if err != nil {
		return escapeError(err)
	}

	var problems []string
	var reported []toml.Key // reported tables: their contents are not listed again
	report := func(key toml.Key, problem, hint string) {
		if line := lineOf(data, &md, key); line > 0 {
			problem += fmt.Sprintf(" (line %d)", line)
		}
		problems = append(problems, problem+": "+hint)
		reported = append(reported, key)
	}

	for _, kind := range []struct {
		name   string
		tables map[string][]toml.Primitive
	}{{"inputs", conf.Inputs}, {"processors", conf.Processors}, {"outputs", conf.Outputs}} {
		for _, name := range slices.Sorted(maps.Keys(kind.tables)) {
			key := toml.Key{kind.name, name}
			creator, ok := inputs.Inputs[name]
			if kind.name != "inputs" || !ok {
				report(key, "unknown table "+tableName(&md, key), unknownTableHint(kind.name))
				continue
			}
			primitives := kind.tables[name]
			if len(primitives) > 1 {
				report(key, fmt.Sprintf("%d %s tables", len(primitives), tableName(&md, key)),
					"the binary runs only the first; give each its own -config file and [[inputs.execd]]")
				continue
			}
			for _, p := range primitives {
				if err := md.PrimitiveDecode(p, creator()); err != nil {
					return nil //nolint:nilerr // the shim decodes the table next and reports this itself
				}
			}
		}
	}

	seen := make(map[string]bool)
next:
	for _, key := range md.Undecoded() {
		if seen[key.String()] { // the same key in another block of an array of tables
			continue
		}
		seen[key.String()] = true
		for _, r := range reported {
			if hasPrefix(key, r) {
				continue next
			}
		}
		parent := key[:len(key)-1]
		what := fmt.Sprintf("key %q", key[len(key)-1])
		if isTable(&md, key) {
			what = "table " + tableName(&md, key)
		}
		where := "at the top level"
		if len(parent) > 0 {
			where = "in " + tableName(&md, parent)
		}
		hint := "check its spelling against sample.conf"
		if len(parent) == 2 && parent[0] == "inputs" && telegrafPluginOptions[key[len(key)-1]] {
			hint = "Telegraf's execd shim does not apply its general plugin options: set it on [[inputs.execd]] in telegraf.conf"
		} else if len(parent) == 0 {
			hint = "this file holds only the plugin's own [[inputs.qliksense_sessions]] table; Telegraf's settings go in telegraf.conf"
		}
		report(key, "unknown "+what+" "+where, hint)
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "\n"))
}

// escapeError explains TOML's "invalid escape" of a Windows path in double
// quotes, naming the key; other decode errors give nil: the shim decodes
// the file next and reports them itself, with their position.
func escapeError(err error) error {
	var perr toml.ParseError
	if !errors.As(err, &perr) || !strings.HasPrefix(perr.Message, "invalid escape") {
		return nil
	}
	name, where := perr.LastKey, "at the top level"
	if i := strings.LastIndex(name, "."); i >= 0 {
		name, where = name[i+1:], "in "+name[:i]
	}
	return fmt.Errorf("key %q %s (line %d): %s: in double quotes a backslash starts an escape: "+
		"write Windows paths in single quotes, e.g. %s = 'C:\\ProgramData\\...', or double every backslash",
		name, where, perr.Position.Line, perr.Message, name)
}

// expandEnvVars is the shim's expansion of $VAR and ${VAR} (with the value's
// quotes and backslashes escaped), which happens before the TOML is parsed.
func expandEnvVars(b []byte) string {
	escaper := strings.NewReplacer(`"`, `\"`, `\`, `\\`)
	return os.Expand(string(b), func(key string) string { return escaper.Replace(os.Getenv(key)) })
}

func unknownTableHint(kind string) string {
	if kind == "inputs" {
		return "the plugin's table is [[inputs.qliksense_sessions]]"
	}
	return "this file holds only the plugin's own [[inputs.qliksense_sessions]] table; " + kind + " go in telegraf.conf"
}

// telegrafPluginOptions are the options Telegraf applies to every input
// (config.missingTomlField); in an execd plugin's own file nothing does.
var telegrafPluginOptions = map[string]bool{
	"alias": true, "always_include_local_tags": true, "collection_jitter": true, "collection_offset": true,
	"fielddrop": true, "fieldexclude": true, "fieldinclude": true, "fieldpass": true,
	"interval": true, "log_level": true, "metricpass": true,
	"name_override": true, "name_prefix": true, "name_suffix": true, "namedrop": true, "namepass": true,
	"precision": true, "startup_error_behavior": true,
	"tagdrop": true, "tagexclude": true, "taginclude": true, "tagpass": true, "tags": true,
}

func isTable(md *toml.MetaData, key toml.Key) bool {
	t := md.Type(key...)
	return t == "Hash" || t == "ArrayHash"
}

// tableName is how the file names a table: [a.b] or [[a.b]] (also for
// b = [{...}], an array of inline tables).
func tableName(md *toml.MetaData, key toml.Key) string {
	if t := md.Type(key...); t == "ArrayHash" || t == "Array" {
		return "[[" + key.String() + "]]"
	}
	return "[" + key.String() + "]"
}

func hasPrefix(key, prefix toml.Key) bool {
	if len(prefix) > len(key) {
		return false
	}
	for i := range prefix {
		if key[i] != prefix[i] {
			return false
		}
	}
	return true
}

// lineOf is the line on which key is defined (its last definition when it
// recurs in an array of tables), or 0. BurntSushi toml keeps key positions
// to itself but puts them in decode errors, so this decodes the file into a
// type built to fail at exactly that key.
func lineOf(data string, md *toml.MetaData, key toml.Key) int {
	t := reflect.TypeFor[lineProbe]()
	for i := len(key) - 1; i >= 0; i-- {
		if i < len(key)-1 {
			switch md.Type(key[:i+1]...) {
			case "ArrayHash", "Array":
				t = reflect.SliceOf(t)
			case "Hash", "": // "": a table implied by [a.b] or a.b = 1
			default:
				return 0
			}
		}
		t = reflect.StructOf([]reflect.StructField{{
			Name: "F",
			Type: t,
			Tag:  reflect.StructTag("toml:" + strconv.Quote(key[i])),
		}})
	}
	_, err := toml.Decode(data, reflect.New(t).Interface())
	var perr toml.ParseError
	if !errors.As(err, &perr) || perr.Message != errLineProbe.Error() || perr.LastKey != key.String() {
		return 0
	}
	return perr.Position.Line
}

type lineProbe struct{}

var errLineProbe = errors.New("line probe")

func (lineProbe) UnmarshalTOML(any) error { return errLineProbe }
