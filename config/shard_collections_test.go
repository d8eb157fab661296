package config

import "testing"

func TestLoad_ShardCollections(t *testing.T) {
	c, err := Load(writeConfig(t, "[sync]\nshard_collections = true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Sync.ShardCollections {
		t.Error("sync.shard_collections = true not decoded")
	}
	c, err = Load(writeConfig(t, "[src]\nuri = \"mongodb://h:1/\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Sync.ShardCollections {
		t.Error("sync.shard_collections is on by default")
	}
}
