package gateway

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// spliceBuffer is one direction's copy buffer: a full TLS record.
const spliceBuffer = 16<<10 + 512

// splice copies client -> backend and backend -> client until both directions have ended,
// and closes both. A direction ends at its source's EOF, which is passed on as a half-close
// (the other direction goes on), or at an error, which ends both. The connection is
// closed when no byte moved either way for the idle timeout, half-closed or not. It
// returns the bytes copied each way.
func (g *Gateway) splice(client, backend net.Conn) (up, down int64) {
	var last atomic.Int64 // UnixNano of the last byte moved, either way
	last.Store(time.Now().UnixNano())
	var closeOnce sync.Once
	closeBoth := func() {
		closeOnce.Do(func() {
			client.Close()
			backend.Close()
		})
	}
	copyOne := func(dst, src net.Conn, n *int64) {
		bp := g.buffers.Get().(*[]byte)
		defer g.buffers.Put(bp)
		buf := *bp
		for {
			deadline := time.Unix(0, last.Load()).Add(g.opts.IdleTimeout)
			if !time.Now().Before(deadline) {
				closeBoth()
				return
			}
			src.SetReadDeadline(deadline)
			k, err := src.Read(buf)
			if k > 0 {
				last.Store(time.Now().UnixNano())
				dst.SetWriteDeadline(time.Now().Add(g.opts.IdleTimeout))
				if _, werr := dst.Write(buf[:k]); werr != nil {
					closeBoth()
					return
				}
				*n += int64(k)
			}
			switch {
			case err == nil:
			case errors.Is(err, os.ErrDeadlineExceeded):
				// Idle this way; the loop checks whether the other way moved meanwhile.
			case errors.Is(err, io.EOF):
				if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
					return
				}
				closeBoth()
				return
			default:
				closeBoth()
				return
			}
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); copyOne(backend, client, &up) }()
	go func() { defer wg.Done(); copyOne(client, backend, &down) }()
	wg.Wait()
	closeBoth()
	return up, down
}
