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
