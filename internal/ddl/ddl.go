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
//   - recordIdsReplicated (8.0+, behind a feature flag), which a server
//     without the feature refuses;
//   - temp: true, which mongod gives the collections $out, mapReduce and
//     convertToCapped write into before their rename
//     (src/mongo/db/pipeline/document_source_out.cpp, src/mongo/db/catalog/
//     capped_utils.cpp; CollectionOptions::appendBSON logs it in the
//     create entry, listCollections lists it). A client's create with it is
//     refused: by mongod from 6.0 unless the client is internal
//     (src/mongo/db/commands/create_command.cpp, "the 'temp' field is an
//     invalid option"), by mongos always (src/mongo/s/commands/
//     cluster_create_cmd.cpp). Where it is taken (4.4, 5.0), the
//     destination would drop the collection at its own next step-up or
//     restart, under the applier. The source's rename (stayTemp: false)
//     or drop of the collection is replayed from the oplog as it is.
func SourceStorageOption(key string) bool { return key == "recordIdsReplicated" || key == "temp" }

// Unreplayable explains why a command entry's effect cannot be replayed on
// a destination; "" for any other command. The applier stops on these,
// as on a command it does not know, saying why.
func Unreplayable(cmd string) string {
	switch cmd {
	case "importCollection":
		return "it imports a collection's files on the source (5.x+): its documents are not in the oplog"
	case "truncateRange":
		return "it deletes a range of the source's record ids (replicated truncates, 8.3+), which the destination's documents do not share"
	}
	return ""
}
