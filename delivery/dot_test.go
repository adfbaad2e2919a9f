package delivery

import (
	"bufio"
	"bytes"
	"net/textproto"
	"testing"
)

// FuzzDotWriter checks that dotWriter writes what textproto's DotWriter
// writes, whatever the data and however it is cut into writes.
func FuzzDotWriter(f *testing.F) {
	for _, s := range []string{"", ".", "a\r\n.b\r\n", "a\n.\n..\n", "x\r", "x\r\r\n.", "\n\n.\r\n", "end\r\n"} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		var want, got bytes.Buffer
		ww := textproto.NewWriter(bufio.NewWriter(&want)).DotWriter()
		gw := newDotWriter(bufio.NewWriter(&got))
		step := int(cut)%7 + 1
		for i := 0; i < len(data); i += step {
			chunk := data[i:min(i+step, len(data))]
			ww.Write(chunk)
			if n, err := gw.Write(chunk); n != len(chunk) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
		}
		ww.Close()
		if err := gw.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("%q: got %q, want %q", data, got.Bytes(), want.Bytes())
		}
	})
}
