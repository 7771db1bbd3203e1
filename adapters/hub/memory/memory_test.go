package memory

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/fmtest/hubtest"
	"github.com/framework-m/framework-m/ports"
)

func TestContract(t *testing.T) {
	hubtest.Run(t, func(t *testing.T) ports.Hub { return New() })
}

func TestContractShared(t *testing.T) {
	hubtest.RunShared(t, func(t *testing.T) (a, b ports.Hub) {
		h := New()
		return h, h
	})
}

// blockingHandler holds its first Receive until release is closed.
type blockingHandler struct {
	entered chan struct{}
	release chan struct{}
	events  chan string
	first   bool
}

func (b *blockingHandler) Receive(p []byte) {
	if !b.first {
		b.first = true
		close(b.entered)
		<-b.release
	}
	b.events <- string(p)
}

func (b *blockingHandler) Connected(ok bool) { b.events <- fmt.Sprintf("connected=%v", ok) }

func TestSlowSubscriberIsToldOfLostMessages(t *testing.T) {
	h := New()
	hd := &blockingHandler{entered: make(chan struct{}), release: make(chan struct{}), events: make(chan string, 2*BufferSize)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Subscribe(ctx, "t", hd) }()
	require.Equal(t, "connected=true", <-hd.events)

	pub := func(i int) { require.NoError(t, h.Publish(context.Background(), "t", fmt.Appendf(nil, "%d", i))) }
	pub(0)
	<-hd.entered // message 0 is out of the queue, its handler stuck
	const n = BufferSize + 100
	for i := 1; i <= n; i++ {
		pub(i)
	}
	close(hd.release)
	for i := 0; i <= BufferSize; i++ {
		require.Equal(t, fmt.Sprint(i), <-hd.events)
	}
	require.Equal(t, "connected=false", <-hd.events, "dropped messages are reported where they went missing")
	require.Equal(t, "connected=true", <-hd.events)
	pub(n + 1)
	require.Equal(t, fmt.Sprint(n+1), <-hd.events, "messages published once there is room again arrive")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Subscribe did not return")
	}
	require.Equal(t, "connected=false", <-hd.events)
	require.Empty(t, h.subs, "an ended subscription is forgotten")
}

func TestEmptyTopic(t *testing.T) {
	h := New()
	require.Error(t, h.Publish(context.Background(), "", nil))
	require.Error(t, h.Subscribe(context.Background(), "", nil))
}
