package train

import (
	"cyclepix/data"
	"cyclepix/models"
	"cyclepix/torch"
)

// BatchInput turns a loader batch into a model input on dev, as the
// training loop does (for benchmarks that drive a model themselves).
func BatchInput(b *data.Batch, dev torch.Device) models.Input { return toInput(b, dev) }
