package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoad_RoutingRetry(t *testing.T) {
	c, err := Load(writeConfig(t, "[src]\nuri = \"mongodb://h:1/\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Applier.RoutingRetry.D(); got != 5*time.Minute {
		t.Errorf("applier.routing_retry defaults to %s, want 5m", got)
	}
	c, err = Load(writeConfig(t, "[applier]\nrouting_retry = \"90s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Applier.RoutingRetry.D(); got != 90*time.Second {
		t.Errorf("applier.routing_retry = 90s decoded as %s", got)
	}
	for body, want := range map[string]string{
		"[applier]\nrouting_retry = \"-1s\"\n":   "must not be negative",
		"[applier]\nrouting_retry = \"later\"\n": "not a duration",
	} {
		_, err := Load(writeConfig(t, body))
		if err == nil || !strings.Contains(err.Error(), "routing_retry") || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one naming applier.routing_retry: %s", body, err, want)
		}
	}
}
