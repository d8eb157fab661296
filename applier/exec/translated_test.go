package exec_test

import (
	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// The tests of package exec_test feed the Executor what the translator
// (package applier) makes of oplog entries built here.

func quietLog() logrus.FieldLogger { return testlog.Quiet() }

func entry(ts uint32, op, ns string, ui []byte, o bson.D) bson.D {
	e := bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700200000 + ts, I: 1}}, {Key: "t", Value: int64(1)},
		{Key: "op", Value: op}, {Key: "ns", Value: ns}}
	if ui != nil {
		e = append(e, bson.E{Key: "ui", Value: bson.Binary{Subtype: 4, Data: ui}})
	}
	return append(e, bson.E{Key: "o", Value: o})
}
