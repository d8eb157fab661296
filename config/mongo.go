package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

// Empty reports whether no connection is configured.
func (m Mongo) Empty() bool { return m.URI == "" && m.Hosts == "" }

// ConnString is the mongodb:// URI to connect with: the URI as given, or one
// built from py-mongo-sync's hosts ("h1:p,h2:p" or "rs/h1:p,h2:p") and
// credentials (authdb defaults to admin, as py-mongo-sync did).
func (m Mongo) ConnString() string {
	if m.URI != "" {
		return m.URI
	}
	hosts, q := m.Hosts, url.Values{}
	if set, list, ok := strings.Cut(hosts, "/"); ok {
		hosts = list
		q.Set("replicaSet", set)
	}
	u := url.URL{Scheme: "mongodb", Host: strings.ReplaceAll(hosts, " ", ""), Path: "/"}
	if m.Username != "" {
		u.User = url.UserPassword(m.Username, m.Password)
		authdb := m.AuthDB
		if authdb == "" {
			authdb = "admin"
		}
		q.Set("authSource", authdb)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Redacted is ConnString with the password hidden, for logs and errors.
func (m Mongo) Redacted() string { return RedactURI(m.ConnString()) }

var uriPassword = regexp.MustCompile(`^(mongodb(?:\+srv)?://[^:@/]*:)[^@/]*@`)

// RedactURI hides the password of a mongodb:// URI.
func RedactURI(uri string) string {
	return uriPassword.ReplaceAllString(uri, "${1}***@")
}

func (c *Config) validateMongo(key string, m Mongo) error {
	if len(m.Shards) > 0 && key != "src" {
		return c.errorf(key+".shards", "only the source can be listed as shards")
	}
	if m.URI != "" && (m.Hosts != "" || m.Username != "" || m.Password != "" || m.AuthDB != "") {
		return c.errorf(key, "set either uri or hosts/username/password/authdb, not both")
	}
	if m.Empty() {
		if (m.Username != "" || m.Password != "") && len(m.Shards) == 0 {
			return c.errorf(key+".hosts", "username given without hosts")
		}
		return nil
	}
	if m.URI != "" && !strings.HasPrefix(m.URI, "mongodb://") && !strings.HasPrefix(m.URI, "mongodb+srv://") {
		return c.errorf(key+".uri", "%q is not a mongodb:// URI", RedactURI(m.URI))
	}
	if m.Password != "" && m.Username == "" {
		return c.errorf(key+".password", "password given without username")
	}
	if _, err := connstring.ParseAndValidate(m.ConnString()); err != nil {
		k := key + ".uri"
		if m.URI == "" {
			k = key + ".hosts"
		}
		return c.errorf(k, "%s: %s", RedactURI(m.ConnString()), redactErr(err, m.Password))
	}
	return nil
}

func redactErr(err error, password string) string {
	s := err.Error()
	if password != "" {
		s = strings.ReplaceAll(s, password, "***")
	}
	return RedactURI(s)
}

// RequireSource errors when no source is configured.
func (c *Config) RequireSource() error {
	if c.Src.Empty() && len(c.Src.Shards) == 0 {
		return c.errorf("src", "no source: set src.uri or src.hosts (or --src)")
	}
	return nil
}

// RequireDest errors when no destination is configured.
func (c *Config) RequireDest() error {
	if c.DstMongo().Empty() {
		return c.errorf("dst", "no destination: set dst.uri, dst.hosts or dst.mongo.hosts (or --dst)")
	}
	return nil
}

// String describes the configuration without secrets.
func (c *Config) String() string {
	return fmt.Sprintf("src=%s dst=%s spool=%s store=%s", c.Src.Redacted(), c.DstMongo().Redacted(), c.Spool.Dir, c.Store.Path)
}

// zero reports whether nothing at all is set.
func (m Mongo) zero() bool {
	return m.URI == "" && m.Hosts == "" && m.AuthDB == "" && m.Username == "" && m.Password == "" && len(m.Shards) == 0
}
