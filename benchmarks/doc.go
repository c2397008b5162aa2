// Package benchmarks holds am-fanout's end-to-end load benchmark: the real
// binary, built from this tree, receives webhook notifications over HTTP
// and delivers every alert to local webhook targets. Everything listens on
// 127.0.0.1. The package has no tests; run its benchmarks one at a time,
// each with its own count (one operation is a notification in
// BenchmarkEndToEnd, a round in BenchmarkRounds, a replica's takeover in
// BenchmarkTakeover):
//
//	go test -run '^$' -bench '^BenchmarkEndToEnd$' -benchtime=2000x ./benchmarks/
//	go test -run '^$' -bench '^BenchmarkRounds$' -benchtime=8x ./benchmarks/
//	go test -run '^$' -bench '^BenchmarkTakeover$' -benchtime=3x ./benchmarks/
package benchmarks
