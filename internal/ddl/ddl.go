// Package ddl classifies the oplog's command entries for the applier and
// its cross-shard gate, and the collection options for the copy: one list
// each, so the three agree.
package ddl

// ChangesNothing reports whether a command entry (its o's first field)
// changes nothing on a destination: index build starts and aborts (the
// index is built at commitIndexBuild), dbCheck's check entries (6.0+ on any
// replica set, logged on the checked collection's own namespace), and the
// records shards keep of the cluster's catalog (7.0+ and later). The data
// and DDL these concern are logged in entries of their own.
func ChangesNothing(cmd string) bool {
	switch cmd {
	case "startIndexBuild", "abortIndexBuild", "dbCheck",
		"modifyCollectionShardingIndexCatalog", "createDatabaseMetadata", "dropDatabaseMetadata":
		return true
	}
	return false
}

// SourceStorageOption reports whether a create option (in a create entry
// or a listCollections answer) describes how the source stores the
// collection and is left out of the destination's create:
// recordIdsReplicated (8.0+, behind a feature flag), which a server
// without the feature refuses.
func SourceStorageOption(key string) bool { return key == "recordIdsReplicated" }
