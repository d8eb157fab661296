package mongoerr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/drivertest"
)

// Codes and categories from mongodb/mongo src/mongo/base/error_codes.yml;
// labels from src/mongo/db/error_labels.cpp (RetryableWriteError only on a
// retryable write or a transaction's commit/abort, for RetriableError codes:
// the raw commands mongo-sync sends get none, so codes decide).
func TestTransient(t *testing.T) {
	wce := func(code int, name, msg string) error {
		return mongo.WriteException{WriteConcernError: &mongo.WriteConcernError{Code: code, Name: name, Message: msg}}
	}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		// The four issue #22 names.
		{"wtimeout as a write concern error", wce(64, "WriteConcernFailed", "waiting for replication timed out"), true},
		{"wtimeout as a command error", mongo.CommandError{Code: 64, Name: "WriteConcernFailed"}, true},
		{"maxTimeMS expired", mongo.CommandError{Code: 50, Name: "MaxTimeMSExpired", Message: "operation exceeded time limit"}, true},
		{"maxTimeMS expired as a write error", mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: 50}}}, true},
		{"no member matches the read preference", mongo.CommandError{Code: 133, Name: "FailedToSatisfyReadPreference"}, true},
		{"majority snapshot not available yet", mongo.CommandError{Code: 134, Name: "ReadConcernMajorityNotAvailableYet"}, true},
		// The RetriableError category, and the legacy not-primary code.
		{"not writable primary", mongo.CommandError{Code: 10107, Name: "NotWritablePrimary"}, true},
		{"legacy not master", mongo.CommandError{Code: 10058, Name: "LegacyNotPrimary", Message: "not master"}, true},
		{"stepped down", mongo.CommandError{Code: 189}, true},
		{"interrupted by a state change", mongo.CommandError{Code: 11602}, true},
		{"shutting down, as a write concern error", wce(91, "ShutdownInProgress", "Replication is being shut down"), true},
		{"resource exhausted", mongo.CommandError{Code: 402}, true},
		{"wrapped", fmt.Errorf("seq 7: %w", mongo.CommandError{Code: 262}), true},
		{"RetryableWriteError label on another code", mongo.CommandError{Code: 1, Labels: []string{"RetryableWriteError"}}, true},
		// Not transient.
		{"majority reads disabled", mongo.CommandError{Code: 148, Name: "ReadConcernMajorityNotEnabled"}, false},
		{"majority reads disabled, even labelled", mongo.CommandError{Code: 148, Labels: []string{"RetryableWriteError"}}, false},
		{"unauthorized", mongo.CommandError{Code: 13, Name: "Unauthorized"}, false},
		{"duplicate key", mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: 11000}}}, false},
		{"unknown write concern", wce(79, "UnknownReplWriteConcern", "unrecognized write concern mode"), false},
		{"bad value", mongo.CommandError{Code: 2}, false},
		{"not a server error", errors.New("waiting for replication timed out"), false},
		{"nil", nil, false},
	} {
		if got := Transient(c.err); got != c.want {
			t.Errorf("%s: Transient = %v, want %v", c.name, got, c.want)
		}
	}
}

// The codes of transient carry the names error_codes.yml gives them (64 by
// its name before 7.x).
func TestTransient_NamesMatchTheCodes(t *testing.T) {
	for code, name := range map[int]string{MaxTimeMSExpired: "MaxTimeMSExpired", WriteConcernFailed: "WriteConcernFailed",
		FailedToSatisfyReadPreference:      "FailedToSatisfyReadPreference",
		ReadConcernMajorityNotAvailableYet: "ReadConcernMajorityNotAvailableYet"} {
		if transient[code] != name {
			t.Errorf("code %d: transient names it %q, want %q", code, transient[code], name)
		}
	}
	if _, ok := transient[ReadConcernMajorityNotEnabled]; ok {
		t.Error("148 is listed as transient")
	}
}

// A write concern timeout as mongod sends it, inside an ok: 1 reply
// (src/mongo/db/repl/replication_coordinator_impl.cpp: WriteConcernFailed,
// "waiting for replication timed out"; errInfo.wtimeout from
// src/mongo/db/write_concern.cpp), decoded by the driver from the wire, is
// transient: the write happened on the primary, sending it again is harmless.
func TestTransient_WriteConcernTimeoutFromTheWire(t *testing.T) {
	md := drivertest.NewMockDeployment(bson.D{{Key: "ok", Value: 1}, {Key: "n", Value: 1},
		{Key: "writeConcernError", Value: bson.D{{Key: "code", Value: 64}, {Key: "codeName", Value: "WriteConcernFailed"},
			{Key: "errmsg", Value: "waiting for replication timed out"},
			{Key: "errInfo", Value: bson.D{{Key: "wtimeout", Value: true}}}}}})
	opts := options.Client()
	opts.Deployment = md //nolint:staticcheck // the driver's mock deployment answers with a recorded reply
	client, err := mongo.Connect(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	err = client.Database("shop").RunCommand(context.Background(), bson.D{{Key: "insert", Value: "orders"},
		{Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 1}}}}}).Err()
	if err == nil {
		t.Fatal("an ok: 1 reply with a writeConcernError came back as no error")
	}
	if !Transient(err) {
		t.Fatalf("%T %v: not transient", err, err)
	}
}

func TestExplain_MajorityReadsDisabled(t *testing.T) {
	// mongod's answer to a majority read on a 4.4 member started with
	// enableMajorityReadConcern: false (src/mongo/db/repl/
	// replication_coordinator_impl.cpp; the 4.4 manual, "Read Concern
	// majority", "Disable Read Concern Majority").
	server := mongo.CommandError{Code: 148, Name: "ReadConcernMajorityNotEnabled",
		Message: "Majority read concern requested, but server was not started with --enableMajorityReadConcern."}
	err := Explain(fmt.Errorf("count shop.orders: %w", server))
	if !errors.Is(err, ErrNoMajorityReads) {
		t.Fatalf("Explain(148) = %v, not ErrNoMajorityReads", err)
	}
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != 148 {
		t.Fatalf("Explain(148) lost the server's error: %v", err)
	}
	for _, want := range []string{"enableMajorityReadConcern: false", "majority-committed", "count shop.orders"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	if again := Explain(err); again != err {
		t.Errorf("explained twice: %v", again)
	}
	other := fmt.Errorf("x: %w", mongo.CommandError{Code: 2})
	if got := Explain(other); got != other {
		t.Errorf("Explain changed another error: %v", got)
	}
	if Explain(nil) != nil {
		t.Error("Explain(nil) is not nil")
	}
}

func TestNeedPrivilege(t *testing.T) {
	server := mongo.CommandError{Code: 13, Name: "Unauthorized", Message: "Insufficient permissions to list all databases"}
	err := NeedPrivilege(server, "listDatabases", "the listDatabases action on the cluster")
	var pe *PrivilegeError
	if !errors.As(err, &pe) || pe.Command != "listDatabases" || !Has(err, Unauthorized) {
		t.Fatalf("NeedPrivilege(13) = %v", err)
	}
	if other := NeedPrivilege(mongo.CommandError{Code: 2}, "x", "y"); errors.As(other, &pe) {
		t.Errorf("NeedPrivilege made a privilege error of code 2: %v", other)
	}
}
