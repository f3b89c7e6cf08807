package quality

import (
	"testing"

	"cyclepix/internal/testsupport/torchtest"
)

func TestMain(m *testing.M) { torchtest.Main(m) }
