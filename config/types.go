package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Duration is a time.Duration written as a string ("1s", "500ms").
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (e.g. \"1s\", \"500ms\")", b)
	}
	*d = Duration(v)
	return nil
}

// D is the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// ByteSize is a size in bytes, written as an integer or a string with a unit
// ("64MiB", "1GB", "512KiB").
type ByteSize int64

// UnmarshalTOML accepts an integer or a string with a unit.
func (s *ByteSize) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case int64:
		if v < 0 {
			return fmt.Errorf("size %d is negative", v)
		}
		*s = ByteSize(v)
		return nil
	case string:
		n, err := ParseByteSize(v)
		if err != nil {
			return err
		}
		*s = n
		return nil
	}
	return fmt.Errorf("size must be an integer or a string like \"64MiB\", got %T", v)
}

// ParseByteSize parses "123", "64KiB", "64MiB", "1GiB", "1GB", "10MB".
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 1048576, \"64MiB\", \"1GB\")", s)
	}
	return ByteSize(n * mult), nil
}

func (s ByteSize) String() string {
	switch {
	case s >= 1<<30 && s%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", s>>30)
	case s >= 1<<20 && s%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", s>>20)
	case s >= 1<<10 && s%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", s>>10)
	}
	return strconv.FormatInt(int64(s), 10)
}

// Optime is an oplog position: py-mongo-sync's seconds, or "T,I".
type Optime bson.Timestamp

// UnmarshalTOML accepts seconds (integer) or a "T,I" string.
func (o *Optime) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case int64:
		if v <= 0 || v > 1<<32-1 {
			return fmt.Errorf("optime %d is not a time in seconds", v)
		}
		*o = Optime{T: uint32(v)}
		return nil
	case string:
		t, err := ParseOptime(v)
		if err != nil {
			return err
		}
		*o = t
		return nil
	}
	return fmt.Errorf("optime must be seconds or \"T,I\", got %T", v)
}

// ParseOptime parses seconds ("1700000000") or "T,I" ("1700000000,3").
func ParseOptime(s string) (Optime, error) {
	ts, inc, hasInc := strings.Cut(strings.TrimSpace(s), ",")
	t, err := strconv.ParseUint(strings.TrimSpace(ts), 10, 32)
	if err != nil || t == 0 {
		return Optime{}, fmt.Errorf("optime %q: want seconds since the epoch, or \"T,I\"", s)
	}
	o := Optime{T: uint32(t)}
	if hasInc {
		i, err := strconv.ParseUint(strings.TrimSpace(inc), 10, 32)
		if err != nil {
			return Optime{}, fmt.Errorf("optime %q: increment is not a number", s)
		}
		o.I = uint32(i)
	}
	return o, nil
}

// TS is the optime as a BSON timestamp.
func (o Optime) TS() bson.Timestamp { return bson.Timestamp(o) }

func (o Optime) String() string { return fmt.Sprintf("%d,%d", o.T, o.I) }

// Coll selects a collection and, optionally, the fields synced. In TOML it
// is a string ("coll") or a table ({coll = "c", fields = ["a", "b"]}).
type Coll struct {
	Coll   string
	Fields []string
}

// UnmarshalTOML accepts a string or a {coll, fields} table.
func (c *Coll) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		c.Coll = v
		return nil
	case map[string]any:
		for k, val := range v {
			switch k {
			case "coll":
				s, ok := val.(string)
				if !ok {
					return fmt.Errorf("colls.coll must be a string, got %T", val)
				}
				c.Coll = s
			case "fields":
				arr, ok := val.([]any)
				if !ok {
					return fmt.Errorf("colls.fields must be an array of strings, got %T", val)
				}
				for _, f := range arr {
					s, ok := f.(string)
					if !ok {
						return fmt.Errorf("colls.fields must be an array of strings, found %T", f)
					}
					c.Fields = append(c.Fields, s)
				}
			default:
				return fmt.Errorf("unknown key colls.%s (want coll, fields)", k)
			}
		}
		if c.Coll == "" {
			return fmt.Errorf("colls entry has no coll")
		}
		return nil
	}
	return fmt.Errorf("colls entries must be strings or {coll, fields} tables, got %T", v)
}
