// Package testlog gives tests a logger that prints nothing.
package testlog

import (
	"io"

	"github.com/sirupsen/logrus"
)

// Quiet returns a logger that discards everything.
func Quiet() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}
