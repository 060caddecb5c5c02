package syncer

import (
	"context"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/util/flowcontrol"
)

// throttleReportEvery bounds how often the syncer reports that its own rate limit delayed
// requests: once per period at most, with the totals since the last report.
const throttleReportEvery = 30 * time.Second

// throttleThreshold is the delay below which a wait for the limiter is not counted: a
// token bucket hands out tokens at QPS, so short waits are normal under any load.
const throttleThreshold = 50 * time.Millisecond

// reportingLimiter is the token bucket shared by every client of one API server (cache,
// client, reader), which reports when it holds requests back: a syncer that throttles
// itself is slower than the host and the virtual API server allow, and the fix is
// --sync-qps/--sync-burst.
type reportingLimiter struct {
	flowcontrol.RateLimiter
	side string
	log  logr.Logger

	mu       sync.Mutex
	delayed  int
	longest  time.Duration
	reported time.Time
}

func newReportingLimiter(side string, qps float32, burst int, log logr.Logger) *reportingLimiter {
	return &reportingLimiter{RateLimiter: flowcontrol.NewTokenBucketRateLimiter(qps, burst), side: side, log: log}
}

func (l *reportingLimiter) Wait(ctx context.Context) error {
	start := time.Now()
	err := l.RateLimiter.Wait(ctx)
	l.observe(time.Since(start))
	return err
}

func (l *reportingLimiter) Accept() {
	start := time.Now()
	l.RateLimiter.Accept()
	l.observe(time.Since(start))
}

func (l *reportingLimiter) observe(d time.Duration) {
	if d < throttleThreshold {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.delayed++
	l.longest = max(l.longest, d)
	if now := time.Now(); now.Sub(l.reported) >= throttleReportEvery {
		l.log.Info("Syncer requests held back by its own rate limit: raise --sync-qps and --sync-burst if the API servers can take more",
			"apiServer", l.side, "requests", l.delayed, "longestWait", l.longest.Round(time.Millisecond), "qps", l.QPS())
		l.delayed, l.longest, l.reported = 0, 0, now
	}
}
