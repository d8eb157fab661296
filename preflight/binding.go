package preflight

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mongo-sync/mongo-sync/binding"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/mongoerr"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// identity reports a deployment's identity (binding.Source); ok is false
// when it could not be had.
func identity(ctx context.Context, r *Report, side string, c *mongo.Client) (binding.Deployment, bool) {
	d, err := binding.Source(ctx, c)
	if err != nil {
		r.add(side+".identity", Unknown, fmt.Sprintf("%s: %v", d.ID, err), "")
		return d, false
	}
	if d.Weak != "" {
		r.add(side+".identity", Warn, d.ID+": "+d.Weak, "")
		return d, true
	}
	r.ok(side+".identity", "%s", d.ID)
	return d, true
}

// sameDeployment tells whether source and destination are one deployment,
// whatever host strings name them: the destination's marker read through
// the source, else the two replica set ids when both are strong. Nothing
// is written: a destination without a marker yet is compared by its id.
func sameDeployment(ctx context.Context, r *Report, src, dst *mongo.Client, srcID, dstID binding.Deployment, ns *config.Namespaces) {
	same, known := false, false
	marker, err := binding.ReadMarker(ctx, dst)
	if err == nil && marker != "" {
		got, serr := binding.ReadMarker(ctx, src)
		if serr == nil {
			same, known = got == marker, true
		} else if !mongoerr.Has(serr, mongoerr.Unauthorized) {
			r.Results = append(r.Results, unknown("deployment.same", "read mongo-sync's marker through the source", serr, ""))
			return
		}
	}
	if !known && srcID.ID != "" && srcID.Weak == "" && dstID.Weak == "" && dstID.ID != "" {
		same, known = srcID.ID == dstID.ID, true
	}
	switch {
	case !known:
		r.add("deployment.same", Unknown, "cannot tell whether source and destination are one deployment: no marker readable through the source, and the identities are not both strong",
			"make sure dst does not name the source")
	case !same:
		r.ok("deployment.same", "source and destination are two deployments")
	default:
		if ov := ns.Overlap(); len(ov) > 0 {
			r.add("deployment.same", Fail, "source and destination are one deployment, and the sync would write into what it reads: "+strings.Join(ov, "; "),
				"point dst at another deployment, or give every selected database a rename_db that is not itself selected")
			return
		}
		r.add("deployment.same", Warn, "source and destination are one deployment: every selected namespace is renamed to one that is not read", "")
	}
}

// stateChecks reads the state file and the spool at the config's paths,
// read-only, and says whether they belong to these deployments. It
// returns the open state file (nil when there is none) for the caller to
// close.
func stateChecks(ctx context.Context, r *Report, label string, cfg *config.Config, srcID binding.Deployment, srcKnown bool, dstMarker string) *store.Store {
	st, err := store.OpenReadOnly(cfg.Store.Path)
	var b store.Binding
	recorded := false
	switch {
	case errors.Is(err, store.ErrNotStarted):
		r.ok(label+".state", "no state file at %s: a sync starts from scratch", cfg.Store.Path)
		st = nil
	case errors.Is(err, store.ErrBusy):
		r.add(label+".state", Warn, fmt.Sprintf("state file %s is held by a running mongo-sync process", cfg.Store.Path), "stop it before starting another one on the same state file")
		st = nil
	case err != nil:
		r.add(label+".state", Fail, err.Error(), "")
		st = nil
	default:
		b, recorded, err = st.Binding()
		if err != nil {
			r.add(label+".state", Fail, err.Error(), "")
			break
		}
		r.Results = append(r.Results, judgeBinding(label+".state", cfg, b, recorded, srcID, srcKnown, dstMarker))
	}
	spoolCheck(r, label+".spool", cfg.Spool.Dir, b, recorded, srcID, srcKnown)
	return st
}

func judgeBinding(check string, cfg *config.Config, b store.Binding, recorded bool, srcID binding.Deployment, srcKnown bool, dstMarker string) Result {
	if !recorded {
		return Result{Check: check, Status: OK, Detail: fmt.Sprintf("state file %s records no binding yet: the next start records it", cfg.Store.Path)}
	}
	if srcKnown && b.Source != "" && !spool.SameSource(b.Source, srcID.ID) && !spool.SameSource(srcID.ID, b.Source) {
		return Result{Check: check, Status: Fail, Detail: fmt.Sprintf("state file %s belongs to a sync from %s (%s), not from this source (%s)", cfg.Store.Path, b.SourceName, b.Source, srcID.ID),
			Do: "give this sync its own store.path and spool.dir, or point src back at " + b.SourceName}
	}
	if b.Dest != "" && dstMarker != "" && b.Dest != dstMarker {
		return Result{Check: check, Status: Fail, Detail: fmt.Sprintf("state file %s belongs to a sync into %s (marker %s), not into this destination (marker %s)", cfg.Store.Path, b.DestName, b.Dest, dstMarker),
			Do: "give this sync its own store.path and spool.dir, or point dst back at " + b.DestName}
	}
	if b.Dest != "" && dstMarker == "" {
		return Result{Check: check, Status: Fail, Detail: fmt.Sprintf("state file %s belongs to a sync into %s (marker %s), and this destination has no marker: it is another destination, or was restored without mongo-sync's database", cfg.Store.Path, b.DestName, b.Dest),
			Do: "point dst back at " + b.DestName + ", or start over with an empty state file and spool"}
	}
	if b.Selection != "" {
		before, err := config.ParseSelection(b.Selection)
		if err != nil {
			return Result{Check: check, Status: Fail, Detail: fmt.Sprintf("state file %s: %v", cfg.Store.Path, err)}
		}
		ch := config.CompareSelection(before, cfg.Namespaces().Selection())
		if len(ch.Added) > 0 || len(ch.Changed) > 0 {
			return Result{Check: check, Status: Fail, Detail: fmt.Sprintf("sync.dbs changed since state file %s was written: added %v, changed %v", cfg.Store.Path, ch.Added, ch.Changed),
				Do: "sync added or changed namespaces with a config of their own, or start over with an empty state file and spool"}
		}
	}
	return Result{Check: check, Status: OK, Detail: fmt.Sprintf("state file %s belongs to this source, destination and selection", cfg.Store.Path)}
}

func spoolCheck(r *Report, check, dir string, b store.Binding, recorded bool, srcID binding.Deployment, srcKnown bool) {
	sid, ok, err := spool.ReadIdentity(dir)
	switch {
	case err != nil:
		r.add(check, Fail, err.Error(), "")
	case !ok:
		r.ok(check, "spool %s records no identity yet (a new spool)", dir)
	case srcKnown && sid.Source != "" && !spool.SameSource(sid.Source, srcID.ID):
		r.add(check, Fail, fmt.Sprintf("spool %s holds the oplog of source %s, not of this source (%s)", dir, sid.Source, srcID.ID), "use another spool.dir")
	case recorded && b.SpoolID != "" && sid.ID != b.SpoolID && sid.StateID != b.StateID:
		r.add(check, Fail, fmt.Sprintf("spool %s (id %s) is not the one the state file drains (id %s)", dir, sid.ID, b.SpoolID),
			"put the original spool back, or start over with an empty state file and spool")
	default:
		r.ok(check, "spool %s belongs to this source", dir)
	}
}
