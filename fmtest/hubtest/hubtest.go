// Package hubtest is the contract suite of the Hub port: every hub (in-process,
// Redis, PostgreSQL …) delivers the same way.
//
//	func TestHub(t *testing.T) {
//		hubtest.Run(t, func(t *testing.T) ports.Hub { return myhub.New(...) })
//		hubtest.RunShared(t, func(t *testing.T) (a, b ports.Hub) {
//			return myhub.New(...), myhub.New(...) // two clients of one server
//		})
//	}
//
// Every subtest uses topics of its own (a random suffix), so suites may run in
// parallel against one server. The payloads the suite sends are UTF-8 text, as
// every hub carries (PostgreSQL's NOTIFY carries text only). The suite waits
// on channels, never on sleeps: each wait gives up after Wait.
package hubtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/ports"
)

// Wait is how long the suite waits for one thing a hub should do (deliver a
// message, report a connection, return from Subscribe) before failing.
const Wait = 5 * time.Second

// ReconnectWait is how long RunReconnect waits for a subscription to notice
// its lost connection and to connect again.
const ReconnectWait = 20 * time.Second

// NewHub returns a hub for one subtest. It is called from parallel subtests;
// hubs may share a server, since every subtest uses topics of its own.
// Release resources with t.Cleanup.
type NewHub = func(t *testing.T) ports.Hub

// NewPair returns two hubs that are two instances of one deployment (two
// clients of the same server, or one in-process hub twice): what one
// publishes reaches the other's subscriptions.
type NewPair = func(t *testing.T) (a, b ports.Hub)

// Run checks newHub's hubs, each behaviour in a parallel subtest of its own.
func Run(t *testing.T, newHub NewHub) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, h ports.Hub)
	}{
		{"ReceivesPublished", testReceivesPublished},
		{"ConnectedBeforeFirstMessage", testConnectedFirst},
		{"OrderOfOnePublisher", testOrder},
		{"OrderOfConcurrentPublishers", testConcurrentPublishers},
		{"TopicsAreSeparate", testTopicsSeparate},
		{"TwoSubscriptionsOfOneTopic", testTwoSubscriptions},
		{"PublisherMayReuseItsBuffer", testPublisherBuffer},
		{"EmptyPayload", testEmptyPayload},
		{"PayloadLimit", testPayloadLimit},
		{"CancelledSubscribeStops", testCancelStops},
		{"SubscribeWithEndedContext", testSubscribeEndedContext},
		{"PublishWithEndedContext", testPublishEndedContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newHub(t))
		})
	}
}

// RunShared checks that two instances of one deployment hear each other, each
// behaviour in a parallel subtest of its own.
func RunShared(t *testing.T, newPair NewPair) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b ports.Hub)
	}{
		{"ReachesTheOtherInstance", testReachesOther},
		{"OrderAcrossInstances", testOrderAcross},
		{"TopicsAreSeparateAcrossInstances", testTopicsSeparateAcross},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := newPair(t)
			tc.fn(t, a, b)
		})
	}
}

// RunReconnect checks that a subscription of h survives the loss of its
// connection: kill must break the server connection of every subscription h
// has (killing other clients' connections too is fine, but each test should
// target only its own, since others may be running). The subscription must
// report Connected(false), then Connected(true) once it is back, and deliver
// what is published after that.
//
// Unlike Run, RunReconnect is not parallel: call it from a test of its own.
func RunReconnect(t *testing.T, h ports.Hub, kill func(t *testing.T)) {
	t.Helper()
	topic := Topic("reconnect")
	r := subscribe(t, h, topic)
	publish(t, h, topic, "before")
	require.Equal(t, "before", string(r.message(t)))

	kill(t)
	e := r.next(t, ReconnectWait)
	require.True(t, e.isConn && !e.ok, "after its connection was killed, the subscription must report Connected(false) first; got %s", e)
	e = r.next(t, ReconnectWait)
	require.True(t, e.isConn && e.ok, "after Connected(false), the subscription must reconnect and report Connected(true); got %s", e)

	publish(t, h, topic, "after")
	require.Equal(t, "after", string(r.message(t)), "a message published after the reconnection must arrive")
}

// Topic returns a topic name unique to one test: the prefix "ht.", a random
// suffix and name (keep name short: some hubs limit a topic's length).
func Topic(name string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "ht." + hex.EncodeToString(b[:]) + "." + name
}

func testReceivesPublished(t *testing.T, h ports.Hub) {
	topic := Topic("recv")
	r := subscribe(t, h, topic)
	for _, p := range []string{"hello", `{"doctype":"Invoice","name":"INV-0001","note":"héllo ✓"}`} {
		publish(t, h, topic, p)
		require.Equal(t, p, string(r.message(t)), "a subscription receives what its own hub publishes")
	}
	r.requireQuiet(t)
}

func testConnectedFirst(t *testing.T, h ports.Hub) {
	topic := Topic("first")
	r := startSubscribe(t, h, topic)
	// Publish again and again while the subscription starts, so that a hub
	// delivering before it reports Connected(true) is caught doing it.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			_ = h.Publish(context.Background(), topic, fmt.Appendf(nil, "tick-%d", i))
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	e := r.next(t, Wait)
	require.True(t, e.isConn && e.ok, "the first call of a subscription must be Connected(true); got %s", e)
	e = r.next(t, Wait)
	require.False(t, e.isConn, "once connected, the subscription must receive what is published; got %s", e)
	require.True(t, strings.HasPrefix(string(e.payload), "tick-"), "got %s", e)
}

func testOrder(t *testing.T, h ports.Hub) {
	topic := Topic("order")
	r := subscribe(t, h, topic)
	const n = 200
	for i := range n {
		publish(t, h, topic, fmt.Sprintf("m-%03d", i))
	}
	for i := range n {
		require.Equal(t, fmt.Sprintf("m-%03d", i), string(r.message(t)), "payloads of one publisher arrive in the order published")
	}
	r.requireQuiet(t)
}

func testConcurrentPublishers(t *testing.T, h ports.Hub) {
	topic := Topic("conc")
	r := subscribe(t, h, topic)
	const publishers, each = 4, 50
	errs := make(chan error, publishers)
	for p := range publishers {
		go func() {
			for i := range each {
				if err := h.Publish(context.Background(), topic, fmt.Appendf(nil, "%d-%03d", p, i)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range publishers {
		require.NoError(t, <-errs)
	}
	next := make([]int, publishers)
	for range publishers * each {
		var p, i int
		msg := r.message(t)
		_, err := fmt.Sscanf(string(msg), "%d-%d", &p, &i)
		require.NoError(t, err, "unexpected payload %q", msg)
		require.Equal(t, next[p], i, "publisher %d's payloads must arrive in the order it published them", p)
		next[p]++
	}
	r.requireQuiet(t)
}

func testTopicsSeparate(t *testing.T, h ports.Hub) {
	topics := separateTopics()
	r1 := subscribe(t, h, topics[0])
	r2 := subscribe(t, h, topics[1])
	r3 := subscribe(t, h, topics[2])
	checkSeparate(t, h, topics, r1, r2, r3)
}

// separateTopics are three topics whose names are prefixes of one another.
func separateTopics() [3]string {
	base := Topic("sep")
	return [3]string{base, base + ".x", base + "x"}
}

// checkSeparate publishes on each topic in turn through pub and checks each
// subscription receives what was published on its own topic only.
func checkSeparate(t *testing.T, pub ports.Hub, topics [3]string, rs ...*recorder) {
	t.Helper()
	for i, topic := range topics {
		publish(t, pub, topic, fmt.Sprintf("for-%d", i))
		require.Equal(t, fmt.Sprintf("for-%d", i), string(rs[i].message(t)), "topic %q", topic)
	}
	// What was published on the other topics would have arrived before these.
	for i, topic := range topics {
		publish(t, pub, topic, fmt.Sprintf("end-%d", i))
	}
	for i, topic := range topics {
		require.Equal(t, fmt.Sprintf("end-%d", i), string(rs[i].message(t)), "a subscription of %q received another topic's message", topic)
		rs[i].requireQuiet(t)
	}
}

func testTwoSubscriptions(t *testing.T, h ports.Hub) {
	topic := Topic("two")
	r1 := subscribe(t, h, topic)
	r2 := subscribe(t, h, topic)
	for i := range 20 {
		publish(t, h, topic, fmt.Sprintf("both-%d", i))
	}
	// Each recorder overwrites the payload it is given (it is its own), so a
	// hub handing one slice to both subscriptions is caught here, or by -race.
	for i := range 20 {
		require.Equal(t, fmt.Sprintf("both-%d", i), string(r1.message(t)), "first subscription")
		require.Equal(t, fmt.Sprintf("both-%d", i), string(r2.message(t)), "second subscription")
	}
	r1.requireQuiet(t)
	r2.requireQuiet(t)
}

func testPublisherBuffer(t *testing.T, h ports.Hub) {
	topic := Topic("buf")
	r := subscribe(t, h, topic)
	buf := []byte("first")
	require.NoError(t, h.Publish(context.Background(), topic, buf))
	copy(buf, "xxxxx")
	require.NoError(t, h.Publish(context.Background(), topic, []byte("second")))
	require.Equal(t, "first", string(r.message(t)), "the hub must not read the publisher's buffer after Publish returns")
	require.Equal(t, "second", string(r.message(t)))
}

func testEmptyPayload(t *testing.T, h ports.Hub) {
	topic := Topic("empty")
	r := subscribe(t, h, topic)
	require.NoError(t, h.Publish(context.Background(), topic, nil))
	require.NoError(t, h.Publish(context.Background(), topic, []byte{}))
	publish(t, h, topic, "x")
	require.Empty(t, r.message(t))
	require.Empty(t, r.message(t))
	require.Equal(t, "x", string(r.message(t)))
}

func testPayloadLimit(t *testing.T, h ports.Hub) {
	topic := Topic("limit")
	r := subscribe(t, h, topic)
	tooLarge := textPayload(ports.MaxHubPayload + 1)
	require.Error(t, h.Publish(context.Background(), topic, tooLarge), "a payload of MaxHubPayload+1 bytes must be refused")
	largest := textPayload(ports.MaxHubPayload)
	require.NoError(t, h.Publish(context.Background(), topic, largest), "a payload of MaxHubPayload bytes must be carried")
	got := r.message(t)
	require.Len(t, got, ports.MaxHubPayload, "the refused payload must not be delivered; the largest must arrive whole")
	require.True(t, bytes.Equal(largest, got), "the largest payload arrived changed")
	r.requireQuiet(t)
}

// textPayload returns n bytes of printable ASCII that are not all alike.
func textPayload(n int) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789{}[]:,\"-_"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[(i*7+i/len(alphabet))%len(alphabet)]
	}
	return b
}

func testCancelStops(t *testing.T, h ports.Hub) {
	topic := Topic("cancel")
	stopped := subscribe(t, h, topic)
	witness := subscribe(t, h, topic)
	publish(t, h, topic, "before")
	require.Equal(t, "before", string(stopped.message(t)))
	require.Equal(t, "before", string(witness.message(t)))

	require.NoError(t, stopped.stop(t), "Subscribe returns nil once its context ends")
	publish(t, h, topic, "after")
	require.Equal(t, "after", string(witness.message(t)))
	// The witness has it: a stopped subscription would have it by now too.
	for len(stopped.events) > 0 {
		e := <-stopped.events
		require.True(t, e.isConn && !e.ok, "a stopped subscription delivered %s", e)
	}
	stopped.requireNoProblems(t)
}

func testSubscribeEndedContext(t *testing.T, h ports.Hub) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() { done <- h.Subscribe(ctx, Topic("ended"), nopHandler{}) }()
	select {
	case err := <-done:
		require.NoError(t, err, "Subscribe with an ended context returns nil")
	case <-time.After(Wait):
		t.Fatalf("Subscribe with an ended context did not return within %v", Wait)
	}
}

func testPublishEndedContext(t *testing.T, h ports.Hub) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.Error(t, h.Publish(ctx, Topic("ended"), []byte("x")), "Publish with an ended context must fail")
}

func testReachesOther(t *testing.T, a, b ports.Hub) {
	topic := Topic("pair")
	ra := subscribe(t, a, topic)
	rb := subscribe(t, b, topic)
	publish(t, a, topic, "from-a")
	require.Equal(t, "from-a", string(rb.message(t)), "what A publishes reaches B's subscriptions")
	require.Equal(t, "from-a", string(ra.message(t)), "what A publishes reaches A's subscriptions")
	publish(t, b, topic, "from-b")
	require.Equal(t, "from-b", string(ra.message(t)), "what B publishes reaches A's subscriptions")
	require.Equal(t, "from-b", string(rb.message(t)), "what B publishes reaches B's subscriptions")
	ra.requireQuiet(t)
	rb.requireQuiet(t)
}

func testOrderAcross(t *testing.T, a, b ports.Hub) {
	topic := Topic("porder")
	r := subscribe(t, b, topic)
	const n = 200
	for i := range n {
		publish(t, a, topic, fmt.Sprintf("m-%03d", i))
	}
	for i := range n {
		require.Equal(t, fmt.Sprintf("m-%03d", i), string(r.message(t)), "payloads of one publisher arrive in order on another instance")
	}
	r.requireQuiet(t)
}

func testTopicsSeparateAcross(t *testing.T, a, b ports.Hub) {
	topics := separateTopics()
	r1 := subscribe(t, b, topics[0])
	r2 := subscribe(t, b, topics[1])
	r3 := subscribe(t, b, topics[2])
	checkSeparate(t, a, topics, r1, r2, r3)
}

func publish(t *testing.T, h ports.Hub, topic, payload string) {
	t.Helper()
	require.NoError(t, h.Publish(context.Background(), topic, []byte(payload)), "publish on %q", topic)
}

// event is one call of a recorder's methods.
type event struct {
	isConn  bool // a Connected call, else a Receive call
	ok      bool
	payload []byte
}

func (e event) String() string {
	if e.isConn {
		return fmt.Sprintf("Connected(%v)", e.ok)
	}
	if len(e.payload) > 60 {
		return fmt.Sprintf("Receive(%q… %d bytes)", e.payload[:60], len(e.payload))
	}
	return fmt.Sprintf("Receive(%q)", e.payload)
}

// recorder is a subscription's handler: it queues every call and notes the
// calls the contract forbids.
type recorder struct {
	topic  string
	events chan event

	inCall   atomic.Int32
	mu       sync.Mutex
	conn     bool
	returned bool
	problems []string

	cancel context.CancelFunc
	done   chan struct{}
	err    error // Subscribe's result, once done is closed
}

func (r *recorder) problem(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func (r *recorder) push(e event) {
	select {
	case r.events <- e:
	default:
		r.mu.Lock()
		r.problem("more than %d calls queued: the test does not read them", cap(r.events))
		r.mu.Unlock()
	}
}

// Receive implements ports.HubHandler.
func (r *recorder) Receive(payload []byte) {
	if r.inCall.Add(1) != 1 {
		r.mu.Lock()
		r.problem("handler called concurrently")
		r.mu.Unlock()
	}
	defer r.inCall.Add(-1)
	p := bytes.Clone(payload)
	// The payload is the handler's: scribble on it, so a hub that shares it
	// between subscriptions or reads it afterwards is caught.
	for i := range payload {
		payload[i] = '#'
	}
	r.mu.Lock()
	switch {
	case r.returned:
		r.problem("Receive(%q) after Subscribe returned", p)
	case !r.conn:
		r.problem("Receive(%q) while not connected (before Connected(true) or after Connected(false))", p)
	}
	r.mu.Unlock()
	r.push(event{payload: p})
}

// Connected implements ports.HubHandler.
func (r *recorder) Connected(ok bool) {
	if r.inCall.Add(1) != 1 {
		r.mu.Lock()
		r.problem("handler called concurrently")
		r.mu.Unlock()
	}
	defer r.inCall.Add(-1)
	r.mu.Lock()
	switch {
	case r.returned:
		r.problem("Connected(%v) after Subscribe returned", ok)
	case ok && r.conn:
		r.problem("Connected(true) while connected")
	case !ok && !r.conn:
		r.problem("Connected(false) while not connected")
	}
	r.conn = ok
	r.mu.Unlock()
	r.push(event{isConn: true, ok: ok})
}

// startSubscribe subscribes to topic in a goroutine; the test's cleanup ends
// the subscription and checks it ended well.
func startSubscribe(t *testing.T, h ports.Hub, topic string) *recorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &recorder{topic: topic, events: make(chan event, 1<<14), cancel: cancel, done: make(chan struct{})}
	go func() {
		err := h.Subscribe(ctx, topic, r)
		r.mu.Lock()
		r.returned = true
		r.mu.Unlock()
		r.err = err
		close(r.done)
	}()
	t.Cleanup(func() {
		if err := r.stop(t); err != nil {
			t.Errorf("subscription of %q: Subscribe returned %v once its context ended, want nil", topic, err)
		}
		r.requireNoProblems(t)
	})
	return r
}

// subscribe is startSubscribe, waiting for the subscription to report
// Connected(true), after which what is published must reach it.
func subscribe(t *testing.T, h ports.Hub, topic string) *recorder {
	t.Helper()
	r := startSubscribe(t, h, topic)
	e := r.next(t, Wait)
	require.True(t, e.isConn && e.ok, "subscription of %q: the first call must be Connected(true); got %s", topic, e)
	return r
}

// stop ends the subscription and returns Subscribe's result.
func (r *recorder) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		return r.err
	case <-time.After(Wait):
		t.Errorf("subscription of %q: Subscribe did not return within %v of its context ending", r.topic, Wait)
		return nil
	}
}

// next returns the next call of the handler, failing after within.
func (r *recorder) next(t *testing.T, within time.Duration) event {
	t.Helper()
	select {
	case e := <-r.events:
		return e
	case <-r.done:
		// It may have queued calls just before returning.
		select {
		case e := <-r.events:
			return e
		default:
		}
		t.Fatalf("subscription of %q: Subscribe returned early (%v)", r.topic, r.err)
	case <-time.After(within):
		t.Fatalf("subscription of %q: nothing delivered within %v", r.topic, within)
	}
	return event{}
}

// message returns the next payload delivered, failing on a Connected call.
func (r *recorder) message(t *testing.T) []byte {
	t.Helper()
	e := r.next(t, Wait)
	if e.isConn {
		t.Fatalf("subscription of %q: got %s while waiting for a message", r.topic, e)
	}
	return e.payload
}

// requireQuiet checks nothing else has been delivered so far, and no
// forbidden call was made.
func (r *recorder) requireQuiet(t *testing.T) {
	t.Helper()
	select {
	case e := <-r.events:
		t.Fatalf("subscription of %q: unexpected %s", r.topic, e)
	default:
	}
	r.requireNoProblems(t)
}

func (r *recorder) requireNoProblems(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	problems := append([]string(nil), r.problems...)
	r.mu.Unlock()
	assert.Empty(t, problems, "subscription of %q broke the HubHandler contract", r.topic)
}

type nopHandler struct{}

func (nopHandler) Receive([]byte) {}
func (nopHandler) Connected(bool) {}
