package spool

import (
	"bytes"
	"context"
	"testing"
)

// A Read's entries are the caller's until it calls Release: later Reads
// never touch them. After Release, the next Read that returns entries puts
// them in the same memory; one that returns none leaves the release for the
// next.
func TestReader_ReleaseReusesTheLastBatchOnly(t *testing.T) {
	for _, follow := range []bool{false, true} {
		name := map[bool]string{false: "sealed", true: "followed open segment"}[follow]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			w := openTestWriter(t, dir, nil)
			var want []Entry
			for b := 0; b < 4; b++ {
				pad := 40 + b*30 // entries of every batch differ in size
				if b == 3 {
					pad = entryBlock/4 + 100 // each in an allocation of its own
				}
				batch := makeBatch(b, 50, pad)
				first, _, err := w.Append(context.Background(), batch)
				if err != nil {
					t.Fatal(err)
				}
				for i, raw := range batch {
					want = append(want, Entry{Seq: first + uint64(i), Raw: raw})
				}
			}
			r, err := OpenReader(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if follow {
				r.Follow(w)
				defer w.Close()
			} else if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			read := func(from uint64) []Entry {
				t.Helper()
				es, err := r.Read(ctx, from, 50, 1<<20)
				if err != nil {
					t.Fatalf("Read from %d: %v", from, err)
				}
				for i, e := range es {
					if w := want[from-1+uint64(i)]; e.Seq != w.Seq || !bytes.Equal(e.Raw, w.Raw) {
						t.Fatalf("Read from %d: entry %d is seq %d %q, want seq %d", from, i, e.Seq, e.Raw, w.Seq)
					}
					if cap(e.Raw) != len(e.Raw) {
						t.Fatalf("entry seq %d has room past its end: an append would run into the next", e.Seq)
					}
				}
				return es
			}
			kept := read(1)
			keptCopy := make([][]byte, len(kept))
			for i, e := range kept {
				keptCopy[i] = bytes.Clone(e.Raw)
			}
			// Not released: the next batch goes elsewhere.
			second := read(51)
			for i, e := range kept {
				if !bytes.Equal(e.Raw, keptCopy[i]) {
					t.Fatalf("entry seq %d changed under its caller, who did not release it", e.Seq)
				}
			}
			if &second[0].Raw[0] == &kept[0].Raw[0] {
				t.Fatal("an unreleased batch's memory was reused")
			}
			// Released: the next batch reuses the memory, even across a Read
			// that found nothing.
			r.Release()
			if es := read(uint64(len(want) + 1)); len(es) != 0 {
				t.Fatalf("read %d entries past the end", len(es))
			}
			third := read(101)
			if &third[0].Raw[0] != &second[0].Raw[0] {
				t.Fatal("a released batch's memory was not reused")
			}
			// The release is spent: the fourth batch does not overwrite the third.
			thirdCopy := bytes.Clone(third[len(third)-1].Raw)
			if fourth := read(151); len(fourth) == 0 || len(fourth[0].Raw) <= entryBlock/4 {
				t.Fatalf("read %d large entries", len(fourth))
			}
			if !bytes.Equal(third[len(third)-1].Raw, thirdCopy) {
				t.Fatal("a batch read after the release was spent was overwritten")
			}
		})
	}
}
