package memory_test

import (
	"testing"

	"github.com/framework-m/framework-m/adapters/emailqueue/memory"
	"github.com/framework-m/framework-m/fmtest/emailqueuetest"
	"github.com/framework-m/framework-m/ports"
)

func TestContract(t *testing.T) {
	emailqueuetest.Run(t, func(t *testing.T) ports.EmailQueue { return memory.New() })
}
