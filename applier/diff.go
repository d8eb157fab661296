package applier

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// errNeedsDocument means a $v:2 diff cannot be expressed as $set/$unset
// (array truncation, binary patches, literal dotted or $-prefixed field
// names): it is applied to the fetched document instead.
var errNeedsDocument = errors.New("diff needs the current document")

// diffToUpdate translates a $v:2 document diff into $set and $unset paths.
func diffToUpdate(diff bson.Raw, prefix string, set, unset *bson.D) error {
	elems, err := diff.Elements()
	if err != nil {
		return err
	}
	for _, el := range elems {
		k := el.Key()
		switch {
		case k == "d":
			if err := addPaths(el.Value(), prefix, unset, true); err != nil {
				return err
			}
		case k == "i":
			// mongod (re)places inserted fields at the end, in diff order;
			// $set keeps an existing field's place and sorts new ones.
			return errNeedsDocument
		case k == "u":
			if err := addPaths(el.Value(), prefix, set, false); err != nil {
				return err
			}
		case k == "b":
			return errNeedsDocument
		case strings.HasPrefix(k, "s"):
			field := k[1:]
			if !plainField(field) {
				return errNeedsDocument
			}
			sub, ok := el.Value().DocumentOK()
			if !ok {
				return fmt.Errorf("diff section %q is not a document", k)
			}
			if err := subDiff(sub, prefix+field, set, unset); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown diff section %q", k)
		}
	}
	return nil
}

// subDiff handles an "s<field>" sub-diff: an array diff or a document diff.
func subDiff(sub bson.Raw, path string, set, unset *bson.D) error {
	if isArr, _ := sub.Lookup("a").BooleanOK(); isArr {
		return arrayDiff(sub, path, set, unset)
	}
	return diffToUpdate(sub, path+".", set, unset)
}

func arrayDiff(sub bson.Raw, path string, set, unset *bson.D) error {
	elems, err := sub.Elements()
	if err != nil {
		return err
	}
	for _, el := range elems {
		k := el.Key()
		switch {
		case k == "a":
		case k == "l":
			return errNeedsDocument // truncation has no $set/$unset form
		case strings.HasPrefix(k, "u"):
			if _, err := strconv.Atoi(k[1:]); err != nil {
				return fmt.Errorf("bad array diff key %q", k)
			}
			*set = append(*set, bson.E{Key: path + "." + k[1:], Value: el.Value()})
		case strings.HasPrefix(k, "s"):
			if _, err := strconv.Atoi(k[1:]); err != nil {
				return fmt.Errorf("bad array diff key %q", k)
			}
			d, ok := el.Value().DocumentOK()
			if !ok {
				return fmt.Errorf("array diff section %q is not a document", k)
			}
			if err := subDiff(d, path+"."+k[1:], set, unset); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown array diff section %q", k)
		}
	}
	return nil
}

// addPaths appends a d or u section's fields as prefixed paths: with the
// value true for $unset (isUnset), with their new values for $set.
func addPaths(section bson.RawValue, prefix string, out *bson.D, isUnset bool) error {
	d, ok := section.DocumentOK()
	if !ok {
		return fmt.Errorf("diff section is %s, not a document", section.Type)
	}
	fields, err := d.Elements()
	if err != nil {
		return err
	}
	for _, f := range fields {
		if !plainField(f.Key()) {
			return errNeedsDocument
		}
		var v any = f.Value()
		if isUnset {
			v = true
		}
		*out = append(*out, bson.E{Key: prefix + f.Key(), Value: v})
	}
	return nil
}

// plainField is a field name usable in a $set path.
func plainField(f string) bool {
	return f != "" && !strings.Contains(f, ".") && !strings.HasPrefix(f, "$")
}
