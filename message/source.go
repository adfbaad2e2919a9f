package message

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// Source is content that can be read again and again from the start, so a
// message can be written once to hash it for DKIM, once to the server, and
// once more to the spool, without ever holding an attachment in memory.
type Source interface {
	Open() (io.ReadCloser, error)
}

// File is a Source read from a path at write time.
type File string

// Open opens the file.
func (f File) Open() (io.ReadCloser, error) { return os.Open(string(f)) }

// Bytes is an in-memory Source.
type Bytes []byte

// Open returns a reader over the bytes.
func (b Bytes) Open() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }

// Spooled holds content read once from a stream (stdin): in memory up to a
// limit, then in an unlinked-on-Close temporary file, so a huge piped body
// costs disk, not memory.
type Spooled struct {
	mem  []byte
	path string
	size int64
}

// DefaultSpoolMemory is how much of a stream Spool keeps in memory before
// switching to a temporary file.
const DefaultSpoolMemory = 4 << 20

// Spool reads r to the end. dir is where the temporary file goes ("" means
// os.TempDir); memLimit <= 0 means DefaultSpoolMemory.
func Spool(r io.Reader, dir string, memLimit int) (*Spooled, error) {
	if memLimit <= 0 {
		memLimit = DefaultSpoolMemory
	}
	buf := make([]byte, 0, 64<<10)
	for len(buf) < memLimit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return &Spooled{mem: buf, size: int64(len(buf))}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read input: %w", err)
		}
	}
	f, err := os.CreateTemp(dir, "mailout-body-*")
	if err != nil {
		return nil, fmt.Errorf("spool input: %w", err)
	}
	s := &Spooled{path: f.Name()}
	n, err := f.Write(buf)
	s.size += int64(n)
	if err == nil {
		var m int64
		m, err = io.Copy(f, r)
		s.size += m
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(s.path)
		return nil, fmt.Errorf("spool input: %w", err)
	}
	return s, nil
}

// Open returns a reader from the start of the content.
func (s *Spooled) Open() (io.ReadCloser, error) {
	if s.path == "" {
		return io.NopCloser(bytes.NewReader(s.mem)), nil
	}
	return os.Open(s.path)
}

// Size is the number of bytes held.
func (s *Spooled) Size() int64 { return s.size }

// Close removes the temporary file, if any.
func (s *Spooled) Close() error {
	if s.path == "" {
		return nil
	}
	return os.Remove(s.path)
}

// Raw is a complete message held by a Source and written unchanged: the
// sendmail path and the spool use it.
type Raw struct {
	Src Source
}

// WriteTo copies the message bytes to w.
func (r Raw) WriteTo(w io.Writer) (int64, error) {
	rc, err := r.Src.Open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.Copy(w, rc)
}
