package preflight

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/copier"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// selection lists what the copy would copy (copier.ListSelected: after
// sync.dbs' filters and renames, listDatabases with authorizedDatabases:
// false). The line names each namespace and where it goes.
func selection(ctx context.Context, r *Report, side string, c *mongo.Client, ns *config.Namespaces) ([]copier.Selected, bool) {
	sel, err := copier.ListSelected(ctx, c, ns)
	if err != nil {
		r.add(side+".selection", Fail, err.Error(), "")
		return nil, false
	}
	r.ok(side+".listDatabases", "listDatabases with authorizedDatabases: false answered: every database is listed, none left out unseen")
	if len(sel) == 0 {
		r.add(side+".selection", Warn, "sync.dbs selects no collection on the source", "check sync.dbs: the sync would copy nothing")
		return sel, true
	}
	var parts []string
	for _, s := range sel {
		p := s.SrcNS
		if s.DstNS != s.SrcNS {
			p += " -> " + s.DstNS
		}
		if s.View {
			p += " (view)"
		}
		if s.Fields != nil {
			p += fmt.Sprintf(" (fields %s)", strings.Join(s.Fields, ","))
		}
		parts = append(parts, p)
	}
	r.ok(side+".selection", "%d namespaces: %s", len(sel), strings.Join(parts, "; "))
	return sel, true
}

// specials reports every selected namespace whose kind, options or
// indexes mongo-sync treats in a way of its own.
func specials(ctx context.Context, r *Report, side string, c *mongo.Client, sel []copier.Selected) {
	n := 0
	for _, s := range sel {
		var what []string
		warn := false
		db, coll := config.SplitNS(s.SrcNS)
		if s.View {
			what = append(what, "a view: created on the destination as a view with its pipeline, nothing copied; a view created, changed or dropped during the sync is logged as a write to system.views, which MongoDB 5.0+ does not let the applier write")
			warn = true
		}
		if strings.HasPrefix(coll, config.BucketsPrefix) {
			what = append(what, "time-series buckets: not supported yet")
			warn = true
		}
		opts := s.Options
		if v, ok := opts.Lookup("capped").BooleanOK(); ok && v {
			what = append(what, "capped: created capped with the source's size and max, copied in insertion order and replayed in oplog order by one worker; the destination trims on its own and the source's trimming is not in the oplog")
		}
		if _, ok := opts.Lookup("clusteredIndex").DocumentOK(); ok {
			what = append(what, "clustered: created clustered with the source's clusteredIndex")
		} else if v, ok := opts.Lookup("clusteredIndex").BooleanOK(); ok && v {
			what = append(what, "clustered: created clustered")
		}
		if _, ok := opts.Lookup("collation").DocumentOK(); ok {
			what = append(what, "a default collation: created with it; mongo-sync's own reads and deletes by _id use the simple collation")
		}
		if _, ok := opts.Lookup("validator").DocumentOK(); ok {
			what = append(what, "a validator: created with it; the copy and the applier write with bypassDocumentValidation")
		}
		if _, ok := opts.Lookup("timeseries").DocumentOK(); ok {
			what = append(what, "time-series: not supported yet")
			warn = true
		}
		if !s.View {
			idx, err := indexKinds(ctx, c.Database(db).Collection(coll))
			if err != nil {
				r.Results = append(r.Results, unknown(side+".special "+s.SrcNS, "listIndexes", err, ""))
			}
			if idx.ttl != "" {
				what = append(what, "a TTL index ("+idx.ttl+"): copied; the destination's TTL monitor deletes expired documents on its own as well as replaying the source's deletes")
			}
			if len(idx.geo) > 0 {
				what = append(what, "geospatial indexes ("+strings.Join(idx.geo, ", ")+"): copied as they are")
			}
			if idx.text != "" {
				what = append(what, "a text index ("+idx.text+"): copied as it is")
			}
		}
		if len(what) == 0 {
			continue
		}
		n++
		st := OK
		if warn {
			st = Warn
		}
		r.add(side+".special "+s.SrcNS, st, strings.Join(what, "; "), "")
	}
	if n == 0 && len(sel) > 0 {
		r.ok(side+".special", "no view, capped, time-series or clustered collection, collation, validator, TTL, geospatial or text index among the selected namespaces")
	}
}

type indexInfo struct {
	ttl  string
	geo  []string
	text string
}

func indexKinds(ctx context.Context, c *mongo.Collection) (indexInfo, error) {
	var out indexInfo
	specs, err := c.Indexes().ListSpecifications(ctx)
	if err != nil {
		return out, err
	}
	for _, s := range specs {
		if s.ExpireAfterSeconds != nil {
			out.ttl = fmt.Sprintf("%s, %ds", s.Name, *s.ExpireAfterSeconds)
		}
		var keys bson.D
		if err := bson.Unmarshal(s.KeysDocument, &keys); err != nil {
			continue
		}
		for _, k := range keys {
			switch k.Value {
			case "2dsphere", "2d", "geoHaystack":
				out.geo = append(out.geo, s.Name)
			case "text":
				out.text = s.Name
			}
		}
	}
	sort.Strings(out.geo)
	return out, nil
}

// destinationRefusals finds destination collections the copy would refuse:
// non-empty, not a view, not yet started by this state file (copier's
// prepare), without sync.drop_existing.
func destinationRefusals(ctx context.Context, r *Report, dst *mongo.Client, sel []copier.Selected, st *store.Store, dropExisting bool) {
	var refused, dropped []string
	for _, s := range sel {
		if s.View {
			continue
		}
		if st != nil {
			if _, started := st.Split(s.SrcNS); started {
				continue
			}
		}
		db, coll := config.SplitNS(s.DstNS)
		n, err := dst.Database(db).Collection(coll).EstimatedDocumentCount(ctx)
		if err != nil {
			r.Results = append(r.Results, unknown("destination.empty", "count "+s.DstNS, err, ""))
			return
		}
		if n == 0 {
			continue
		}
		if dropExisting {
			dropped = append(dropped, fmt.Sprintf("%s (%d documents)", s.DstNS, n))
		} else {
			refused = append(refused, fmt.Sprintf("%s holds %d documents", s.DstNS, n))
		}
	}
	switch {
	case len(refused) > 0:
		r.add("destination.empty", Fail, "the copy refuses a non-empty destination collection: "+strings.Join(refused, "; "),
			"drop them, or set sync.drop_existing (--drop) to have the copy drop them")
	case len(dropped) > 0:
		r.add("destination.empty", Warn, "sync.drop_existing: the copy drops "+strings.Join(dropped, "; "), "make sure these are not data you need")
	default:
		r.ok("destination.empty", "no selected destination collection holds documents the copy would refuse")
	}
}
