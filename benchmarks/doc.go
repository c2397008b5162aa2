// Package benchmarks holds am-fanout's end-to-end load benchmark: the real
// binary, built from this tree, receives webhook notifications over HTTP
// and delivers every alert to local webhook targets. Everything listens on
// 127.0.0.1. The package has no tests; run it with
//
//	go test -run '^$' -bench . -benchtime=2000x ./benchmarks/
package benchmarks
