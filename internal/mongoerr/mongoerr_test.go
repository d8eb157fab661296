package mongoerr

import (
	"errors"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

func TestDuplicateKey(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"E11000 write error", mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 11000, Message: "E11000 duplicate key error"}}}, true},
		{"E11000 command error, wrapped", fmt.Errorf("seq 3: %w", mongo.CommandError{Code: 11000}), true},
		{"test server's unique violation", mongo.CommandError{Code: 1, Message: "constraint failed: UNIQUE constraint failed: index 'c_x_1' (2067)"}, true},
		{"another internal error", mongo.CommandError{Code: 1, Message: "disk I/O error"}, false},
		{"path not viable", mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 28}}}, false},
		{"not a server error", errors.New("UNIQUE constraint failed"), false},
		{"nil", nil, false},
	} {
		if got := DuplicateKey(c.err); got != c.want {
			t.Errorf("%s: DuplicateKey = %v, want %v", c.name, got, c.want)
		}
	}
}
