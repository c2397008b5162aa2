package outbox

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// BenchmarkStoreDeliveries measures the durable store alone under the
// pipeline's load: one operation accepts one new alert for ten targets,
// then records each of its ten deliveries as done at its first attempt
// through one writer that records everything settled at the time in one
// write, as the pipeline's settler does; eight operations run at once, so
// writes share group commits. It reports the
// store's time per delivery, the process's CPU per delivery (the store's
// and the benchmark's own encoding of the candidates), the pages written
// per delivery, and per commit the writes it held, the pages it wrote
// (each one write) and the time writing them and syncing took; with the
// store's pages and with the system's 4 KiB ones.
//
//	go test -run '^$' -bench BenchmarkStoreDeliveries -benchtime=5000x ./outbox/
func BenchmarkStoreDeliveries(b *testing.B) {
	defer func(n int) { pageSize = n }(pageSize)
	for _, size := range []int{4 << 10, pageSize} {
		b.Run(fmt.Sprintf("page=%d", size), func(b *testing.B) {
			pageSize = size
			benchStoreDeliveries(b)
		})
	}
}

func benchStoreDeliveries(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "outbox.db"), StoreOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const targets, concurrent = 10, 8
	var seq atomic.Int64
	before, commitsBefore := s.db.Stats(), s.CommitStats()
	jobs := make(chan struct{})
	// One writer records what the attempts settled, many settlements per
	// write, as the pipeline's settler does.
	type queued struct {
		st   *Settlement
		done func()
	}
	settled := make(chan queued, targets*concurrent)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		var batch []queued
		var ss []*Settlement
		for q := range settled {
			batch, ss = append(batch[:0], q), append(ss[:0], q.st)
		more:
			for {
				select {
				case q, ok := <-settled:
					if !ok {
						break more
					}
					batch, ss = append(batch, q), append(ss, q.st)
				default:
					break more
				}
			}
			if err := s.Record(time.Now(), ss...); err != nil {
				b.Error(err)
			}
			for _, q := range batch {
				q.done()
			}
		}
	}()
	var wg sync.WaitGroup
	cpuBefore := processCPU()
	start := time.Now()
	for range concurrent {
		wg.Go(func() {
			for range jobs {
				n := seq.Add(1)
				a := &core.EnrichedAlert{Alert: core.Alert{
					Fingerprint: fmt.Sprintf("%016x", uint64(n)*0x9e3779b97f4a7c15), Status: core.StatusFiring,
					StartsAt: epoch, Labels: map[string]string{"alertname": "Load", "seq": fmt.Sprint(n)},
					Annotations: map[string]string{"summary": "load test alert"},
				}}
				enc := NewEncoder([]*core.EnrichedAlert{a}, time.Now(), "")
				cands := make([]*Candidate, targets)
				for i := range cands {
					cands[i] = enc.Alert(fmt.Sprintf("target-%d", i), 0)
				}
				if err := s.Accept(cands, time.Now()); err != nil {
					b.Error(err)
					return
				}
				var done sync.WaitGroup
				for _, c := range cands {
					d := c.Delivery
					d.Attempts = 1
					out := &core.Outcome{Kind: core.OutcomeDelivered, StatusCode: 200, Duration: time.Millisecond}
					done.Add(1)
					settled <- queued{&Settlement{Delivery: d, Fate: FateDone, Attempt: out, At: time.Now()}, done.Done}
				}
				done.Wait()
			}
		})
	}
	for b.Loop() {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	close(settled)
	<-writerDone
	took := time.Since(start)
	cpu := processCPU() - cpuBefore
	after := s.db.Stats()
	st := after.Sub(&before)
	deliveries := float64(b.N * targets)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(took.Microseconds())/deliveries, "us/delivery")
	b.ReportMetric(float64(cpu.Microseconds())/deliveries, "cpu-us/delivery")
	b.ReportMetric(float64(st.TxStats.GetPageAlloc())/float64(s.db.Info().PageSize)/deliveries, "pages/delivery")
	cs := s.CommitStats()
	commits := float64(cs.Commits - commitsBefore.Commits)
	b.ReportMetric(float64(cs.Writes-commitsBefore.Writes)/commits, "writes/commit")
	b.ReportMetric(float64((cs.Took-commitsBefore.Took).Microseconds())/commits, "us/commit")
	b.ReportMetric(float64(st.TxStats.GetWrite())/commits, "pages/commit")
	b.ReportMetric(float64(st.TxStats.GetWriteTime().Microseconds())/commits, "write-us/commit")
}

// processCPU is the CPU time (user and system) this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCommitPages measures what the file system charges a bbolt
// commit per page it writes, without bbolt: one operation writes pages
// scattered pages of a 40 MiB file, fdatasyncs, writes one more page
// (the meta page) and fdatasyncs again, as a commit does; with the
// system's 4 KiB pages and with 16 KiB ones. It reports the time per
// commit (ns/op) and the process's CPU per commit: why the pages a
// commit dirties count.
//
//	go test -run '^$' -bench BenchmarkCommitPages -benchtime=1000x ./outbox/
func BenchmarkCommitPages(b *testing.B) {
	for _, c := range []struct{ size, pages int }{{4 << 10, 1}, {4 << 10, 6}, {4 << 10, 13}, {4 << 10, 22}, {4 << 10, 60}, {16 << 10, 13}} {
		b.Run(fmt.Sprintf("page=%d/pages=%d", c.size, c.pages), func(b *testing.B) {
			f := newPagesFile(b, c.size)
			rng := rand.New(rand.NewPCG(1, 2))
			at := make([]int, c.pages)
			cpuBefore := processCPU()
			for b.Loop() {
				f.commit(b, f.scattered(rng, at))
			}
			b.ReportMetric(float64((processCPU()-cpuBefore).Microseconds())/float64(b.N), "cpu-us/commit")
		})
	}
}

// BenchmarkLogSync measures what a commit's sync of the write-ahead log
// costs on its own: one operation writes a record of 2 KiB after the
// one before and syncs the log (fdatasync), in a log of checkpointBytes
// whose blocks were written before, from its start again at its end
// (overwrite: the log after its first checkpoint, which starts again
// from its beginning), or in one that grows (append). It reports the
// time per sync (ns/op) and the process's CPU per sync.
//
//	go test -run '^$' -bench BenchmarkLogSync -benchtime=2000x ./outbox/
func BenchmarkLogSync(b *testing.B) {
	const record = 2 << 10
	for _, overwrite := range []bool{true, false} {
		b.Run(map[bool]string{true: "overwrite", false: "append"}[overwrite], func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "outbox.db.wal"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			rec := make([]byte, record)
			if overwrite {
				// Written whole before the loop (b.N is not known
				// until b.Loop ends).
				if _, err := f.WriteAt(make([]byte, checkpointBytes), 0); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
			}
			cpuBefore, off := processCPU(), int64(0)
			for b.Loop() {
				if _, err := f.WriteAt(rec, off); err != nil {
					b.Fatal(err)
				}
				if err := fdatasync(f); err != nil {
					b.Fatal(err)
				}
				if off += record; overwrite && off+record > checkpointBytes {
					off = 0
				}
			}
			b.ReportMetric(float64((processCPU()-cpuBefore).Microseconds())/float64(b.N), "cpu-us/sync")
		})
	}
}

// BenchmarkCommitLayout weighs where a commit's pages lie, without
// bbolt: each operation makes two commits of pages 16 KiB pages each,
// as BenchmarkCommitPages does, one with its pages scattered over the
// file, as bbolt's freelist hands them out (a commit's pages land in
// several runs of adjacent ones: BENCHMARKS.md), and one with them in
// one run of adjacent pages at a random place, what an allocator that
// gave each commit one span would write. The two alternate, so that a
// disk whose speed drifts over a run moves both alike. It reports each
// layout's time per commit and their ratio.
//
//	go test -run '^$' -bench BenchmarkCommitLayout -benchtime=1000x ./outbox/
func BenchmarkCommitLayout(b *testing.B) {
	for _, pages := range []int{9, 13} {
		b.Run(fmt.Sprintf("pages=%d", pages), func(b *testing.B) {
			f := newPagesFile(b, 16<<10)
			rng := rand.New(rand.NewPCG(1, 2))
			at := make([]int, pages)
			timed := func(at []int) time.Duration {
				start := time.Now()
				f.commit(b, at)
				return time.Since(start)
			}
			var scattered, contiguous time.Duration
			for b.Loop() {
				scattered += timed(f.scattered(rng, at))
				contiguous += timed(f.contiguous(rng, at))
			}
			n := float64(b.N)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(scattered.Microseconds())/n, "scattered-us/commit")
			b.ReportMetric(float64(contiguous.Microseconds())/n, "contiguous-us/commit")
			b.ReportMetric(float64(contiguous)/float64(scattered), "contiguous/scattered")
		})
	}
}

// pagesFile is a 40 MiB file of pages of one size, every one written and
// synced, so that the commits of a benchmark overwrite allocated blocks.
// Page 0 stands for bbolt's meta page.
type pagesFile struct {
	f     *os.File
	page  []byte
	pages int
}

func newPagesFile(b *testing.B, size int) *pagesFile {
	b.Helper()
	f, err := os.Create(filepath.Join(b.TempDir(), "pages"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	p := &pagesFile{f: f, page: make([]byte, size), pages: (40 << 20) / size}
	for i := range p.pages {
		if _, err := f.WriteAt(p.page, int64(i*size)); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	return p
}

// scattered fills at with pages anywhere past the meta page.
func (p *pagesFile) scattered(rng *rand.Rand, at []int) []int {
	for i := range at {
		at[i] = 1 + rng.IntN(p.pages-1)
	}
	return at
}

// contiguous fills at with one run of adjacent pages past the meta page.
func (p *pagesFile) contiguous(rng *rand.Rand, at []int) []int {
	first := 1 + rng.IntN(p.pages-len(at))
	for i := range at {
		at[i] = first + i
	}
	return at
}

// commit writes the pages at, fdatasyncs, writes 4 KiB of the meta page
// and fdatasyncs again, as a bbolt commit does.
func (p *pagesFile) commit(b *testing.B, at []int) {
	for _, i := range at {
		if _, err := p.f.WriteAt(p.page, int64(i*len(p.page))); err != nil {
			b.Fatal(err)
		}
	}
	if err := syscall.Fdatasync(int(p.f.Fd())); err != nil {
		b.Fatal(err)
	}
	if _, err := p.f.WriteAt(p.page[:4096], 0); err != nil {
		b.Fatal(err)
	}
	if err := syscall.Fdatasync(int(p.f.Fd())); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPruneBound measures finding a count bound's floor, the read a
// storm's prune makes of a bucket before deleting: 150 000 done records
// in random time order, of which the bound keeps 100 000 (max_done, the
// bucket as it is when max_done/2 more were accepted since the last
// prune). It reports the time and allocations of one read.
//
//	go test -run '^$' -bench BenchmarkPruneBound ./outbox/
func BenchmarkPruneBound(b *testing.B) {
	const n, keep = 150000, 100000
	s := newStore(b, StoreOptions{})
	now := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	err := s.update(func(tx *boltTx) error {
		bk := tx.Bucket(bucketDone)
		for i := range n {
			// Ties, as records settled in one commit have.
			at := now.Add(-time.Duration(rng.IntN(n/4)) * time.Millisecond)
			if err := bk.Put(fmt.Appendf(nil, "%064d", i), encodeTime(at)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = s.view(func(tx *boltTx) error {
			if bd := boundOf(tx.Bucket(bucketDone), time.Time{}, keep, decodeTime); bd.floor.IsZero() {
				b.Fatal("no bound found")
			}
			return nil
		})
	}
}
