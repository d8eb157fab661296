package wirecmd

import (
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

func TestWriteConcern(t *testing.T) {
	if el, err := WriteConcern(nil); err != nil || el != nil {
		t.Fatalf("nil write concern: %v %v", el, err)
	}
	if _, err := WriteConcern(writeconcern.Unacknowledged()); err == nil || !strings.Contains(err.Error(), "w:0") {
		t.Fatalf("w:0 accepted: %v", err)
	}
	j := true
	el, err := WriteConcern(&writeconcern.WriteConcern{W: 2, Journal: &j})
	if err != nil {
		t.Fatal(err)
	}
	doc := bsoncore.BuildDocumentFromElements(nil, el)
	if got := bson.Raw(doc).String(); got != `{"writeConcern": {"w": {"$numberInt":"2"},"j": true}}` {
		t.Fatalf("got %s", got)
	}
}

// TestBuilder_BypassDocumentValidation: a Builder with Bypass sets
// bypassDocumentValidation: true on the commands that take it and leaves it
// off delete, which has no such field. MongoDB's manual lists the commands
// that accept it: insert, update, findAndModify, aggregate with $out or
// $merge, applyOps
// (https://www.mongodb.com/docs/manual/core/schema-validation/bypass-document-validation/;
// the fields of delete, https://www.mongodb.com/docs/manual/reference/command/delete/,
// have none). Oplog application writes what the source holds, which may
// break a validator the destination collection carries, as a secondary's
// application does.
func TestBuilder_BypassDocumentValidation(t *testing.T) {
	id := bson.RawValue{Type: bson.TypeInt32, Value: bsoncore.AppendInt32(nil, 1)}
	doc, err := bson.Marshal(bson.D{{Key: "_id", Value: int32(1)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, field string
		add         func(*Builder)
		want        bool // with Bypass
	}{
		{"insert", "documents", func(b *Builder) { b.Insert(doc) }, true},
		{"update", "updates", func(b *Builder) { b.Update(id, doc) }, true},
		{"delete", "deletes", func(b *Builder) { b.Delete(id) }, false},
	} {
		for _, bypass := range []bool{true, false} {
			b := Builder{Bypass: bypass}
			for round := 0; round < 2; round++ { // the buffer is reused
				b.Begin(c.name, "c", c.field, true)
				c.add(&b)
				cmd := b.End(nil)
				if err := cmd.Validate(); err != nil {
					t.Fatalf("%s: invalid BSON: %v", c.name, err)
				}
				v, err := cmd.LookupErr("bypassDocumentValidation")
				switch {
				case bypass && c.want:
					if set, ok := v.BooleanOK(); err != nil || !ok || !set {
						t.Errorf("%s with Bypass: %s; want bypassDocumentValidation: true", c.name, cmd)
					}
				case err == nil:
					t.Errorf("%s (Bypass %v): %s; want no bypassDocumentValidation", c.name, bypass, cmd)
				}
				if first := bson.Raw(cmd).Index(0).Key(); first != c.name {
					t.Errorf("%s: the command's first field is %q", c.name, first)
				}
			}
		}
	}
}
