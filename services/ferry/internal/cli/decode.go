package cli

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

func reflectValue(dst any) reflect.Value {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		panic(fmt.Sprintf("decode into %T: want a non-nil pointer", dst))
	}
	return v.Elem()
}

// decode fills dst from v, a value decoded from JSON with UseNumber. It
// knows the kinds the resource specs use: structs (by json tag), slices,
// pointers to structs, strings, whole numbers and booleans. A null leaves dst as it is.
func (d *decoder) decode(path string, v any, dst reflect.Value) {
	if v == nil {
		return
	}
	switch dst.Kind() {
	case reflect.Pointer:
		elem := reflect.New(dst.Type().Elem())
		d.decode(path, v, elem.Elem())
		dst.Set(elem)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			d.errorf(path, "want a mapping, got %s", describe(v))
			return
		}
		fields := map[string]int{}
		var names []string
		for i := range dst.NumField() {
			name, _, _ := strings.Cut(dst.Type().Field(i).Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			fields[name] = i
			names = append(names, name)
		}
		for _, k := range sortedKeys(m) {
			i, ok := fields[k]
			if !ok {
				d.errorf(path, "unknown key %q (known keys: %s)", k, strings.Join(names, ", "))
				continue
			}
			d.decode(joinPath(path, k), m[k], dst.Field(i))
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			d.errorf(path, "want a list, got %s", describe(v))
			return
		}
		out := reflect.MakeSlice(dst.Type(), len(list), len(list))
		for i, item := range list {
			d.decode(fmt.Sprintf("%s[%d]", path, i), item, out.Index(i))
		}
		dst.Set(out)
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			hint := ""
			if _, scalar := v.(map[string]any); !scalar {
				if _, list := v.([]any); !list {
					hint = " (put it in quotes to make it a string)"
				}
			}
			d.errorf(path, "want a string, got %s%s", describe(v), hint)
			return
		}
		dst.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			d.errorf(path, "want true or false, got %s", describe(v))
			return
		}
		dst.SetBool(b)
	case reflect.Int, reflect.Int32, reflect.Int64:
		num, ok := v.(json.Number)
		if !ok {
			d.errorf(path, "want a whole number, got %s", describe(v))
			return
		}
		n, err := strconv.ParseInt(num.String(), 10, 32)
		if err != nil {
			d.errorf(path, "want a whole number, got %s", num)
			return
		}
		dst.SetInt(n)
	case reflect.Float64:
		num, ok := v.(json.Number)
		if !ok {
			d.errorf(path, "want a number, got %s", describe(v))
			return
		}
		f, err := strconv.ParseFloat(num.String(), 64)
		if err != nil {
			d.errorf(path, "want a number, got %s", num)
			return
		}
		dst.SetFloat(f)
	default:
		panic(fmt.Sprintf("decode %s: unsupported kind %s", path, dst.Kind()))
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
