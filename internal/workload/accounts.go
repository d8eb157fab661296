package workload

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Accounts carry a unique email. The workload frees an email (delete, or
// move it to another address) and gives it to another _id at once, so a
// replay that meets the newer holder conflicts until a later entry
// resolves it.

func (w *Workload) email(i int) string { return fmt.Sprintf("user%d@example.org", i) }

// freeEmail returns an email no account holds, or "".
func (w *Workload) freeEmail() string {
	for range 8 {
		if e := w.email(w.key()); w.owner[e] == 0 {
			return e
		}
	}
	return ""
}

// someAccount returns a random account _id, or 0 when there is none.
func (w *Workload) someAccount() int {
	if len(w.accts) == 0 {
		return 0
	}
	n := w.rng.IntN(len(w.accts))
	for id := range w.accts {
		if n == 0 {
			return id
		}
		n--
	}
	return 0
}

func (w *Workload) newAccount(ctx context.Context, kind, email string) bool {
	w.seq++
	id := w.opts.Base + 1000 + w.seq // account _ids start at Base+1000, never reused
	d := bson.D{{Key: "_id", Value: id}, {Key: "email", Value: email}, {Key: "visits", Value: 0}}
	if !w.note(kind, must(w.db.Collection("accounts").InsertOne(ctx, d))) {
		return false
	}
	w.accts[id], w.owner[email] = email, id
	return true
}

func (w *Workload) setEmail(ctx context.Context, kind string, id int, email string) bool {
	c := w.db.Collection("accounts")
	if !w.note(kind, must(c.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, w.stamp(bson.D{{Key: "$set", Value: bson.D{{Key: "email", Value: email}}}})))) {
		return false
	}
	delete(w.owner, w.accts[id])
	w.accts[id], w.owner[email] = email, id
	return true
}

func (w *Workload) accountStep(ctx context.Context) {
	c := w.db.Collection("accounts")
	a := w.someAccount()
	switch x := w.rng.IntN(10); {
	case a == 0 || x < 2:
		if e := w.freeEmail(); e != "" {
			w.newAccount(ctx, "accounts.insert", e)
		}
	case x < 5:
		// delete account A (email e), insert B with e under a new _id
		e := w.accts[a]
		if w.note("accounts.delete", must(c.DeleteOne(ctx, bson.D{{Key: "_id", Value: a}}))) {
			delete(w.accts, a)
			delete(w.owner, e)
			w.newAccount(ctx, "accounts.reinsert_email", e)
		}
	case x < 7:
		// A moves to a free address; B takes A's old one
		e, f := w.accts[a], w.freeEmail()
		if f != "" && w.setEmail(ctx, "accounts.move_email", a, f) {
			w.newAccount(ctx, "accounts.reinsert_email", e)
		}
	case x < 8:
		// A and B swap emails through a free one
		b, tmp := w.someAccount(), w.freeEmail()
		if b == a || tmp == "" {
			return
		}
		ea, eb := w.accts[a], w.accts[b]
		_ = w.setEmail(ctx, "accounts.swap_email", a, tmp) &&
			w.setEmail(ctx, "accounts.swap_email", b, ea) &&
			w.setEmail(ctx, "accounts.swap_email", a, eb)
	default:
		w.note("accounts.visit", must(c.UpdateOne(ctx, bson.D{{Key: "_id", Value: a}}, w.stamp(bson.D{{Key: "$inc", Value: bson.D{{Key: "visits", Value: 1}}}}))))
	}
}
