package preflight

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/mongo-sync/mongo-sync/binding"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/copier"
	"github.com/mongo-sync/mongo-sync/internal/mongoconn"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// DefaultCopyRate is the copy rate the duration estimate assumes where
// Options give none: 20 MiB/s of BSON.
const DefaultCopyRate = 20 << 20

// Options tune the estimates.
type Options struct {
	// CopyRate is the copy's assumed rate in bytes/s (0: DefaultCopyRate).
	CopyRate float64
	// RateOver is how far back from the newest oplog entry the write rate
	// is measured (0: 5 minutes).
	RateOver time.Duration
	// Timeout bounds each connection's server selection (0: 10 s).
	Timeout time.Duration
}

func (o *Options) defaults() {
	if o.CopyRate <= 0 {
		o.CopyRate = DefaultCopyRate
	}
	if o.RateOver <= 0 {
		o.RateOver = 5 * time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
}

// oplogSource is one oplog a sync would read: the replica set source, or
// one shard.
type oplogSource struct {
	label  string // "source" or "shard NAME"
	client *mongo.Client
	cfg    *config.Config // the stage's config (ForShard for a shard)
	id     binding.Deployment
	idOK   bool
}

// Run makes every check cfg allows and returns the report. It writes
// nothing anywhere.
func Run(ctx context.Context, cfg *config.Config, opts Options) *Report {
	opts.defaults()
	r := &Report{}
	ns := cfg.Namespaces()
	var clients []*mongo.Client
	defer func() {
		for _, c := range clients {
			c.Disconnect(context.Background())
		}
	}()
	connect := func(check string, m config.Mongo) *mongo.Client {
		c, err := mongoconn.Open(ctx, options.Client().ApplyURI(m.ConnString()).SetServerSelectionTimeout(opts.Timeout).
			SetConnectTimeout(opts.Timeout).SetReadPreference(readpref.Primary()))
		if err != nil {
			r.add(check, Fail, fmt.Sprintf("%s does not answer: %v", m.Redacted(), err), "check the address, the network and the credentials")
			return nil
		}
		clients = append(clients, c)
		r.ok(check, "%s answers", m.Redacted())
		return c
	}

	// The source: a replica set, a mongos, or shards.
	var src, router *mongo.Client
	var srcKind Kind
	var oplogs []oplogSource
	var shards []config.Shard
	if !cfg.Src.Empty() {
		if src = connect("source.reachable", cfg.Src); src != nil {
			var ok bool
			if srcKind, _, ok = serverChecks(ctx, r, "source", src); ok {
				r.Results = append(r.Results, sourceKindResult(srcKind, len(cfg.Src.Shards) > 0))
			}
			if srcKind.Mongos {
				router = src
				shards = routerChecks(ctx, r, cfg, router)
			}
		}
	}
	if len(cfg.Src.Shards) > 0 {
		var err error
		if shards, err = cfg.Shards(); err != nil {
			r.add("source.shards", Fail, err.Error(), "")
		}
	}
	if src != nil && router == nil && len(cfg.Src.Shards) == 0 && !srcKind.ConfigSvr {
		id, idOK := identity(ctx, r, "source", src)
		oplogs = append(oplogs, oplogSource{label: "source", client: src, cfg: cfg, id: id, idOK: idOK})
	}
	for _, sh := range shards {
		label := "shard " + sh.Name
		c := connect(label+".reachable", sh.Mongo)
		if c == nil {
			continue
		}
		serverChecks(ctx, r, label, c)
		id, idOK := identity(ctx, r, label, c)
		oplogs = append(oplogs, oplogSource{label: label, client: c, cfg: cfg.ForShard(sh), id: id, idOK: idOK})
		if router == nil {
			shardedFromShards(ctx, r, sh.Name, c, ns)
		}
	}

	// The destination.
	var dst *mongo.Client
	var dstID binding.Deployment
	var marker string
	if cfg.DstMongo().Empty() {
		r.add("destination.reachable", Fail, "no destination configured", "set dst.uri or dst.hosts")
	} else if dst = connect("destination.reachable", cfg.DstMongo()); dst != nil {
		if k, _, ok := serverChecks(ctx, r, "destination", dst); ok {
			r.Results = append(r.Results, destKindResult(k))
		}
		dstID, _ = identity(ctx, r, "destination", dst)
		var err error
		if marker, err = binding.ReadMarker(ctx, dst); err != nil {
			r.Results = append(r.Results, unknown("destination.marker", "read mongo-sync's marker", err, "grant read on database "+config.ReservedDB))
		} else if marker == "" {
			r.ok("destination.marker", "no mongo-sync marker yet: no sync has written to this destination")
		} else {
			r.ok("destination.marker", "mongo-sync marker %s: a sync has written here before", marker)
		}
	}
	switch {
	case dst == nil || src == nil:
	case router != nil:
		// Through the mongos: it sees the destination's marker from any
		// shard, and its cluster id names the whole cluster.
		id, _ := identity(ctx, r, "source", router)
		sameDeployment(ctx, r, router, dst, id, dstID, ns)
	case len(oplogs) == 1:
		sameDeployment(ctx, r, src, dst, oplogs[0].id, dstID, ns)
	}

	// Oplogs, state files, spools.
	var bytesPerSec float64
	var window time.Duration
	rateKnown := len(oplogs) > 0
	st := stateFor(ctx, r, oplogs, marker, cfg)
	defer func() {
		for _, s := range st {
			s.Close()
		}
	}()
	for _, o := range oplogs {
		rate := oplogChecks(ctx, r, o.label, o.client, opts.RateOver)
		rateKnown = rateKnown && rate.Known
		bytesPerSec += rate.BytesPerSec
		if window == 0 || rate.Window < window {
			window = rate.Window
		}
	}

	// The namespaces, through the mongos, the replica set, or each shard.
	var readers []oplogSource
	switch {
	case router != nil:
		readers = []oplogSource{{label: "source", client: router}}
	default:
		readers = oplogs
	}
	var sel []copier.Selected
	selOK := len(readers) > 0
	seen := map[string]bool{}
	for _, rd := range readers {
		s, ok := selection(ctx, r, rd.label, rd.client, ns)
		selOK = selOK && ok
		for _, x := range s {
			if !seen[x.SrcNS] {
				seen[x.SrcNS] = true
				sel = append(sel, x)
			}
		}
	}
	sort.Slice(sel, func(i, j int) bool { return sel[i].SrcNS < sel[j].SrcNS })
	if selOK && len(readers) > 0 {
		specials(ctx, r, "source", readers[0].client, sel)
	}
	srcPriv := router
	if srcPriv == nil && len(oplogs) > 0 {
		srcPriv = oplogs[0].client
	}
	if srcPriv != nil {
		dbs, nss := namesOf(sel, false)
		privilegeCheck(ctx, r, "source.privileges", srcPriv, sourceNeeds(dbs, nss),
			"read on database local and on every selected database, and listDatabases on the cluster (readAnyDatabase with read on local, or backup)")
		bypassUsers(ctx, r, srcPriv)
	}
	if dst != nil {
		dbs, _ := namesOf(sel, true)
		privilegeCheck(ctx, r, "destination.privileges", dst, destNeeds(dbs, config.ReservedDB),
			"readWrite and dbAdmin on every target database and readWrite on database "+config.ReservedDB+" (or readWriteAnyDatabase with dbAdminAnyDatabase), and bypassDocumentValidation")
		if selOK {
			var one *store.Store
			if len(oplogs) == 1 {
				one = st[oplogs[0].label]
			}
			destinationRefusals(ctx, r, dst, sel, one, cfg.Sync.DropExisting)
		}
	}

	// Size, copy estimate and spool room.
	var total int64
	sizeOK := selOK
	for _, rd := range readers {
		if !sizeOK {
			break
		}
		n, ok := dataSize(ctx, r, rd.label, rd.client, sel)
		total += n
		sizeOK = ok
	}
	if sizeOK && rateKnown {
		spoolRoom(r, estimate(total, opts.CopyRate, bytesPerSec), opts.CopyRate, window, cfg)
	} else if len(oplogs) > 0 {
		r.add("copy.estimate", Unknown, "no estimate: the data size or the oplog's rate is unknown (see above)", "")
	}
	return r
}

// stateFor checks the state file and spool of each oplog's stages,
// returning the state files it opened (read-only) by label.
func stateFor(ctx context.Context, r *Report, oplogs []oplogSource, marker string, cfg *config.Config) map[string]*store.Store {
	out := map[string]*store.Store{}
	for _, o := range oplogs {
		if s := stateChecks(ctx, r, o.label, o.cfg, o.id, o.idOK, marker); s != nil {
			out[o.label] = s
		}
	}
	return out
}

// namesOf lists the databases and namespaces of sel, on the source or
// (dst) on the destination.
func namesOf(sel []copier.Selected, dst bool) (dbs, nss []string) {
	seen := map[string]bool{}
	for _, s := range sel {
		n := s.SrcNS
		if dst {
			n = s.DstNS
		}
		db, _ := config.SplitNS(n)
		if !seen[db] {
			seen[db] = true
			dbs = append(dbs, db)
		}
		if !s.View {
			nss = append(nss, n)
		}
	}
	sort.Strings(dbs)
	return dbs, nss
}

// sourceKindResult judges what the source is.
func sourceKindResult(k Kind, shardsListed bool) Result {
	const check = "source.kind"
	switch {
	case k.Mongos:
		return Result{Check: check, Status: OK, Detail: k.String() + ": each shard's oplog is read on its own"}
	case shardsListed:
		return Result{Check: check, Status: Fail, Detail: k.String() + ", beside src.shards, where src names the cluster's mongos",
			Do: "set src to the cluster's mongos, or leave src out to read the shards alone"}
	case k.ConfigSvr:
		return Result{Check: check, Status: Fail, Detail: k.String() + ": it holds the cluster's metadata, not its data", Do: "set src to the cluster's mongos"}
	case k.SetName != "" && !k.Primary && !k.Secondary:
		return Result{Check: check, Status: Fail, Detail: k.String(), Do: "point src at the replica set (all its members, or replicaSet=NAME)"}
	case k.SetName != "":
		return Result{Check: check, Status: OK, Detail: k.String() + ": mongo-sync reads the oplog and the copy from the primary"}
	}
	return Result{Check: check, Status: Warn, Detail: k.String() + ": MongoDB keeps an oplog only on a replica set member (the test server, FerretDB, has one without a replica set)",
		Do: "run the source as a replica set (a single member is enough)"}
}

// destKindResult judges what the destination is.
func destKindResult(k Kind) Result {
	const check = "destination.kind"
	switch {
	case k.Mongos:
		return Result{Check: check, Status: OK, Detail: k.String() + ": writes go through it"}
	case k.ConfigSvr:
		return Result{Check: check, Status: Fail, Detail: k.String(), Do: "set dst to a mongos, a replica set or a standalone"}
	case k.SetName != "" && !k.Primary:
		return Result{Check: check, Status: Fail, Detail: k.String() + ": it does not accept writes", Do: "point dst at the replica set (replicaSet=NAME), not at one member"}
	}
	return Result{Check: check, Status: OK, Detail: k.String()}
}
