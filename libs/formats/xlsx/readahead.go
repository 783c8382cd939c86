package xlsx

import "io"

// Read-ahead of a sheet part: inflating the part and scanning its XML are
// the two halves of reading a sheet, and a goroutine that inflates a few
// buffers ahead lets them run on two cores. Small parts are read directly.
const (
	readAheadMin     = 4 << 20  // declared uncompressed size from which a part is read ahead
	readAheadBuffers = 4        // buffers in flight
	readAheadSize    = 64 << 10 // bytes a buffer holds
)

// readAhead reads r in a goroutine of its own into a few buffers. Read
// returns their bytes in order, then the error that ended r (io.EOF at its
// end). close stops the goroutine; it must be called.
type readAhead struct {
	full chan readChunk
	free chan []byte
	stop chan struct{}
	done chan struct{}
	buf  []byte // the buffer being consumed, to hand back
	cur  []byte // its unread bytes
	err  error
}

type readChunk struct {
	b   []byte
	err error
}

func newReadAhead(r io.Reader) *readAhead {
	ra := &readAhead{
		full: make(chan readChunk, readAheadBuffers),
		free: make(chan []byte, readAheadBuffers),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	for range readAheadBuffers {
		ra.free <- make([]byte, readAheadSize)
	}
	go ra.run(r)
	return ra
}

func (ra *readAhead) run(r io.Reader) {
	defer close(ra.done)
	for {
		var buf []byte
		select {
		case buf = <-ra.free:
		case <-ra.stop:
			return
		}
		n, err := fill(r, buf)
		select {
		case ra.full <- readChunk{buf[:n], err}:
		case <-ra.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// fill reads r into buf until it is full or r ends; a panic of the
// decompressor is an error of the file, as on the reading goroutine.
func fill(r io.Reader, buf []byte) (n int, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = malformedf("read sheet: %v", v)
		}
	}()
	n, err = io.ReadFull(r, buf)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return n, err
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.err != nil {
			return 0, ra.err
		}
		if ra.buf != nil {
			ra.free <- ra.buf[:cap(ra.buf)]
			ra.buf = nil
		}
		c := <-ra.full
		ra.buf, ra.cur, ra.err = c.b, c.b, c.err
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// close stops the goroutine and waits for it.
func (ra *readAhead) close() {
	select {
	case <-ra.stop:
	default:
		close(ra.stop)
	}
	<-ra.done
}
