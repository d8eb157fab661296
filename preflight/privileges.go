package preflight

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// privilege is one entry of connectionStatus' authenticatedUserPrivileges:
// {resource: {db, collection} | {cluster: true} | {anyResource: true},
// actions: [...]}.
type privilege struct {
	db, coll    string
	hasDB       bool // resource names db and collection (possibly "")
	cluster     bool
	anyResource bool
	actions     map[string]bool
}

// Privileges is what connectionStatus {showPrivileges: true} says the
// connection's users may do.
type Privileges struct {
	Users []string // "user@db"; none: authentication is off
	privs []privilege
}

// parsePrivileges reads a connectionStatus reply (mongodb/mongo
// src/mongo/db/commands/connection_status.cpp and connection_status.idl:
// authInfo {authenticatedUsers [{user, db}], authenticatedUserRoles,
// authenticatedUserPrivileges [{resource, actions}]}).
func parsePrivileges(reply bson.Raw) (Privileges, error) {
	info, ok := reply.Lookup("authInfo").DocumentOK()
	if !ok {
		return Privileges{}, fmt.Errorf("connectionStatus reply has no authInfo: %s", reply)
	}
	var p Privileges
	if arr, ok := info.Lookup("authenticatedUsers").ArrayOK(); ok {
		vals, _ := arr.Values()
		for _, v := range vals {
			d, _ := v.DocumentOK()
			u, _ := d.Lookup("user").StringValueOK()
			db, _ := d.Lookup("db").StringValueOK()
			p.Users = append(p.Users, u+"@"+db)
		}
	}
	arr, ok := info.Lookup("authenticatedUserPrivileges").ArrayOK()
	if !ok {
		return p, nil
	}
	vals, _ := arr.Values()
	for _, v := range vals {
		d, ok := v.DocumentOK()
		if !ok {
			continue
		}
		res, _ := d.Lookup("resource").DocumentOK()
		pr := privilege{actions: map[string]bool{}}
		pr.cluster, _ = res.Lookup("cluster").BooleanOK()
		pr.anyResource, _ = res.Lookup("anyResource").BooleanOK()
		db, okDB := res.Lookup("db").StringValueOK()
		coll, okColl := res.Lookup("collection").StringValueOK()
		pr.db, pr.coll, pr.hasDB = db, coll, okDB && okColl
		acts, _ := d.Lookup("actions").ArrayOK()
		avals, _ := acts.Values()
		for _, a := range avals {
			if s, ok := a.StringValueOK(); ok {
				pr.actions[s] = true
			}
		}
		p.privs = append(p.privs, pr)
	}
	return p, nil
}

// Target is what an action is asked on: the cluster, a database (Coll
// ""), or a collection.
type Target struct {
	Cluster  bool
	DB, Coll string
}

func (t Target) String() string {
	switch {
	case t.Cluster:
		return "the cluster"
	case t.Coll == "":
		return "database " + t.DB
	}
	return t.DB + "." + t.Coll
}

// matches follows mongod's resource search list (mongodb/mongo
// src/mongo/db/auth/resource_pattern_search_list.h): anyResource matches
// everything; the cluster only the cluster; a normal collection matches
// anyNormalResource ({db: "", collection: ""}) unless its database is
// local or config, its database ({db, collection: ""}), its name in any
// database ({db: "", collection}) and itself; a database matches
// anyNormalResource (but local and config do not) and itself; a system.*
// collection only its name and itself.
func (pr privilege) matches(t Target) bool {
	if pr.anyResource {
		return true
	}
	if t.Cluster || pr.cluster {
		return t.Cluster && pr.cluster
	}
	if !pr.hasDB {
		return false
	}
	special := t.DB == "local" || t.DB == "config"
	if t.Coll == "" {
		return (pr.db == "" && pr.coll == "" && !special) || (pr.db == t.DB && pr.coll == "")
	}
	system := strings.HasPrefix(t.Coll, "system.")
	switch {
	case pr.db == "" && pr.coll == "":
		return !special && !system
	case pr.coll == "":
		return pr.db == t.DB && !system
	case pr.db == "":
		return pr.coll == t.Coll
	}
	return pr.db == t.DB && pr.coll == t.Coll
}

// Allows reports whether the users may run action on t.
func (p Privileges) Allows(action string, t Target) bool {
	for _, pr := range p.privs {
		if pr.actions[action] && pr.matches(t) {
			return true
		}
	}
	return false
}

// need is an action on a target, and what it is for.
type need struct {
	action string
	target Target
}

// missing lists, for each target, the actions of needs the users lack.
func (p Privileges) missing(needs []need) []string {
	byTarget := map[string][]string{}
	for _, n := range needs {
		if !p.Allows(n.action, n.target) {
			k := n.target.String()
			if !slices.Contains(byTarget[k], n.action) {
				byTarget[k] = append(byTarget[k], n.action)
			}
		}
	}
	var out []string
	for k, acts := range byTarget {
		out = append(out, fmt.Sprintf("%s on %s", strings.Join(acts, ", "), k))
	}
	sort.Strings(out)
	return out
}

// sourceNeeds are the actions a sync's source user needs: find on the
// oplog, listDatabases on the cluster, listCollections and find on every
// selected database and namespace.
func sourceNeeds(dbs []string, nss []string) []need {
	n := []need{{"find", Target{DB: "local", Coll: "oplog.rs"}}, {"listDatabases", Target{Cluster: true}}}
	for _, db := range dbs {
		n = append(n, need{"listCollections", Target{DB: db}})
	}
	for _, ns := range nss {
		db, coll, _ := strings.Cut(ns, ".")
		n = append(n, need{"find", Target{DB: db, Coll: coll}})
	}
	return n
}

// destActions are what the copier and the applier send to a destination
// database.
var destActions = []string{"insert", "update", "remove", "createIndex", "dropIndex", "createCollection", "dropCollection", "collMod", "bypassDocumentValidation", "find"}

// readWrite's actions that mongo-sync uses on its reserved database.
var reservedActions = []string{"find", "insert", "update", "remove", "createCollection"}

func destNeeds(dbs []string, reserved string) []need {
	var n []need
	for _, db := range dbs {
		for _, a := range destActions {
			n = append(n, need{a, Target{DB: db}})
		}
	}
	for _, a := range reservedActions {
		n = append(n, need{a, Target{DB: reserved}})
	}
	return n
}

// privilegeCheck asks connectionStatus and judges needs. what names the
// role that grants them, for the line's advice.
func privilegeCheck(ctx context.Context, r *Report, check string, c *mongo.Client, needs []need, grant string) {
	raw, err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "connectionStatus", Value: 1}, {Key: "showPrivileges", Value: true}}).Raw()
	if err != nil {
		r.Results = append(r.Results, unknown(check, "connectionStatus", err, "make sure the user has "+grant))
		return
	}
	r.Results = append(r.Results, judgePrivileges(check, raw, needs, grant))
}

func judgePrivileges(check string, raw bson.Raw, needs []need, grant string) Result {
	p, err := parsePrivileges(raw)
	if err != nil {
		return Result{Check: check, Status: Unknown, Detail: err.Error(), Do: "make sure the user has " + grant}
	}
	if len(p.Users) == 0 {
		return Result{Check: check, Status: OK, Detail: "authentication off: connectionStatus names no authenticated user, so every command is allowed"}
	}
	miss := p.missing(needs)
	if len(miss) > 0 {
		return Result{Check: check, Status: Fail, Detail: fmt.Sprintf("user %s lacks %s", strings.Join(p.Users, ", "), strings.Join(miss, "; ")),
			Do: "grant " + grant}
	}
	return Result{Check: check, Status: OK, Detail: fmt.Sprintf("user %s holds every privilege mongo-sync uses here (%d checked)", strings.Join(p.Users, ", "), len(needs))}
}
