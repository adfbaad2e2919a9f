package template

import (
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode"
)

// funcs returns the template functions. now is bound per render.
func funcs(now func() time.Time) map[string]any {
	return map[string]any{
		"default": defaultFunc,
		"upper":   func(v any) string { return strings.ToUpper(toString(v)) },
		"lower":   func(v any) string { return strings.ToLower(toString(v)) },
		"title":   title,
		"trim":    func(v any) string { return strings.TrimSpace(toString(v)) },
		"join":    join,
		"replace": func(old, new string, v any) string { return strings.ReplaceAll(toString(v), old, new) },
		"now":     now,
		"date":    date,
		"index":   index,
	}
}

// toString prints a value as a template would, but nil as "".
func toString(v any) string {
	switch s := v.(type) {
	case nil:
		return ""
	case string:
		return s
	}
	return fmt.Sprint(v)
}

// empty reports whether v counts as not set for default: nil, "", or an
// empty list or map. Zero numbers and false are values.
func empty(v any) bool {
	if v == nil {
		return true
	}
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.String, reflect.Slice, reflect.Map, reflect.Array:
		return r.Len() == 0
	case reflect.Pointer, reflect.Interface:
		return r.IsNil()
	}
	return false
}

func defaultFunc(def, v any) any {
	if empty(v) {
		return def
	}
	return v
}

// title upper-cases the first letter of each word and leaves the others as
// they are. A word starts after anything but a letter, digit, mark or
// apostrophe, so "mary-jane o'neil" becomes "Mary-Jane O'neil".
func title(v any) string {
	s := toString(v)
	var b strings.Builder
	b.Grow(len(s))
	inWord := false
	for _, r := range s {
		if !inWord && unicode.IsLetter(r) {
			r = unicode.ToTitle(r)
		}
		inWord = unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || r == '\'' || r == '’'
		b.WriteRune(r)
	}
	return b.String()
}

// join joins the elements of a list with a separator: "join SEP LIST" or
// "LIST | join SEP"; "join LIST SEP" works too. A value that is not a list
// is a list of one.
func join(a, b any) string {
	sep, list := a, b
	if isList(a) && !isList(b) {
		sep, list = b, a
	}
	if list == nil {
		return ""
	}
	r := reflect.ValueOf(list)
	if !isList(list) {
		return toString(list)
	}
	parts := make([]string, r.Len())
	for i := range parts {
		parts[i] = toString(r.Index(i).Interface())
	}
	return strings.Join(parts, toString(sep))
}

func isList(v any) bool {
	if v == nil {
		return false
	}
	k := reflect.TypeOf(v).Kind()
	return k == reflect.Slice || k == reflect.Array
}

// date formats a time with a Go layout ("2006-01-02"). It takes a
// time.Time or a string in RFC 3339 or YYYY-MM-DD form; "" gives "".
func date(layout string, v any) (string, error) {
	switch t := v.(type) {
	case time.Time:
		return t.Format(layout), nil
	case *time.Time:
		if t == nil {
			return "", nil
		}
		return t.Format(layout), nil
	case string:
		if t == "" {
			return "", nil
		}
		for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", time.DateOnly} {
			if p, err := time.Parse(l, t); err == nil {
				return p.Format(layout), nil
			}
		}
		return "", fmt.Errorf("%q is not a date: want RFC 3339 (2006-01-02T15:04:05Z) or 2006-01-02", t)
	case nil:
		return "", nil
	}
	return "", fmt.Errorf("a %T is not a date", v)
}

// index is text/template's index, except that a key a map lacks, an index
// past the end of a list and a nil anywhere on the way give "" instead of
// an error or "<no value>": it reads a field that may be absent.
func index(item any, keys ...any) (any, error) {
	v := reflect.ValueOf(item)
	for _, k := range keys {
		for v.IsValid() && (v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer) {
			if v.IsNil() {
				return "", nil
			}
			v = v.Elem()
		}
		if !v.IsValid() {
			return "", nil
		}
		switch v.Kind() {
		case reflect.Map:
			kv, err := mapKey(k, v.Type().Key())
			if err != nil {
				return nil, err
			}
			v = v.MapIndex(kv)
		case reflect.Slice, reflect.Array:
			i, err := listIndex(k)
			if err != nil {
				return nil, err
			}
			if i < 0 || i >= v.Len() {
				return "", nil
			}
			v = v.Index(i)
		default:
			return nil, fmt.Errorf("can't index item of type %s", v.Type())
		}
	}
	if !v.IsValid() || (v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer) && v.IsNil() {
		return "", nil
	}
	return v.Interface(), nil
}

func mapKey(k any, t reflect.Type) (reflect.Value, error) {
	v := reflect.ValueOf(k)
	switch {
	case !v.IsValid():
		return reflect.Value{}, fmt.Errorf("index of nil key")
	case v.Type().AssignableTo(t):
		return v, nil
	case v.Kind() == reflect.String && t.Kind() == reflect.String,
		v.CanInt() && (t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64):
		return v.Convert(t), nil
	}
	return reflect.Value{}, fmt.Errorf("index key has type %s; want %s", v.Type(), t)
}

func listIndex(k any) (int, error) {
	v := reflect.ValueOf(k)
	switch {
	case v.CanInt():
		return int(v.Int()), nil
	case v.CanUint():
		if v.Uint() > uint64(^uint(0)>>1) {
			return -1, nil
		}
		return int(v.Uint()), nil
	case v.CanFloat() && v.Float() == float64(int(v.Float())):
		return int(v.Float()), nil
	}
	return 0, fmt.Errorf("cannot index a list with a %T", k)
}
