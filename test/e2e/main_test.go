package e2e

import (
	"os"
	"testing"

	"github.com/go-logr/logr"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"
)

func TestMain(m *testing.M) {
	// The host clients log through controller-runtime; the tests report what matters.
	crlog.SetLogger(logr.Discard())
	os.Exit(m.Run())
}
