package testutil

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// NodeMediaServerVersion is the node-media-server release the interop
// tests use: the newest on npm, of the v4 line that was rewritten for
// Enhanced RTMP (hvc1, av01 and vp09 video; ExHeader audio). It declares
// Node.js >= 20. scripts/deps.sh reads this line to pre-install the same
// version.
const NodeMediaServerVersion = "4.4.3"

// nmsLauncher starts node-media-server with the configuration file named on
// its command line and quietens the logger, which the server's constructor
// sets to "debug".
const nmsLauncher = `"use strict";
const path = require("path");
const fs = require("fs");
const [moduleDir, configPath] = process.argv.slice(2);
const config = JSON.parse(fs.readFileSync(configPath, "utf8"));
const NodeMediaServer = require(moduleDir);
const logger = require(path.join(moduleDir, "src", "core", "logger.js"));
const nms = new NodeMediaServer(config, configPath);
logger.level = "info";
nms.run();
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  setTimeout(() => process.exit(0), 1000).unref();
  nms.stop().finally(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
`

// nmsInstall remembers the installed module directory for this process.
var nmsInstall struct {
	sync.Mutex
	dir string
}

// NodeMediaServerModule returns the directory of the node-media-server
// package (the one holding its package.json), version
// NodeMediaServerVersion. It is installed with npm into
// ${XDG_CACHE_HOME:-$HOME/.cache}/tributary/npm/node-media-server@VERSION
// when missing there. Without node or npm the test is skipped, or failed in
// CI.
func NodeMediaServerModule(tb testing.TB) string {
	tb.Helper()
	RequireTool(tb, "node")
	nmsInstall.Lock()
	defer nmsInstall.Unlock()
	if nmsInstall.dir != "" {
		return nmsInstall.dir
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		tb.Fatalf("node-media-server cache: %v", err)
	}
	root := filepath.Join(cache, "tributary", "npm", "node-media-server@"+NodeMediaServerVersion)
	module := filepath.Join(root, "node_modules", "node-media-server")
	if installedVersion(module) == NodeMediaServerVersion {
		nmsInstall.dir = module
		return module
	}
	npm := RequireTool(tb, "npm")
	if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
		tb.Fatalf("node-media-server cache: %v", err)
	}
	// Install next to the final place and rename, so that test binaries
	// running in parallel never see a half-installed package.
	tmp, err := os.MkdirTemp(filepath.Dir(root), ".node-media-server@"+NodeMediaServerVersion+".")
	if err != nil {
		tb.Fatalf("node-media-server cache: %v", err)
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--prefix", tmp,
		"node-media-server@"+NodeMediaServerVersion).CombinedOutput()
	if err != nil {
		tb.Fatalf("npm install node-media-server@%s: %v\n%s", NodeMediaServerVersion, err, tailOf(string(out), 30, 4000))
	}
	if v := installedVersion(filepath.Join(tmp, "node_modules", "node-media-server")); v != NodeMediaServerVersion {
		tb.Fatalf("npm install node-media-server@%s installed version %q", NodeMediaServerVersion, v)
	}
	if err := os.Rename(tmp, root); err != nil && installedVersion(module) != NodeMediaServerVersion {
		// Neither ours nor a complete install by another process: a
		// broken leftover, replaced.
		_ = os.RemoveAll(root)
		if err := os.Rename(tmp, root); err != nil {
			tb.Fatalf("node-media-server cache: %v", err)
		}
	}
	tb.Logf("installed node-media-server@%s into %s in %v", NodeMediaServerVersion, root, time.Since(start).Round(time.Millisecond))
	nmsInstall.dir = module
	return module
}

// installedVersion returns the version in the package.json of the npm
// package in dir, or "" if there is none.
func installedVersion(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return ""
	}
	var pkg struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(b, &pkg) != nil {
		return ""
	}
	return pkg.Version
}

// StartNodeMediaServer starts node-media-server (NodeMediaServerVersion)
// with only its RTMP server, on a free port of 127.0.0.1, and returns its
// "host:port" once it accepts connections. HTTP, HTTPS, RTMPS, the admin
// console and recording are off; its data directory is temporary and its
// log (level info) goes to the process log. Streams are rtmp://ADDR/APP/NAME
// with APP and NAME made of letters, digits, '_' and '-'. It is stopped
// when the test ends.
//
// Behaviour of this version that interop tests meet (from its source and
// TestNodeMediaServerRelaysEnhancedRTMP):
//   - Every audio, video and data message of the publisher reaches the
//     players already playing with payload and timestamp unchanged, E-RTMP
//     tags included, but on message stream id 0, as one fmt-0 chunk plus
//     fmt-3 continuations at chunk size 65535. Data messages keep a leading
//     "@setDataFrame". Players are not told when the publisher leaves.
//   - A player that joins later first gets the cached data message, the
//     cached "audio header", the cached video sequence header and the
//     messages since the latest video keyframe, all with their original
//     timestamps. The video sequence header is the latest legacy AVC or
//     E-RTMP hvc1/av01/vp09 SequenceStart. The "audio header" is the latest
//     AAC sequence header or E-RTMP audio SequenceStart, or, wrongly, the
//     latest video message it cannot classify: E-RTMP video with another
//     FourCC (avc1, vp08), SequenceEnd, MPEG2TSSequenceStart, Multitrack or
//     ModEx, which late players also miss in the replayed GOP.
//   - connect is answered without any E-RTMP properties (no fourCcList,
//     videoFourCcInfoMap or capsEx); the client's are ignored.
func StartNodeMediaServer(tb testing.TB) string {
	tb.Helper()
	node := RequireTool(tb, "node")
	module := NodeMediaServerModule(tb)
	dir := tb.TempDir()
	configPath := filepath.Join(dir, "config.json")
	launcher := filepath.Join(dir, "launch-nms.js")
	if err := os.WriteFile(launcher, []byte(nmsLauncher), 0o644); err != nil {
		tb.Fatal(err)
	}
	addr, took := startServer(tb, "Rtmp Server listening on port", 30*time.Second, func(addr string) *Proc {
		_, port, _ := net.SplitHostPort(addr)
		config := map[string]any{
			"bind":   "127.0.0.1",
			"rtmp":   map[string]any{"port": json.Number(port)},
			"store":  map[string]any{"path": filepath.Join(dir, "data")},
			"record": map[string]any{"auto": false, "path": filepath.Join(dir, "record")},
		}
		b, err := json.MarshalIndent(config, "", "  ")
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(configPath, b, 0o644); err != nil {
			tb.Fatal(err)
		}
		return startProc(tb, nil, "node-media-server", node, launcher, module, configPath)
	})
	tb.Logf("node-media-server %s listening on %s after %v", NodeMediaServerVersion, addr, took.Round(time.Millisecond))
	return addr
}

// RunNodeScript writes script to a file in a temporary directory and starts
// `node FILE args...`. Scripts can require node-media-server's own modules
// from [NodeMediaServerModule], for example its RTMP client
// (src/protocol/rtmp_client.js), which can publish Enhanced RTMP tags that
// Debian's ffmpeg cannot produce. Cancelling ctx kills the process.
func RunNodeScript(tb testing.TB, ctx context.Context, script string, args ...string) *Proc {
	tb.Helper()
	node := RequireTool(tb, "node")
	file := filepath.Join(tb.TempDir(), "script.js")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		tb.Fatal(err)
	}
	return startProc(tb, ctx, "node-script", node, append([]string{file}, args...)...)
}
