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
	for key, want := range map[string]bool{"recordIdsReplicated": true, "temp": true, "capped": false, "idIndex": false, "collation": false} {
		if got := SourceStorageOption(key); got != want {
			t.Errorf("SourceStorageOption(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestUnreplayable(t *testing.T) {
	for _, cmd := range []string{"importCollection", "truncateRange"} {
		if Unreplayable(cmd) == "" {
			t.Errorf("Unreplayable(%q) gives no reason", cmd)
		}
	}
	for _, cmd := range []string{"create", "drop", "dbCheck", "frobnicate"} {
		if why := Unreplayable(cmd); why != "" {
			t.Errorf("Unreplayable(%q) = %q, want none", cmd, why)
		}
	}
}
