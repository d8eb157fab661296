package workload

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Preload creates the collections, the unique index on accounts.email, and
// a first document for about half the keys of each collection.
func (w *Workload) Preload(ctx context.Context) error {
	for _, name := range []string{"docs", "accounts", "lists", "nums"} {
		if err := w.db.CreateCollection(ctx, name); err != nil {
			return fmt.Errorf("workload: create %s.%s: %w", w.opts.DB, name, err)
		}
	}
	_, err := w.db.Collection("accounts").Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true).SetName("email_1")})
	if err != nil {
		return fmt.Errorf("workload: unique index on %s.accounts: %w", w.opts.DB, err)
	}
	for i := 0; i < w.opts.Keys; i += 2 {
		w.docStep(ctx)
		w.numStep(ctx)
		w.listStep(ctx)
		if e := w.freeEmail(); e != "" {
			w.newAccount(ctx, "accounts.insert", e)
		}
	}
	if w.counts.LastError != "" {
		return fmt.Errorf("workload: preload: %s", w.counts.LastError)
	}
	w.counts.Preloaded = w.counts.Total()
	return nil
}
