package exec

import (
	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/sirupsen/logrus"
)

func quietLog() logrus.FieldLogger { return testlog.Quiet() }
