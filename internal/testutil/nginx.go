package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// NginxRTMPModule is where Debian's libnginx-mod-rtmp installs the RTMP
// module. Debian loads it through /etc/nginx/modules-enabled, which
// StartNginxRTMP does not use: its configuration loads the module itself.
const NginxRTMPModule = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

// NginxOptions configures an nginx-rtmp server started by StartNginxRTMP.
// The zero value is one process (no master), chunk_size 4096 and an
// application "live" with `live on; record off;`.
type NginxOptions struct {
	// Workers is worker_processes; zero means 1. More than one worker
	// implies a master process. Each connection then lands on any worker
	// and a player sees only streams published on its own worker:
	// rtmp_auto_push, meant to relay streams between workers, does not
	// work with Debian's nginx 1.22 and RTMP module 1.2.2 (the workers
	// never accept on its unix sockets), so it is not turned on.
	Workers int
	// MasterProcess runs a master process with workers even for one
	// worker (`master_process on`).
	MasterProcess bool
	// ChunkSize is the server's outgoing chunk size; zero means 4096.
	ChunkSize int
	// App is the application name; empty means "live".
	App string
	// AppDirectives are added to the application block, each a complete
	// directive such as "wait_key on;" or "publish_notify on;".
	AppDirectives []string
	// ServerDirectives are added to the rtmp server block, such as
	// "ping 30s;".
	ServerDirectives []string
}

// StartNginxRTMP starts nginx with the RTMP module on a free port of
// 127.0.0.1 and returns its "host:port" once it accepts connections. Its
// prefix, configuration and pid file live in a temporary directory and its
// error log (level info) goes to the process log, so it runs as root and as
// any other user. It is stopped when the test ends.
func StartNginxRTMP(tb testing.TB, opts NginxOptions) string {
	tb.Helper()
	nginx := RequireTool(tb, "nginx")
	if _, err := os.Stat(NginxRTMPModule); err != nil {
		if InCI() {
			tb.Fatalf("the nginx RTMP module is required in CI but missing (run scripts/deps.sh): %v", err)
		}
		tb.Skipf("the nginx RTMP module is not installed (%v); run `make deps` to install libnginx-mod-rtmp", err)
	}
	prefix := tb.TempDir()
	conf := filepath.Join(prefix, "nginx.conf")
	// nginx logs its OS only after it has bound its listening sockets.
	addr, took := startServer(tb, "OS: ", 30*time.Second, func(addr string) *Proc {
		if err := os.WriteFile(conf, []byte(nginxConf(opts, prefix, addr)), 0o644); err != nil {
			tb.Fatalf("write nginx.conf: %v", err)
		}
		return startProc(tb, nil, "nginx", nginx, "-p", prefix+"/", "-c", conf, "-e", "stderr")
	})
	tb.Logf("nginx-rtmp listening on %s after %v", addr, took.Round(time.Millisecond))
	return addr
}

// nginxConf renders the configuration file of StartNginxRTMP.
func nginxConf(opts NginxOptions, prefix, addr string) string {
	workers := max(opts.Workers, 1)
	master := opts.MasterProcess || workers > 1
	chunk := opts.ChunkSize
	if chunk == 0 {
		chunk = 4096
	}
	app := opts.App
	if app == "" {
		app = "live"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "load_module %s;\n", NginxRTMPModule)
	b.WriteString("daemon off;\n")
	if master {
		b.WriteString("master_process on;\n")
	} else {
		b.WriteString("master_process off;\n")
	}
	fmt.Fprintf(&b, "worker_processes %d;\n", workers)
	fmt.Fprintf(&b, "pid %s;\n", filepath.Join(prefix, "nginx.pid"))
	fmt.Fprintf(&b, "lock_file %s;\n", filepath.Join(prefix, "nginx.lock"))
	b.WriteString("error_log stderr info;\n")
	b.WriteString("events { worker_connections 1024; }\n")
	b.WriteString("rtmp {\n    server {\n")
	fmt.Fprintf(&b, "        listen %s;\n", addr)
	fmt.Fprintf(&b, "        chunk_size %d;\n", chunk)
	for _, d := range opts.ServerDirectives {
		fmt.Fprintf(&b, "        %s\n", d)
	}
	fmt.Fprintf(&b, "        application %s {\n            live on;\n            record off;\n", app)
	for _, d := range opts.AppDirectives {
		fmt.Fprintf(&b, "            %s\n", d)
	}
	b.WriteString("        }\n    }\n}\n")
	return b.String()
}
