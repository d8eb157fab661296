package applier

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func idOf(t *testing.T, v any) bson.RawValue {
	t.Helper()
	typ, data, err := bson.MarshalValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return bson.RawValue{Type: typ, Value: data}
}
