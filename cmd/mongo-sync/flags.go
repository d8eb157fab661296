package main

import (
	"strings"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/spf13/cobra"
)

// mongoFlags are py-mongo-sync's connection flags for one side.
type mongoFlags struct {
	hosts, authdb, username, password string
}

func (m *mongoFlags) register(cmd *cobra.Command, side string) {
	f := cmd.Flags()
	f.StringVar(&m.hosts, side, "", side+" hosts (host:port[,host:port], rs/host:port) or mongodb:// URI")
	f.StringVar(&m.authdb, side+"-authdb", "", side+" authentication database (default admin)")
	f.StringVar(&m.username, side+"-username", "", side+" username")
	f.StringVar(&m.password, side+"-password", "", side+" password")
}

// apply overrides the configured connection with whatever flags were given.
func (m *mongoFlags) apply(cur config.Mongo) config.Mongo {
	if m.hosts != "" {
		if strings.HasPrefix(m.hosts, "mongodb://") || strings.HasPrefix(m.hosts, "mongodb+srv://") {
			cur = config.Mongo{URI: m.hosts}
		} else {
			cur = config.Mongo{Hosts: m.hosts, AuthDB: cur.AuthDB, Username: cur.Username, Password: cur.Password}
		}
	}
	if m.authdb != "" {
		cur.AuthDB = m.authdb
	}
	if m.username != "" {
		cur.Username = m.username
	}
	if m.password != "" {
		cur.Password = m.password
	}
	return cur
}

// startFlags say where a fresh reader starts.
type startFlags struct {
	startOptime   string
	optimeLogfile string
}

func (s *startFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.startOptime, "start-optime", "", "start at this oplog time: seconds, or T,I (used when the spool is empty)")
	f.StringVar(&s.optimeLogfile, "optime-logfile", "", "py-mongo-sync optime log to start from (used when the spool is empty)")
}

func (s *startFlags) apply(cfg *config.Config) error {
	if s.startOptime == "" {
		return nil
	}
	o, err := config.ParseOptime(s.startOptime)
	if err != nil {
		return err
	}
	cfg.Sync.StartOptime = &o
	return nil
}
