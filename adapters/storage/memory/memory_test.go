package memory_test

import (
	"testing"

	"github.com/framework-m/framework-m/adapters/storage/memory"
	"github.com/framework-m/framework-m/fmtest/storagetest"
	"github.com/framework-m/framework-m/ports"
)

func TestContract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) ports.Storage { return memory.New() })
}
