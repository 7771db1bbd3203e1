// Package bench holds Framework M's performance benchmarks (go test -bench .
// ./bench/): repository Get and List over 100,000 rows on SQLite and
// PostgreSQL, and an in-process HTTP round trip of the resource API. The
// figures in README.md come from here. PostgreSQL benchmarks run when
// FM_TEST_POSTGRES_DSN is set.
package bench
