package verify

import (
	"context"
	"fmt"

	"github.com/mongo-sync/mongo-sync/copier"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
)

// source is one collection of the source: a single collection, or its parts
// on every shard of a sharded source read directly (their union).
type source []*mongo.Collection

// source is the collection db.coll on the source side.
// Live, the source is read at read concern majority: Settle waits up to
// the source's majority-committed point, and a write not yet majority
// committed cannot be on the destination.
func (v *Verifier) source(db, coll string) source {
	var opts []options.Lister[options.CollectionOptions]
	if v.Live != nil {
		opts = append(opts, options.Collection().SetReadConcern(readconcern.Majority()))
	}
	clients := v.Shards
	if len(clients) == 0 {
		clients = []*mongo.Client{v.Src}
	}
	out := make(source, len(clients))
	for i, c := range clients {
		out[i] = c.Database(db).Collection(coll, opts...)
	}
	return out
}

// listSelected lists the selected collections of the source: on a sharded
// source read directly, those of every shard (the first shard that has a
// collection gives its options).
func (v *Verifier) listSelected(ctx context.Context) ([]copier.Selected, error) {
	if len(v.Shards) == 0 {
		return copier.ListSelected(ctx, v.Src, v.NS)
	}
	var out []copier.Selected
	seen := map[string]bool{}
	for i, c := range v.Shards {
		sel, err := copier.ListSelected(ctx, c, v.NS)
		if err != nil {
			return nil, fmt.Errorf("shard %d: %w", i, err)
		}
		for _, s := range sel {
			if !seen[s.SrcNS] {
				seen[s.SrcNS] = true
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// byID reads the documents with these _ids from every part.
func (src source) byID(ctx context.Context, ids []bson.RawValue) (map[string]bson.Raw, error) {
	if len(src) == 1 {
		return byID(ctx, src[0], ids)
	}
	out := map[string]bson.Raw{}
	for _, c := range src {
		m, err := byID(ctx, c, ids)
		if err != nil {
			return nil, err
		}
		for k, d := range m {
			out[k] = d
		}
	}
	return out, nil
}
