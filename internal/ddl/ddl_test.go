package ddl

import "testing"

func TestChangesNothing(t *testing.T) {
	for cmd, want := range map[string]bool{
		"startIndexBuild": true, "abortIndexBuild": true, "dbCheck": true,
		"modifyCollectionShardingIndexCatalog": true, "createDatabaseMetadata": true, "dropDatabaseMetadata": true,
		"commitIndexBuild": false, "create": false, "drop": false, "collMod": false, "applyOps": false, "frobnicate": false,
	} {
		if got := ChangesNothing(cmd); got != want {
			t.Errorf("ChangesNothing(%q) = %v, want %v", cmd, got, want)
		}
	}
	if !SourceStorageOption("recordIdsReplicated") || SourceStorageOption("capped") || SourceStorageOption("idIndex") {
		t.Error("SourceStorageOption: only recordIdsReplicated")
	}
}
