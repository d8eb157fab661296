package mongoerr

import (
	"errors"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Server error codes mongo-sync tests for, named as mongod names them in
// src/mongo/base/error_codes.yml (repository mongodb/mongo).
const (
	InternalError                      = 1
	Unauthorized                       = 13
	NamespaceNotFound                  = 26
	IndexNotFound                      = 27
	NamespaceExists                    = 48
	MaxTimeMSExpired                   = 50
	CommandNotFound                    = 59
	WriteConcernFailed                 = 64 // WriteConcernTimeout since 7.x: w not reached within wtimeout
	IndexAlreadyExists                 = 68
	FailedToSatisfyReadPreference      = 133
	ReadConcernMajorityNotAvailableYet = 134
	ReadConcernMajorityNotEnabled      = 148
	NotImplemented                     = 238
)

// transient lists the codes of server errors that a later attempt of the
// same command may not meet, each checked against error_codes.yml:
//
//   - the codes there in the RetriableError category, which mongod itself
//     marks RetryableWriteError, but only on a retryable write (one sent
//     with a txnNumber) or a transaction's commit (src/mongo/db/
//     error_labels.cpp, isRetryableWriteError): the raw commands of the
//     applier and the copier carry no txnNumber, so they never get the
//     label and are retried by code;
//   - codes outside that category that still pass with time: a write
//     concern not met in wtimeout, a maxTimeMS run out, no member matching
//     the read preference during an election, and the legacy "not master"
//     of servers before 4.2 (the driver's notPrimaryCodes,
//     x/mongo/driver/errors.go of mongodb/mongo-go-driver).
//
// Retrying is safe for every command the stages send: each is idempotent
// when sent again (the applier replays entries over any later state of the
// destination by its re-application rules, applier/exec/reapply.go), and
// one whose write happened but whose write concern timed out (64) is
// applied once more, harmlessly.
var transient = map[int]string{
	6:        "HostUnreachable",                              // NetworkError, RetriableError
	7:        "HostNotFound",                                 // NetworkError, RetriableError
	50:       "MaxTimeMSExpired",                             // Interruption, ExceededTimeLimitError
	64:       "WriteConcernFailed",                           // WriteConcernError (w not reached in wtimeout)
	89:       "NetworkTimeout",                               // NetworkError, RetriableError
	91:       "ShutdownInProgress",                           // ShutdownError, RetriableError
	133:      "FailedToSatisfyReadPreference",                // no category: no member to read from, e.g. during an election
	134:      "ReadConcernMajorityNotAvailableYet",           // RetriableError
	189:      "PrimarySteppedDown",                           // NotPrimaryError, RetriableError
	262:      "ExceededTimeLimit",                            // ExceededTimeLimitError, RetriableError
	402:      "ResourceExhausted",                            // RetriableError
	407:      "PooledConnectionAcquisitionExceededTimeLimit", // RetriableError (mongos)
	412:      "UpdatesStillPending",                          // RetriableError
	453:      "InterruptedDueToReshardingCriticalSection",    // RetriableError
	462:      "IngressRequestRateLimitExceeded",              // SystemOverloadedError, RetriableError
	9001:     "SocketException",                              // NetworkError, RetriableError
	10058:    "LegacyNotPrimary",                             // "not master" before 4.2
	10107:    "NotWritablePrimary",                           // NotPrimaryError, RetriableError
	11600:    "InterruptedAtShutdown",                        // ShutdownError, RetriableError
	11602:    "InterruptedDueToReplStateChange",              // NotPrimaryError, RetriableError
	13435:    "NotPrimaryNoSecondaryOk",                      // NotPrimaryError, RetriableError
	13436:    "NotPrimaryOrSecondary",                        // NotPrimaryError, RetriableError
	91331:    "RetriableRemoteCommandFailure",                // RetriableError
	10045600: "InterruptedDueToFCVChange",                    // RetriableError
}

// The RetriableError codes of error_codes.yml left out of transient, and
// why: 317 ConnectionPoolExpired, 384 ConnectionError and 358
// InternalTransactionNotSupported are InternalOnly or internal
// transactions (never returned to a client command); 406
// MigrationBlockingOperationCoordinatorCleaningUp and 50915
// BackupCursorOpenConflictWithCheckpoint answer commands mongo-sync does
// not send.

// Has reports whether err, or an error it wraps, is a server error carrying
// code: a command error, one of a write command's write errors, or its
// write concern error.
func Has(err error, code int) bool {
	var se mongo.ServerError
	return errors.As(err, &se) && se.HasErrorCode(code)
}

// Transient reports a server error that a later attempt of the same
// command may not meet (see transient). Labels count too: a
// RetryableWriteError label (a retryable write's) is retried. An error
// Permanent reports is never transient, whatever else it carries.
func Transient(err error) bool {
	var se mongo.ServerError
	if !errors.As(err, &se) || Permanent(err) {
		return false
	}
	for code := range transient {
		if se.HasErrorCode(code) {
			return true
		}
	}
	return se.HasErrorLabel("RetryableWriteError")
}

// Permanent reports a server error that no retry can cure, because it
// comes from the deployment's configuration: ReadConcernMajorityNotEnabled
// (148), a server started with enableMajorityReadConcern: false, which
// refuses every majority read (see Explain).
func Permanent(err error) bool {
	return Has(err, ReadConcernMajorityNotEnabled)
}
