package handshake_test

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/handshake"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the committed fuzz seed corpora from the case tables")

// FuzzServer plays arbitrary bytes as the client side. Whatever the input,
// the server reads at most C0+C1+C2, writes nothing or exactly S0+S1+S2,
// succeeds exactly when the input is long enough and has an accepted
// version, and its reply follows the rules of the mode it reports (checked
// with the oracle), which must be digest exactly when C1 carries a valid
// client digest.
func FuzzServer(f *testing.F) {
	for _, c := range serverCases() {
		f.Add(c.bytes, c.lenient)
	}
	f.Fuzz(func(t *testing.T, data []byte, lenient bool) {
		rw := newScript(data)
		res, err := handshake.Server(rw, testServerConfig(lenient))
		out := rw.written()
		if rw.read > 1+2*size {
			t.Fatalf("server read %d bytes, more than C0+C1+C2", rw.read)
		}
		complete := len(data) >= 1+2*size && (lenient || data[0] == 3)
		if (err == nil) != complete {
			t.Fatalf("err = %v for %d input bytes (version %v, lenient %v)", err, len(data), data[:min(1, len(data))], lenient)
		}
		if err != nil {
			if len(out) != 0 && len(out) != 1+2*size {
				t.Fatalf("failed handshake wrote %d bytes", len(out))
			}
			return
		}
		if rw.read != 1+2*size {
			t.Fatalf("server read %d bytes, want %d", rw.read, 1+2*size)
		}
		c1 := data[1 : 1+size]
		schema := -1
		if binary.BigEndian.Uint32(c1[4:8]) != 0 {
			schema = digestSchema(c1, fp30)
		}
		if (res.Mode == handshake.Digest) != (schema >= 0) || (schema >= 0 && int(res.Schema) != schema) {
			t.Fatalf("result %+v, oracle schema %d", res, schema)
		}
		checkServerReply(t, c1, out, res, 0x102)
	})
}

// FuzzClient plays arbitrary bytes as the server side. The client writes
// C0+C1 and, once S1 is complete, C2; it reads at most S0+S1+S2; it succeeds
// exactly when the input is long enough and S0 is 3; C1 and C2 follow the
// rules of the mode it reports (checked with the oracle).
func FuzzClient(f *testing.F) {
	for _, c := range clientCases() {
		f.Add(c.bytes, c.simple)
	}
	f.Fuzz(func(t *testing.T, data []byte, simple bool) {
		rw := newScript(data)
		res, err := handshake.Client(rw, testClientConfig(simple))
		out := rw.written()
		if rw.read > 1+2*size {
			t.Fatalf("client read %d bytes, more than S0+S1+S2", rw.read)
		}
		complete := len(data) >= 1+2*size && data[0] == 3
		if (err == nil) != complete {
			t.Fatalf("err = %v for %d input bytes", err, len(data))
		}
		if err != nil {
			if len(out) != 1+size && len(out) != 1+2*size {
				t.Fatalf("failed handshake wrote %d bytes", len(out))
			}
			return
		}
		checkClientWrites(t, out, data[1:1+size], simple, res)
	})
}

// corpusFile renders one seed in the "go test fuzz v1" format.
func corpusFile(data []byte, flag bool) string {
	return fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nbool(%v)\n", data, flag)
}

// TestSeedCorpus keeps testdata/fuzz in step with the case tables; run with
// -update-corpus to rewrite it.
func TestSeedCorpus(t *testing.T) {
	seeds := map[string]map[string]string{"FuzzServer": {}, "FuzzClient": {}}
	for _, c := range serverCases() {
		seeds["FuzzServer"][c.name] = corpusFile(c.bytes, c.lenient)
	}
	for _, c := range clientCases() {
		seeds["FuzzClient"][c.name] = corpusFile(c.bytes, c.simple)
	}
	for target, files := range seeds {
		dir := filepath.Join("testdata", "fuzz", target)
		for name, want := range files {
			path := filepath.Join(dir, name)
			if *updateCorpus {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("seed %s missing (run go test -run TestSeedCorpus -update-corpus): %v", path, err)
			}
			if string(got) != want {
				t.Errorf("seed %s differs from its case (run go test -run TestSeedCorpus -update-corpus)", path)
			}
		}
	}
}
