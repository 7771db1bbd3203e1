// Package cluster holds the acceptance tests of Framework M running as a
// cluster: two app instances, each a real process, sharing one PostgreSQL
// and one Redis that the tests start, stop, freeze (SIGSTOP) and thaw
// themselves.
//
// The instances are the test binary itself, re-executed with
// FM_CLUSTER_NODE set (see TestMain): each builds an App from a
// configuration made in Go, listens on a free loopback port, prints its
// address on stdout and serves until SIGTERM. The tests need:
//
//   - FM_TEST_PG_BIN: the directory holding initdb, pg_ctl and postgres
//     (such as /usr/lib/postgresql/17/bin). One private cluster is started
//     per package run, on a free port; every test gets a database of its own.
//     As root, the cluster runs as the postgres system user.
//   - FM_TEST_REDIS_BIN: a redis-server binary; each test that needs Redis
//     starts its own on a free port.
//
// Without them the tests skip, and fail under FM_REQUIRE_SERVERS (CI).
package cluster
