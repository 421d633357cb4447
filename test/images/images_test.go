package images

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil"
)

// The images' contract: targets, entrypoints and the packages behind them.
var programs = []struct {
	target string // Dockerfile target and image name tributary/<target>
	entry  string // the image's ENTRYPOINT
	pkg    string // the Go package of the program
}{
	{"edge", "/usr/local/bin/tributary-edge", "./cmd/edge"},
	{"controller", "/usr/local/bin/tributary-controller", "./cmd/controller"},
	{"load", "/usr/local/bin/tributary-load", "./test/load"},
}

// samplePath is where the load image holds its ready input.
const samplePath = "/usr/share/tributary/sample.flv"

// testVersion is the VERSION build arg of the test builds; the edge and
// controller binaries must contain it.
const testVersion = "images-test-version"

// binDir holds the binaries built as the Dockerfile builds them.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(testutil.MainWithTempDir(m, "tributary-images-", &binDir))
}

// repoRoot returns the repository's root directory (the main module's).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !bytes.HasPrefix(mod, []byte("module github.com/tributary-media/tributary\n")) {
		t.Fatalf("%s is not the repository root (go.mod: %v)", root, err)
	}
	return root
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readDockerfile(t *testing.T) *dockerfile {
	t.Helper()
	d, err := parseDockerfile(readFile(t, "Dockerfile"))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	return d
}

func readDockerignore(t *testing.T) []ignoreRule {
	t.Helper()
	rules, err := parseDockerignore(readFile(t, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// chartAppVersion returns the Helm chart's appVersion, the images' default
// tag; "" when the chart is absent.
func chartAppVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "charts", "tributary", "Chart.yaml"))
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^appVersion:\s*"?([^"\s]+)"?\s*$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("charts/tributary/Chart.yaml has no appVersion")
	}
	return string(m[1])
}

// lastValue returns the argument of the last cmd instruction of s, or "".
func lastValue(s *stage, cmd string) string {
	v := ""
	for _, in := range s.instrs {
		if in.cmd == cmd {
			v = in.rest
		}
	}
	return v
}

// runtimeBase follows a stage's FROM through earlier stages to an image.
func runtimeBase(d *dockerfile, s *stage) (base string, chain []*stage) {
	chain = []*stage{s}
	for {
		parent := d.stage(s.base)
		if parent == nil || slices.Contains(chain, parent) {
			return s.base, chain
		}
		chain = append(chain, parent)
		s = parent
	}
}

// copyDest is where COPY puts src: into dst when dst is a directory.
func copyDest(workdir, src, dst string) string {
	if strings.HasSuffix(dst, "/") || dst == "." {
		return path.Join(copyDir(workdir, dst), path.Base(src))
	}
	return copyDir(workdir, dst)
}

// copyDir is the directory COPY dst names, relative to the WORKDIR.
func copyDir(workdir, dst string) string {
	if path.IsAbs(dst) {
		return path.Clean(dst)
	}
	return path.Join(workdir, dst)
}

func workdirAt(s *stage, idx int) string {
	wd := "/"
	for _, in := range s.instrs[:idx] {
		if in.cmd == "WORKDIR" {
			wd = path.Join(wd, in.rest)
		}
	}
	return wd
}

func TestDockerfileTargets(t *testing.T) {
	d := readDockerfile(t)
	for _, p := range programs {
		s := d.stage(p.target)
		if s == nil {
			t.Errorf("no stage %q (docker build --target %s)", p.target, p.target)
			continue
		}
		base, chain := runtimeBase(d, s)
		if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
			t.Errorf("stage %s: runtime base %q, want gcr.io/distroless/static-*:nonroot or scratch", p.target, base)
		}
		if strings.HasPrefix(base, "gcr.io/distroless/") && !strings.Contains(base, ":nonroot") {
			t.Errorf("stage %s: base %q is not the :nonroot variant", p.target, base)
		}
		user := ""
		for i := len(chain) - 1; i >= 0; i-- {
			if u := lastValue(chain[i], "USER"); u != "" {
				user = u
			}
		}
		if !slices.Contains([]string{"65532", "65532:65532", "nonroot", "nonroot:nonroot"}, user) {
			t.Errorf("stage %s: USER %q, want 65532:65532 (distroless nonroot)", p.target, user)
		}
		for _, st := range chain {
			for _, in := range st.instrs {
				if in.cmd == "RUN" {
					t.Errorf("line %d: RUN in runtime stage %s, whose base has no shell", in.line, st.name)
				}
			}
		}
		var entry []string
		raw := lastValue(s, "ENTRYPOINT")
		if err := json.Unmarshal([]byte(raw), &entry); err != nil {
			t.Errorf("stage %s: ENTRYPOINT %s is not in exec (JSON) form: %v", p.target, raw, err)
		} else if !slices.Equal(entry, []string{p.entry}) {
			t.Errorf("stage %s: ENTRYPOINT %q, want [%q]", p.target, entry, p.entry)
		}
		if cmd := lastValue(s, "CMD"); cmd != "" {
			t.Errorf("stage %s: CMD %s: the programs take flags only, give them as arguments", p.target, cmd)
		}
	}
	if last := d.stages[len(d.stages)-1]; last.name != "edge" {
		t.Errorf("the last stage (what a build without --target makes) is %q, want edge", last.name)
	}
}

// TestDockerfileCopies checks that every COPY finds what it copies: a file
// of the build context that .dockerignore keeps, or a path an earlier stage
// makes.
func TestDockerfileCopies(t *testing.T) {
	root := repoRoot(t)
	d := readDockerfile(t)
	rules := readDockerignore(t)
	builds, err := d.goBuilds(map[string]string{"VERSION": testVersion})
	if err != nil {
		t.Fatal(err)
	}
	for si, s := range d.stages {
		specs, err := copies(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range specs {
			if c.in.cmd == "ADD" {
				t.Errorf("line %d: ADD; use COPY", c.in.line)
			}
			if c.from == "" {
				for _, src := range c.srcs {
					matches, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(src)))
					if err != nil || len(matches) == 0 {
						t.Errorf("line %d: COPY %s: no such path in the repository", c.in.line, src)
						continue
					}
					for _, m := range matches {
						rel, _ := filepath.Rel(root, m)
						if ignored(rules, filepath.ToSlash(rel)) {
							t.Errorf("line %d: COPY %s: .dockerignore leaves %s out of the build context", c.in.line, src, rel)
						}
					}
				}
				continue
			}
			fi := d.stageIndex(c.from)
			switch {
			case fi < 0:
				t.Errorf("line %d: COPY --from=%s: no such stage", c.in.line, c.from)
				continue
			case fi >= si:
				t.Errorf("line %d: COPY --from=%s: the stage is not defined before this one", c.in.line, c.from)
				continue
			}
			from := d.stages[fi]
			words, err := d.runWords(from, map[string]string{"VERSION": testVersion})
			if err != nil {
				t.Fatal(err)
			}
			for _, src := range c.srcs {
				if !madeIn(from, words, builds, src) {
					t.Errorf("line %d: COPY --from=%s %s: nothing in stage %s makes that path", c.in.line, c.from, src, c.from)
				}
			}
		}
	}
}

// madeIn tells whether stage s makes the file p: a go build writes it, a
// command names it, or a COPY puts it there.
func madeIn(s *stage, words [][]string, builds []goBuild, p string) bool {
	for _, b := range builds {
		if b.stage == s.name && b.out == p {
			return true
		}
	}
	for _, cmd := range words {
		for _, w := range cmd {
			if w == p || strings.HasSuffix(w, "="+p) {
				return true
			}
		}
	}
	specs, _ := copies(s)
	for i, c := range specs {
		idx := slices.IndexFunc(s.instrs, func(in instruction) bool { return in.line == specs[i].in.line })
		for _, src := range c.srcs {
			if copyDest(workdirAt(s, idx), src, c.dst) == p {
				return true
			}
		}
	}
	return false
}

// TestDockerfileGoBuilds checks the build commands against the contract:
// each image's entrypoint is a binary of the right package, built static.
func TestDockerfileGoBuilds(t *testing.T) {
	root := repoRoot(t)
	d := readDockerfile(t)
	builds, err := d.goBuilds(map[string]string{"VERSION": testVersion})
	if err != nil {
		t.Fatal(err)
	}
	if len(builds) == 0 {
		t.Fatal("no go build in the Dockerfile")
	}
	var pkgs []string
	for _, b := range builds {
		s := d.stage(b.stage)
		if s == nil {
			t.Fatalf("line %d: go build in an unnamed stage", b.line)
		}
		env := stageVars(s, len(s.instrs), d.globalArgs, nil)
		if cgo, ok := b.env["CGO_ENABLED"]; ok {
			env["CGO_ENABLED"] = cgo
		}
		if env["CGO_ENABLED"] != "0" {
			t.Errorf("line %d: go build with CGO_ENABLED=%q, want 0 (static binaries)", b.line, env["CGO_ENABLED"])
		}
		if !slices.Contains(b.flags, "-trimpath") {
			t.Errorf("line %d: go build without -trimpath", b.line)
		}
		pkgs = append(pkgs, b.pkgs...)
	}
	listArgs := append([]string{"list", "-e", "-f", "{{.ImportPath}} {{.Name}} {{if .Error}}{{.Error}}{{end}}"}, pkgsUnique(pkgs)...)
	out, err := goCmd(t, root, nil, listArgs...)
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for line := range strings.Lines(strings.TrimSpace(out)) {
		f := strings.Fields(line)
		if len(f) < 2 || f[1] != "main" || len(f) > 2 {
			t.Errorf("go build target %s is not a main package that loads", strings.TrimSpace(line))
		}
	}

	for _, p := range programs {
		b, ok := entrypointBuild(t, d, builds, p.target, p.entry)
		if !ok {
			continue
		}
		if !slices.Equal(b.pkgs, []string{p.pkg}) {
			t.Errorf("image %s: %s is built from %q, want %s", p.target, p.entry, b.pkgs, p.pkg)
		}
		if b.env["GOOS"] != "" || b.env["GOARCH"] != "" {
			t.Errorf("line %d: the build for %s sets GOOS/GOARCH without build args", b.line, p.target)
		}
	}
}

func pkgsUnique(pkgs []string) []string {
	slices.Sort(pkgs)
	return slices.Compact(pkgs)
}

// entrypointBuild returns the go build that makes the binary the target
// stage copies to entry.
func entrypointBuild(t *testing.T, d *dockerfile, builds []goBuild, target, entry string) (goBuild, bool) {
	t.Helper()
	s := d.stage(target)
	if s == nil {
		t.Errorf("no stage %q", target)
		return goBuild{}, false
	}
	specs, err := copies(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range specs {
		for _, src := range c.srcs {
			if copyDest("/", src, c.dst) != entry || c.from == "" {
				continue
			}
			for _, b := range builds {
				if b.stage == c.from && b.out == src {
					return b, true
				}
			}
			t.Errorf("line %d: %s is copied from %s:%s, which no go build makes", c.in.line, entry, c.from, src)
			return goBuild{}, false
		}
	}
	t.Errorf("stage %s: no COPY --from=<build stage> puts a binary at %s", target, entry)
	return goBuild{}, false
}

// TestBuildContextHoldsSources checks that every file the go builds read is
// copied into the build stage at its place in the module, and that
// .dockerignore keeps it in the build context.
func TestBuildContextHoldsSources(t *testing.T) {
	root := repoRoot(t)
	d := readDockerfile(t)
	rules := readDockerignore(t)
	builds, err := d.goBuilds(map[string]string{"VERSION": testVersion})
	if err != nil {
		t.Fatal(err)
	}
	var pkgs []string
	stages := map[string]bool{}
	for _, b := range builds {
		pkgs = append(pkgs, b.pkgs...)
		stages[b.stage] = true
	}
	const format = `{{if and .Module .Module.Main}}{{.Dir}}` +
		`|{{join .GoFiles ","}},{{join .IgnoredGoFiles ","}},{{join .EmbedFiles ","}},{{join .SFiles ","}},{{join .CgoFiles ","}}{{end}}`
	out, err := goCmd(t, root, nil, append([]string{"list", "-deps", "-f", format}, pkgsUnique(pkgs)...)...)
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	needed := []string{"go.mod", "go.sum"}
	for line := range strings.Lines(out) {
		dir, files, ok := strings.Cut(strings.TrimSpace(line), "|")
		if !ok {
			continue
		}
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			t.Fatal(err)
		}
		for f := range strings.SplitSeq(files, ",") {
			if f != "" && !strings.HasSuffix(f, "_test.go") {
				needed = append(needed, path.Join(filepath.ToSlash(rel), f))
			}
		}
	}
	if len(needed) < 20 {
		t.Fatalf("go list found only %d files the builds read: %q", len(needed), needed)
	}

	for name := range stages {
		s := d.stage(name)
		specs, err := copies(s)
		if err != nil {
			t.Fatal(err)
		}
		// The module root in the image is the WORKDIR of the go builds.
		moduleRoot := workdirAt(s, len(s.instrs))
		var missing []string
		for _, f := range needed {
			found := false
			for _, c := range specs {
				if c.from != "" {
					continue
				}
				idx := slices.IndexFunc(s.instrs, func(in instruction) bool { return in.line == c.in.line })
				wd := workdirAt(s, idx)
				for _, src := range c.srcs {
					src = path.Clean(src)
					var dst string
					switch {
					case f == src:
						dst = copyDest(wd, src, c.dst)
					case strings.HasPrefix(f, src+"/"):
						dst = path.Join(copyDir(wd, c.dst), strings.TrimPrefix(f, src+"/"))
					default:
						continue
					}
					if dst == path.Join(moduleRoot, f) {
						found = true
					}
				}
			}
			if !found {
				missing = append(missing, f)
			}
		}
		if len(missing) > 0 {
			t.Errorf("stage %s: the go builds read files no COPY puts at their place under %s: %q", name, moduleRoot, missing)
		}
	}
	var left []string
	for _, f := range needed {
		if ignored(rules, f) {
			left = append(left, f)
		}
	}
	if len(left) > 0 {
		t.Errorf(".dockerignore leaves files the builds read out of the build context: %q", left)
	}
	// The rules are not vacuous: what the images do not need stays out.
	for _, f := range []string{"docs/api.md", "README.md", "test/e2e/doc.go", "cmd/edge/main_test.go"} {
		if _, err := os.Stat(filepath.Join(root, f)); err == nil && !ignored(rules, f) {
			t.Errorf(".dockerignore sends %s, which no image needs", f)
		}
	}
}

// goCmd runs the go command in dir with extra environment.
func goCmd(t *testing.T, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return stderr.String(), err
	}
	return string(out), nil
}

// built are the Dockerfile's programs built on this machine for linux with
// the Dockerfile's commands, keyed by their output path in the image.
var built struct {
	once sync.Once
	bins map[string]string
	err  error
}

func dockerfileBinaries(t *testing.T) map[string]string {
	t.Helper()
	built.once.Do(func() {
		built.bins, built.err = buildDockerfileBinaries(t)
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bins
}

func buildDockerfileBinaries(t *testing.T) (map[string]string, error) {
	root := repoRoot(t)
	d, err := parseDockerfile(readFile(t, "Dockerfile"))
	if err != nil {
		return nil, err
	}
	builds, err := d.goBuilds(map[string]string{"VERSION": testVersion})
	if err != nil {
		return nil, err
	}
	bins := map[string]string{}
	done := map[string]string{}
	for i, b := range builds {
		if local, ok := done[b.key()]; ok {
			bins[b.out] = local
			continue
		}
		s := d.stage(b.stage)
		env := stageVars(s, len(s.instrs), d.globalArgs, nil)
		cgo := env["CGO_ENABLED"]
		if v, ok := b.env["CGO_ENABLED"]; ok {
			cgo = v
		}
		local := filepath.Join(binDir, fmt.Sprintf("%d-%s", i, path.Base(b.out)))
		args := append([]string{"build"}, b.flags...)
		args = append(args, "-o", local)
		args = append(args, b.pkgs...)
		start := time.Now()
		// The image's platform is linux; the machine's architecture stands in
		// for the target's.
		out, err := goCmd(t, root, []string{"CGO_ENABLED=" + cgo, "GOOS=linux", "GOARCH=" + runtime.GOARCH}, args...)
		if err != nil {
			return nil, fmt.Errorf("line %d: go %s: %v\n%s", b.line, strings.Join(args, " "), err, out)
		}
		t.Logf("go %s: %v", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
		done[b.key()] = local
		bins[b.out] = local
	}
	return bins, nil
}

// TestStaticBinaries builds the programs with the Dockerfile's commands and
// checks that they need no dynamic loader or shared library (the runtime
// images have none), carry the version, and run.
func TestStaticBinaries(t *testing.T) {
	d := readDockerfile(t)
	builds, err := d.goBuilds(map[string]string{"VERSION": testVersion})
	if err != nil {
		t.Fatal(err)
	}
	bins := dockerfileBinaries(t)
	for _, p := range programs {
		b, ok := entrypointBuild(t, d, builds, p.target, p.entry)
		if !ok {
			continue
		}
		bin := bins[b.out]
		t.Run(p.target, func(t *testing.T) {
			checkStatic(t, bin)
			if p.target != "load" {
				data, err := os.ReadFile(bin)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Contains(data, []byte(testVersion)) {
					t.Errorf("%s does not contain the VERSION build arg %q: the -X ldflag names no variable", p.entry, testVersion)
				}
			}
			if runtime.GOOS != "linux" {
				t.Logf("not running a linux binary on %s", runtime.GOOS)
				return
			}
			help := runHelp(t, bin)
			if !strings.Contains(strings.ToLower(help), "usage") {
				t.Errorf("%s -help printed no usage:\n%s", p.entry, help)
			}
		})
	}
}

func checkStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a PT_INTERP program header: it needs a dynamic loader", bin)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) > 0 {
		t.Errorf("%s needs shared libraries (DT_NEEDED): %q", bin, libs)
	}
}

// runHelp runs bin -help in an empty environment and returns what it printed.
func runHelp(t *testing.T, bin string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-help")
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s -help: %v\n%s", bin, err, out)
	}
	return string(out)
}

// loadFlags returns the flags of the load tool, from its -help output.
func loadFlags(t *testing.T) map[string]bool {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("the load tool is built for linux; this is %s", runtime.GOOS)
	}
	d := readDockerfile(t)
	builds, err := d.goBuilds(map[string]string{"VERSION": testVersion})
	if err != nil {
		t.Fatal(err)
	}
	b, ok := entrypointBuild(t, d, builds, "load", "/usr/local/bin/tributary-load")
	if !ok {
		t.FailNow()
	}
	help := runHelp(t, dockerfileBinaries(t)[b.out])
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-([A-Za-z0-9][A-Za-z0-9-]*)`).FindAllStringSubmatch(help, -1) {
		flags[m[1]] = true
	}
	if !flags["edges"] || !flags["json"] {
		t.Fatalf("cannot read the load tool's flags from its -help:\n%s", help)
	}
	return flags
}

// TestSampleGeneration checks that the load image's sample comes from the
// load tool's own -generate-input, run in a stage that installs ffmpeg.
func TestSampleGeneration(t *testing.T) {
	d := readDockerfile(t)
	flags := loadFlags(t)
	load := d.stage("load")
	if load == nil {
		t.Fatal("no load stage")
	}
	specs, err := copies(load)
	if err != nil {
		t.Fatal(err)
	}
	idx := slices.IndexFunc(specs, func(c copySpec) bool {
		return len(c.srcs) == 1 && copyDest("/", c.srcs[0], c.dst) == samplePath
	})
	if idx < 0 {
		t.Fatalf("the load stage copies nothing to %s", samplePath)
	}
	c := specs[idx]
	from := d.stage(c.from)
	if from == nil {
		t.Fatalf("line %d: %s does not come from a stage", c.in.line, samplePath)
	}
	words, err := d.runWords(from, nil)
	if err != nil {
		t.Fatal(err)
	}
	generated, ffmpeg := false, false
	for _, w := range words {
		if slices.Contains(w, "ffmpeg") && slices.Contains(w, "install") {
			ffmpeg = true
		}
		if path.Base(w[0]) != "tributary-load" {
			continue
		}
		for i, a := range w[1:] {
			name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if strings.HasPrefix(a, "-") && !flags[name] {
				t.Errorf("stage %s runs tributary-load with %s, which the load tool does not have", from.name, a)
			}
			if (a == "-generate-input" && i+2 < len(w) && w[i+2] == c.srcs[0]) || a == "-generate-input="+c.srcs[0] {
				generated = true
			}
		}
	}
	if !generated {
		t.Errorf("stage %s does not run tributary-load -generate-input %s", from.name, c.srcs[0])
	}
	if !ffmpeg {
		t.Errorf("stage %s does not install ffmpeg, which -generate-input runs", from.name)
	}
}

// argLine matches a YAML list item that is one command-line flag.
var argLine = regexp.MustCompile(`^\s*-\s+"?(-{1,2}[A-Za-z0-9][A-Za-z0-9-]*)(?:=([^"]*))?"?\s*$`)

// TestLoadJob checks deploy/k8s/load-job.yaml against the load image and
// the load tool's flags. Its strict decoding as a batch/v1 Job and its
// creation on an API server are in test/k8s.
func TestLoadJob(t *testing.T) {
	flags := loadFlags(t)
	text := readFile(t, "deploy/k8s/load-job.yaml")
	args := map[string]string{}
	var images []string
	for line := range strings.Lines(text) {
		if m := argLine.FindStringSubmatch(strings.TrimRight(line, "\r\n")); m != nil {
			name := strings.TrimLeft(m[1], "-")
			if !flags[name] {
				t.Errorf("load-job.yaml passes %s, which the load tool does not have", m[1])
			}
			args[name] = m[2]
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "image:"); ok {
			images = append(images, strings.Trim(strings.TrimSpace(v), `"'`))
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "command:"); ok {
			var cmd []string
			if err := json.Unmarshal([]byte(strings.TrimSpace(v)), &cmd); err != nil || !slices.Equal(cmd, []string{"/usr/local/bin/tributary-load"}) {
				t.Errorf("load-job.yaml command %s, want the image's entrypoint [\"/usr/local/bin/tributary-load\"]", v)
			}
		}
	}
	for _, want := range []string{"edges", "publishers", "players", "duration", "json", "input"} {
		if _, ok := args[want]; !ok {
			t.Errorf("load-job.yaml does not pass -%s", want)
		}
	}
	if args["input"] != samplePath {
		t.Errorf("load-job.yaml -input=%s, want the image's sample %s", args["input"], samplePath)
	}
	if !strings.HasSuffix(args["edges"], ":1935") {
		t.Errorf("load-job.yaml -edges=%s, want the edge Service's RTMP port 1935", args["edges"])
	}
	want := "tributary/load:"
	if v := chartAppVersion(t); v != "" {
		want += v
	}
	if len(images) != 1 || !strings.HasPrefix(images[0], want) {
		t.Errorf("load-job.yaml images %q, want one %s (the chart's appVersion, which make images tags)", images, want)
	}
	for _, want := range []string{"backoffLimit: 0", "readOnlyRootFilesystem: true", "runAsNonRoot: true", `drop: ["ALL"]`} {
		if !strings.Contains(text, want) {
			t.Errorf("load-job.yaml lacks %q", want)
		}
	}
}

// TestChartTestPodFlags checks that the chart's `helm test` pod runs the load
// image's entrypoint with flags the load tool has.
func TestChartTestPodFlags(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "charts", "tributary", "templates", "tests")
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) == 0 {
		t.Skip("the chart has no test pods")
	}
	flags := loadFlags(t)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(`"program" "load"`)) && !bytes.Contains(b, []byte("tributary-load")) {
			continue
		}
		for line := range strings.Lines(string(b)) {
			if m := argLine.FindStringSubmatch(strings.TrimRight(line, "\r\n")); m != nil && !flags[strings.TrimLeft(m[1], "-")] {
				t.Errorf("%s passes %s, which the load tool does not have", filepath.Base(f), m[1])
			}
			if strings.Contains(line, "command:") && !strings.Contains(line, `"/usr/local/bin/tributary-load"`) {
				t.Errorf("%s: %s: want the load image's entrypoint /usr/local/bin/tributary-load", filepath.Base(f), strings.TrimSpace(line))
			}
		}
	}
}

// TestImagesScript runs scripts/images.sh (what `make images` runs) in dry-run
// mode and checks the names and targets it builds.
func TestImagesScript(t *testing.T) {
	root := repoRoot(t)
	d := readDockerfile(t)
	run := func(env ...string) (stdout, stderr string) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), "bash", "scripts/images.sh")
		cmd.Dir = root
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "DRY_RUN=1"}, env...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("scripts/images.sh %q: %v\n%s", env, err, errb.String())
		}
		return out.String(), errb.String()
	}
	for _, engine := range []string{"docker", "podman", "buildah"} {
		stdout, stderr := run("ENGINE="+engine, "REGISTRY=registry.example/acme/", "TAG=9.9.9", "VERSION=v9")
		var want []string
		for _, p := range programs {
			img := "registry.example/acme/tributary/" + p.target + ":9.9.9"
			want = append(want, img)
			if d.stage(p.target) == nil {
				t.Errorf("no Dockerfile target %s", p.target)
			}
			re := regexp.MustCompile(`(?m)^` + engine + ` (buildx )?build .*--target ` + p.target + ` --tag ` + regexp.QuoteMeta(img) + ` .*--build-arg VERSION=v9.* \.$`)
			if !re.MatchString(stderr) {
				t.Errorf("%s: no build of target %s as %s in:\n%s", engine, p.target, img, stderr)
			}
		}
		if got := strings.Fields(stdout); !slices.Equal(got, want) {
			t.Errorf("%s: images %q, want %q", engine, got, want)
		}
	}
	if v := chartAppVersion(t); v != "" {
		stdout, _ := run("ENGINE=docker", "VERSION=v9")
		if got, want := strings.Fields(stdout), "tributary/edge:"+v; len(got) == 0 || got[0] != want {
			t.Errorf("default image names %q, want %s first (the chart's appVersion)", got, want)
		}
	}

	out, err := exec.CommandContext(t.Context(), "make", "-C", root, "-n", "images").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "scripts/images.sh") {
		t.Errorf("make -n images: %v\n%s", err, out)
	}
	for _, script := range []string{"scripts/images.sh", "scripts/k8s-dev.sh"} {
		if out, err := exec.CommandContext(t.Context(), "bash", "-n", filepath.Join(root, script)).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", script, err, out)
		}
	}
}

// TestBuilderGoVersion checks that the builder image's Go release can build
// the module (its go directive) and that go.mod needs nothing outside the
// build context.
func TestBuilderGoVersion(t *testing.T) {
	d := readDockerfile(t)
	mod := readFile(t, "go.mod")
	m := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`).FindStringSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	var builder string
	for _, s := range d.stages {
		if strings.HasPrefix(s.base, "golang:") {
			builder = s.base
		}
	}
	b := regexp.MustCompile(`^golang:(\d+)\.(\d+)`).FindStringSubmatch(builder)
	if b == nil {
		t.Fatalf("no golang:<major>.<minor> builder stage (found %q)", builder)
	}
	if atoi(t, b[1]) < atoi(t, m[1]) || (b[1] == m[1] && atoi(t, b[2]) < atoi(t, m[2])) {
		t.Errorf("builder %s is older than go.mod's go %s.%s", builder, m[1], m[2])
	}
	for line := range strings.Lines(mod) {
		if _, target, ok := strings.Cut(line, "=>"); ok {
			target = strings.TrimSpace(target)
			if strings.HasPrefix(target, ".") || strings.HasPrefix(target, "/") {
				t.Errorf("go.mod replaces a module with the local directory %s, which the image build does not copy", target)
			}
		}
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
