// Package spool is mongo-sync's durable queue between the reader and the
// applier: a directory of bbolt segments.
//
// bbolt locks a file with flock, so two processes cannot share one database
// file. The spool is therefore a directory: one open segment that only the
// writer (the reader stage) appends to, and sealed segments that anyone may
// open read-only. A segment's file name carries its sequence range, so a
// directory listing is the queue order:
//
//	00000000000000000001-00000000000000001000.seg   sealed, seq 1..1000
//	00000000000000001001.open                       open, held by the writer
//
// Every entry is keyed by a gap-free uint64 sequence number (big-endian) and
// holds a CRC-32C checksum followed by the raw oplog BSON exactly as read.
// Appending a batch and moving the writer's position happen in one bbolt
// transaction, so a crash never leaves a gap, a duplicate or a partial batch.
package spool
