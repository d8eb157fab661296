package preflight

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mongo-sync/mongo-sync/internal/hello"
	"github.com/mongo-sync/mongo-sync/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Supported is the range of MongoDB versions mongo-sync is written for
// (README, "Preflight"); servers outside it get a warning or a failure.
var (
	minVersion = [2]int{4, 4}
	maxVersion = [2]int{8, 0}
)

// Kind is what a server is, from its hello reply.
type Kind struct {
	Mongos    bool
	ConfigSvr bool
	SetName   string // replica set name; "" for a standalone
	Primary   bool   // isWritablePrimary (hello) or ismaster (isMaster)
	Secondary bool
}

func (k Kind) String() string {
	switch {
	case k.Mongos:
		return "a mongos (sharded cluster)"
	case k.ConfigSvr:
		return fmt.Sprintf("a config server of a sharded cluster (replica set %s)", k.SetName)
	case k.SetName != "" && k.Primary:
		return fmt.Sprintf("the primary of replica set %s", k.SetName)
	case k.SetName != "" && k.Secondary:
		return fmt.Sprintf("a secondary of replica set %s", k.SetName)
	case k.SetName != "":
		return fmt.Sprintf("a member of replica set %s that is neither primary nor secondary", k.SetName)
	}
	return "a standalone server (no replica set)"
}

// parseHello reads the fields of a hello or isMaster reply that say what
// the server is (mongodb/mongo src/mongo/db/repl/hello.idl,
// HelloCommandReply: isWritablePrimary for hello, ismaster for isMaster;
// setName, secondary; msg "isdbgrid" on a mongos; configsvr on a config
// server).
func parseHello(reply bson.Raw) Kind {
	var k Kind
	msg, _ := reply.Lookup("msg").StringValueOK()
	k.Mongos = msg == "isdbgrid"
	_, k.ConfigSvr = reply.Lookup("configsvr").AsInt64OK()
	k.SetName, _ = reply.Lookup("setName").StringValueOK()
	if p, ok := reply.Lookup("isWritablePrimary").BooleanOK(); ok {
		k.Primary = p
	} else {
		k.Primary, _ = reply.Lookup("ismaster").BooleanOK()
	}
	k.Secondary, _ = reply.Lookup("secondary").BooleanOK()
	return k
}

// Version is a server's buildInfo version.
type Version struct {
	Text         string
	Major, Minor int
	// FerretDB is set when the server is FerretDB (the test server), which
	// reports a MongoDB version it imitates.
	FerretDB bool
}

// parseBuildInfo reads buildInfo's version ("8.0.4") and versionArray
// ([8, 0, 4, 0]) (mongodb/mongo src/mongo/db/commands/buildinfo_common.cpp,
// generateBuildInfo; the manual's buildInfo page).
func parseBuildInfo(reply bson.Raw) (Version, error) {
	v := Version{}
	v.Text, _ = reply.Lookup("version").StringValueOK()
	_, v.FerretDB = reply.Lookup("ferretdbVersion").StringValueOK()
	if arr, ok := reply.Lookup("versionArray").ArrayOK(); ok {
		vals, _ := arr.Values()
		if len(vals) >= 2 {
			maj, ok1 := vals[0].AsInt64OK()
			min, ok2 := vals[1].AsInt64OK()
			if ok1 && ok2 {
				v.Major, v.Minor = int(maj), int(min)
				return v, nil
			}
		}
	}
	parts := strings.SplitN(v.Text, ".", 3)
	if len(parts) < 2 {
		return v, fmt.Errorf("buildInfo has no version: %s", reply)
	}
	var err1, err2 error
	v.Major, err1 = strconv.Atoi(parts[0])
	v.Minor, err2 = strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return v, fmt.Errorf("buildInfo version %q is not major.minor.patch", v.Text)
	}
	return v, nil
}

func cmpVersion(maj, min int, to [2]int) int {
	switch {
	case maj != to[0]:
		return maj - to[0]
	default:
		return min - to[1]
	}
}

// versionResult judges a server's version against the supported range.
func versionResult(check string, v Version) Result {
	rng := fmt.Sprintf("%d.%d to %d.%d", minVersion[0], minVersion[1], maxVersion[0], maxVersion[1])
	r := Result{Check: check}
	switch {
	case cmpVersion(v.Major, v.Minor, minVersion) < 0:
		r.Status, r.Detail = Fail, fmt.Sprintf("MongoDB %s is older than %s, the versions mongo-sync supports", v.Text, rng)
		r.Do = "upgrade the server to 4.4 or later"
	case cmpVersion(v.Major, v.Minor, maxVersion) > 0:
		r.Status, r.Detail = Warn, fmt.Sprintf("MongoDB %s is newer than %s, the versions mongo-sync was checked against: its oplog may hold entries mongo-sync does not know", v.Text, rng)
		r.Do = "run a trial sync and `mongo-sync verify` before relying on it"
	default:
		r.Status, r.Detail = OK, fmt.Sprintf("MongoDB %s (supported: %s)", v.Text, rng)
	}
	if v.FerretDB && r.Status != Fail {
		r.Detail += "; the server is FerretDB (the test server), which reports the version it imitates"
	}
	return r
}

// FCV is a featureCompatibilityVersion document.
type FCV struct {
	Version, Target, Previous string
}

// parseFCV reads getParameter's {featureCompatibilityVersion: {version,
// targetVersion?, previousVersion?}} (mongodb/mongo
// src/mongo/db/feature_compatibility_version_document.idl; targetVersion
// is present while an upgrade or downgrade is under way).
func parseFCV(reply bson.Raw) (FCV, error) {
	doc, ok := reply.Lookup("featureCompatibilityVersion").DocumentOK()
	if !ok {
		return FCV{}, fmt.Errorf("getParameter reply has no featureCompatibilityVersion document: %s", reply)
	}
	var f FCV
	f.Version, _ = doc.Lookup("version").StringValueOK()
	f.Target, _ = doc.Lookup("targetVersion").StringValueOK()
	f.Previous, _ = doc.Lookup("previousVersion").StringValueOK()
	if f.Version == "" {
		return f, fmt.Errorf("featureCompatibilityVersion without a version: %s", doc)
	}
	return f, nil
}

func fcvResult(check string, f FCV, v Version) Result {
	r := Result{Check: check, Status: OK, Detail: "featureCompatibilityVersion " + f.Version}
	maj, min, err := majorMinor(f.Version)
	switch {
	case err != nil:
		r.Status, r.Detail = Unknown, err.Error()
	case f.Target != "":
		r.Status = Warn
		r.Detail += fmt.Sprintf(", changing to %s: an upgrade or downgrade is under way", f.Target)
		r.Do = "let the featureCompatibilityVersion change finish (setFeatureCompatibilityVersion) before the sync starts: it changes what the oplog logs"
	case cmpVersion(maj, min, minVersion) < 0:
		r.Status = Fail
		r.Detail += fmt.Sprintf(": below %d.%d, the oldest mongo-sync supports", minVersion[0], minVersion[1])
		r.Do = "raise it with setFeatureCompatibilityVersion"
	case v.Major != 0 && (maj != v.Major || min != v.Minor):
		r.Status = Warn
		r.Detail += fmt.Sprintf(" on a %d.%d server: the server behaves as %s until it is raised", v.Major, v.Minor, f.Version)
		r.Do = "raise it (setFeatureCompatibilityVersion) or plan the sync for the older behaviour; do not change it during the sync"
	}
	return r
}

func majorMinor(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, ".")
	maj, err1 := strconv.Atoi(a)
	min, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("featureCompatibilityVersion %q is not major.minor", s)
	}
	return maj, min, nil
}

// unknown is a check the server could not answer: the server's error says
// why.
func unknown(check, what string, err error, do string) Result {
	return Result{Check: check, Status: Unknown, Detail: fmt.Sprintf("%s: the server did not answer: %v", what, err), Do: do}
}

// notSupported reports a server that lacks a command or feature (the test
// server, a mongos for a mongod-only command): the line then says unknown.
func notSupported(err error) bool {
	var ce mongo.CommandError
	if !errors.As(err, &ce) {
		return false
	}
	switch ce.Code {
	case mongoerr.CommandNotFound, 238 /* NotImplemented */, 115 /* CommandNotSupported */, 72 /* InvalidOptions */, 2 /* BadValue */, 168 /* InvalidPipelineOperator */, 40324 /* unrecognized stage */, 31082:
		return true
	}
	return false
}

// serverChecks says what the server behind c is, its version and its
// featureCompatibilityVersion. It returns the hello reply's Kind and the
// version (zero when unknown).
func serverChecks(ctx context.Context, r *Report, side string, c *mongo.Client) (Kind, Version, bool) {
	raw, _, err := hello.Run(ctx, c)
	if err != nil {
		r.Results = append(r.Results, unknown(side+".kind", "hello", err, ""))
		return Kind{}, Version{}, false
	}
	k := parseHello(raw)
	var v Version
	bi, err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Raw()
	if err == nil {
		v, err = parseBuildInfo(bi)
	}
	if err != nil {
		r.Results = append(r.Results, unknown(side+".version", "buildInfo", err, "make sure the server is MongoDB 4.4 to 8.0"))
	} else {
		r.Results = append(r.Results, versionResult(side+".version", v))
	}
	fr, err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "getParameter", Value: 1}, {Key: "featureCompatibilityVersion", Value: 1}}).Raw()
	var f FCV
	if err == nil {
		f, err = parseFCV(fr)
	}
	switch {
	case err != nil && k.Mongos:
		r.add(side+".fcv", Unknown, fmt.Sprintf("a mongos has no featureCompatibilityVersion of its own (getParameter: %v); each shard's is checked where it is reached", err), "")
	case err != nil:
		r.Results = append(r.Results, unknown(side+".fcv", "getParameter featureCompatibilityVersion", err, ""))
	default:
		r.Results = append(r.Results, fcvResult(side+".fcv", f, v))
	}
	return k, v, true
}
