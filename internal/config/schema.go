package config

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"
)

// kind is how a Config field is decoded from YAML and parsed from the
// environment. Every field of Config, recursively, must be one of these;
// TestSchemaSupported enforces it.
type kind int

const (
	kindUnsupported kind = iota
	kindString           // string
	kindInt              // int
	kindFloat            // float64
	kindBool             // bool
	kindBoolPtr          // *bool (nil = unset)
	kindFloatPtr         // *float64 (nil = unset, so 0 can be set)
	kindDuration         // time.Duration, written as a Go duration string
	kindStrings          // []string
	kindStructs          // []struct (a list of mappings)
	kindStruct           // struct (a mapping)
	kindValue            // Value: a scalar or list whose type another setting gives
)

var (
	durationType = reflect.TypeFor[time.Duration]()
	valueType    = reflect.TypeFor[Value]()
)

func kindOf(t reflect.Type) kind {
	switch t {
	case durationType:
		return kindDuration
	case valueType:
		return kindValue
	}
	switch t.Kind() {
	case reflect.String:
		return kindString
	case reflect.Int:
		return kindInt
	case reflect.Float64:
		return kindFloat
	case reflect.Bool:
		return kindBool
	case reflect.Pointer:
		switch t.Elem().Kind() {
		case reflect.Bool:
			return kindBoolPtr
		case reflect.Float64:
			return kindFloatPtr
		}
	case reflect.Slice:
		switch t.Elem().Kind() {
		case reflect.String:
			return kindStrings
		case reflect.Struct:
			return kindStructs
		}
	case reflect.Struct:
		return kindStruct
	}
	return kindUnsupported
}

// field is one yaml-tagged field of a config struct.
type field struct {
	name  string // yaml name
	index int    // index in the struct
	typ   reflect.Type
	kind  kind
}

var fieldCache sync.Map // reflect.Type -> []field

// fieldsOf lists the yaml-tagged fields of struct type t in declaration
// order. Fields without a yaml tag, or tagged "-", are not configuration.
func fieldsOf(t reflect.Type) []field {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.([]field)
	}
	var fs []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("yaml")
		if !ok || !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || name == "" {
			continue
		}
		fs = append(fs, field{name: name, index: i, typ: sf.Type, kind: kindOf(sf.Type)})
	}
	fieldCache.Store(t, fs)
	return fs
}

// leafPaths lists every settable key path of Config, with "[i]" standing
// for a list index, e.g. "upstreams[i].match.host". Used by the env
// resolver's suggestions and by tests that keep the docs complete.
func leafPaths() []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for _, f := range fieldsOf(t) {
			p := joinPath(prefix, f.name)
			switch f.kind {
			case kindStruct:
				walk(f.typ, p)
			case kindStructs:
				walk(f.typ.Elem(), p+"[i]")
			default:
				out = append(out, p)
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return out
}

func joinPath(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func indexPath(prefix string, i int) string {
	return fmt.Sprintf("%s[%d]", prefix, i)
}
