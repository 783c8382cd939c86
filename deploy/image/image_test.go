package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

var (
	buildDir   string
	ferryOnce  sync.Once
	ferryPath  string
	ferryError error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferry-image-test-")
	if err != nil {
		panic(err)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// staticFerry returns a ferry binary built from this repository the way the
// Makefile builds it for the image; the first caller builds it.
func staticFerry(t testing.TB) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the image holds a Linux binary that this test runs")
	}
	ferryOnce.Do(func() {
		root, err := filepath.Abs("../..")
		if err != nil {
			ferryError = err
			return
		}
		ferryPath = filepath.Join(buildDir, "ferry")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=1.2.3-test", "-o", ferryPath, "./services/ferry")
		// The repository root's go.work resolves the sibling modules; this
		// module's own tests run with GOWORK=off.
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOWORK=", "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
		if out, err := cmd.CombinedOutput(); err != nil {
			ferryError = fmt.Errorf("build ferry: %w\n%s", err, out)
		}
	})
	if ferryError != nil {
		t.Fatal(ferryError)
	}
	return ferryPath
}

// runBuilder runs the command with args and returns its exit code and output.
func runBuilder(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestImageFromRealBinary(t *testing.T) {
	bin := staticFerry(t)
	out := filepath.Join(t.TempDir(), "out", "ferry-image.tar")
	code, stdout, stderr := runBuilder("-binary", bin, "-out", out, "-tag", "ferry:test", "-version", "1.2.3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatalf("archive: %v", err)
	}
	if fi.Size() == 0 {
		t.Fatal("archive is empty")
	}

	dir := untar(t, out)
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("read OCI layout: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("index has %d manifests, want 1", len(im.Manifests))
	}
	desc := im.Manifests[0]
	if got := desc.Annotations["org.opencontainers.image.ref.name"]; got != "ferry:test" {
		t.Errorf("ref.name = %q, want ferry:test", got)
	}
	if got := desc.Annotations["io.containerd.image.name"]; got != "docker.io/library/ferry:test" {
		t.Errorf("io.containerd.image.name = %q, want docker.io/library/ferry:test", got)
	}
	if !strings.Contains(stdout, desc.Digest.String()) {
		t.Errorf("output %q does not print the manifest digest %s", stdout, desc.Digest)
	}
	img, err := idx.Image(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("image does not validate: %v", err)
	}

	// Docker's manifest.json names the same image: same config, same layers.
	tag, err := name.NewTag("ferry:test")
	if err != nil {
		t.Fatal(err)
	}
	dockerImg, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatalf("read the archive as docker load does: %v", err)
	}
	if err := validate.Image(dockerImg); err != nil {
		t.Fatalf("image in manifest.json does not validate: %v", err)
	}
	ociConfig, _ := img.ConfigName()
	dockerConfig, err := dockerImg.ConfigName()
	if err != nil || dockerConfig != ociConfig {
		t.Errorf("manifest.json config %s (%v), index.json config %s", dockerConfig, err, ociConfig)
	}

	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH {
		t.Errorf("platform = %s/%s, want linux/%s", cfg.OS, cfg.Architecture, runtime.GOARCH)
	}
	if desc.Platform == nil || desc.Platform.Architecture != runtime.GOARCH {
		t.Errorf("index platform = %v, want linux/%s", desc.Platform, runtime.GOARCH)
	}
	uid, gid := numericUser(t, cfg.Config.User)
	if uid == 0 || gid == 0 {
		t.Errorf("user %q runs as root", cfg.Config.User)
	}
	if uid != 65532 || gid != 65532 {
		t.Errorf("user = %q, want 65532:65532", cfg.Config.User)
	}
	process := append(append([]string{}, cfg.Config.Entrypoint...), cfg.Config.Cmd...)
	if len(process) != 2 || path.Base(process[0]) != "ferry" || process[1] != "server" {
		t.Fatalf("entrypoint + cmd = %q, want ferry server", process)
	}
	for _, p := range []string{"8080/tcp", "9090/tcp"} {
		if _, ok := cfg.Config.ExposedPorts[p]; !ok {
			t.Errorf("port %s is not exposed (have %v)", p, cfg.Config.ExposedPorts)
		}
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.version": "1.2.3",
		"org.opencontainers.image.title":   "ferry",
		"org.opencontainers.image.source":  sourceURL,
	} {
		if got := cfg.Config.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"org.opencontainers.image.description", "org.opencontainers.image.licenses"} {
		if cfg.Config.Labels[k] == "" {
			t.Errorf("label %s is missing", k)
		}
	}
	if !slices.Contains(cfg.Config.Env, "SSL_CERT_FILE="+certsPath) {
		t.Errorf("env %q does not set SSL_CERT_FILE", cfg.Config.Env)
	}

	files := layerFiles(t, img)
	exe, ok := files[strings.TrimPrefix(process[0], "/")]
	if !ok {
		t.Fatalf("the layer has no %s (it has %v)", process[0], slices.Sorted(maps.Keys(files)))
	}
	if exe.hdr.Typeflag != tar.TypeReg || exe.hdr.Mode != 0o755 || exe.hdr.Uid != 0 || exe.hdr.Gid != 0 {
		t.Errorf("%s: type %c mode %o owner %d:%d, want a root-owned 0755 file", process[0], exe.hdr.Typeflag, exe.hdr.Mode, exe.hdr.Uid, exe.hdr.Gid)
	}
	want, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(exe.data, want) {
		t.Errorf("%s differs from the binary given", process[0])
	}

	passwd := string(files["etc/passwd"].data)
	var home string
	for _, line := range strings.Split(passwd, "\n") {
		f := strings.Split(line, ":")
		if len(f) == 7 && f[2] == strconv.Itoa(uid) {
			if f[0] != "nonroot" || f[3] != strconv.Itoa(gid) {
				t.Errorf("passwd entry %q, want nonroot with group %d", line, gid)
			}
			home = f[5]
		}
	}
	if home == "" {
		t.Fatalf("/etc/passwd has no entry for uid %d:\n%s", uid, passwd)
	}
	if !strings.Contains(string(files["etc/group"].data), "nonroot:x:65532:") {
		t.Errorf("/etc/group has no nonroot group:\n%s", files["etc/group"].data)
	}
	if h, ok := files[strings.TrimPrefix(home, "/")+"/"]; !ok || h.hdr.Uid != uid || h.hdr.Typeflag != tar.TypeDir {
		t.Errorf("home %s is missing or not a directory owned by %d", home, uid)
	}
	if cfg.Config.WorkingDir != home {
		t.Errorf("working directory %q, want the user's home %q", cfg.Config.WorkingDir, home)
	}
	tmp, ok := files["tmp/"]
	if !ok || tmp.hdr.Typeflag != tar.TypeDir || tmp.hdr.Mode != 0o1777 {
		t.Errorf("/tmp is missing or not a 1777 directory: %+v", tmp.hdr)
	}
	hostCerts, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(files[strings.TrimPrefix(certsPath, "/")].data, hostCerts) {
		t.Errorf("%s is not the host's CA bundle", certsPath)
	}
	for name, f := range files {
		if !f.hdr.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s has time %v, want the epoch", name, f.hdr.ModTime)
		}
	}

	// The binary out of the layer is static and runs.
	extracted := filepath.Join(t.TempDir(), "ferry")
	if err := os.WriteFile(extracted, exe.data, os.FileMode(exe.hdr.Mode)); err != nil {
		t.Fatal(err)
	}
	assertStatic(t, extracted)
	help, err := exec.Command(extracted, "help").CombinedOutput()
	if err != nil {
		t.Fatalf("ferry help: %v\n%s", err, help)
	}
	if !strings.Contains(string(help), "server") {
		t.Errorf("ferry help does not list the server command:\n%s", help)
	}
	ver, err := exec.Command(extracted, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("ferry version: %v\n%s", err, ver)
	}
	if !strings.HasPrefix(string(ver), "ferry 1.2.3-test ") {
		t.Errorf("ferry version does not show the version the build set: %q", ver)
	}
	serverHelp, err := exec.Command(extracted, process[1], "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("ferry server --help: %v\n%s", err, serverHelp)
	}
	if !strings.Contains(string(serverHelp), "-grpc-addr") {
		t.Errorf("ferry server --help does not show --grpc-addr:\n%s", serverHelp)
	}
}

func TestSameInputsSameDigest(t *testing.T) {
	bin := staticFerry(t)
	dir := t.TempDir()
	build := func(name string) (digest string, sum [32]byte) {
		t.Helper()
		out := filepath.Join(dir, name)
		code, stdout, stderr := runBuilder("-binary", bin, "-out", out)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		f := strings.Fields(stdout)
		if len(f) != 3 || !strings.HasPrefix(f[2], "sha256:") {
			t.Fatalf("output %q, want FILE TAG DIGEST", stdout)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return f[2], sha256.Sum256(data)
	}

	t.Setenv("SOURCE_DATE_EPOCH", "")
	d1, s1 := build("a.tar")
	d2, s2 := build("b.tar")
	if d1 != d2 {
		t.Errorf("two builds gave digests %s and %s", d1, d2)
	}
	if s1 != s2 {
		t.Errorf("two builds gave archives that differ")
	}

	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	d3, _ := build("c.tar")
	if d3 == d1 {
		t.Errorf("SOURCE_DATE_EPOCH did not change the digest")
	}
	img := readImage(t, filepath.Join(dir, "c.tar"))
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Created.Time.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("created = %v, want SOURCE_DATE_EPOCH", cfg.Created.Time)
	}
	d4, _ := build("d.tar")
	if d4 != d3 {
		t.Errorf("two builds with SOURCE_DATE_EPOCH gave digests %s and %s", d3, d4)
	}
}

func TestRefusesWhatCannotRunOnAnEmptyBase(t *testing.T) {
	dynamic := dynamicBinary(t)
	text := filepath.Join(t.TempDir(), "ferry.sh")
	if err := os.WriteFile(text, []byte("#!/bin/sh\necho ferry\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{name: "dynamic binary", args: []string{"-binary", dynamic}, want: []string{dynamic, "dynamically linked", "CGO_ENABLED=0"}},
		{name: "not ELF", args: []string{"-binary", text}, want: []string{text, "ELF", "static Linux binary"}},
		{name: "missing binary", args: []string{"-binary", filepath.Join(t.TempDir(), "nope")}, want: []string{"nope", "no such file"}},
		{name: "missing CA bundle", args: []string{"-binary", "", "-ca-certs", filepath.Join(t.TempDir(), "ca.crt")}, want: []string{"CA certificates", "ca.crt", "-ca-certs"}},
		{name: "CA bundle without certificates", args: []string{"-binary", "", "-ca-certs", text}, want: []string{"no PEM certificate"}},
		{name: "bad tag", args: []string{"-binary", "", "-tag", "Ferry Dev"}, want: []string{"-tag", "Ferry Dev"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.args[1] == "" {
				tc.args[1] = staticFerry(t)
			}
			out := filepath.Join(t.TempDir(), "image.tar")
			code, stdout, stderr := runBuilder(append(tc.args, "-out", out)...)
			if code == 0 {
				t.Fatalf("exit 0 (%s), want a refusal", stdout)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("error %q does not say %q", stderr, w)
				}
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused build left %s behind (stat: %v)", out, err)
			}
			if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) > 0 {
				t.Errorf("a refused build left files behind: %v", entries)
			}
		})
	}
}

func TestArchitectureComesFromTheBinary(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("builds Linux binaries")
	}
	src := t.TempDir()
	for name, body := range map[string]string{
		"go.mod":  "module hello\n\ngo 1.26\n",
		"main.go": "package main\n\nfunc main() {}\n",
	} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, goarch := range []string{"amd64", "arm64"} {
		t.Run(goarch, func(t *testing.T) {
			bin := filepath.Join(src, "hello-"+goarch)
			cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
			cmd.Dir = src
			cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("build: %v\n%s", err, out)
			}
			img, err := Build(Spec{Binary: bin, CACerts: "/etc/ssl/certs/ca-certificates.crt", Tag: "hello:dev", Created: time.Unix(0, 0)})
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Architecture != goarch {
				t.Errorf("architecture %q, want %q", cfg.Architecture, goarch)
			}
		})
	}
}

// numericUser parses a UID:GID user; a name would need /etc/passwd to resolve
// and Kubernetes' runAsNonRoot cannot check it.
func numericUser(t testing.TB, user string) (uid, gid int) {
	t.Helper()
	u, g, ok := strings.Cut(user, ":")
	var err1, err2 error
	uid, err1 = strconv.Atoi(u)
	gid, err2 = strconv.Atoi(g)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("user %q is not numeric UID:GID", user)
	}
	return uid, gid
}

// dynamicBinary returns a dynamically linked executable of the host.
func dynamicBinary(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/bin/sh", "/bin/true", "/usr/bin/env", "/bin/ls"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				f.Close()
				return p
			}
		}
		f.Close()
	}
	t.Skip("no dynamically linked executable on this host")
	return ""
}

// assertStatic fails when the ELF file asks for a program interpreter or
// shared libraries.
func assertStatic(t testing.TB, file string) {
	t.Helper()
	f, err := elf.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter", file)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s needs %v", file, libs)
	}
}

type layerFile struct {
	hdr  *tar.Header
	data []byte
}

// layerFiles returns every entry of the image's single layer by path.
func layerFiles(t testing.TB, img v1.Image) map[string]layerFile {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("image has %d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]layerFile{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = layerFile{hdr: hdr, data: data}
	}
}

// untar extracts an archive's files and directories into a new directory.
func untar(t testing.TB, archive string) string {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		if !strings.HasPrefix(target, dir+string(filepath.Separator)) {
			t.Fatalf("archive entry %q escapes the directory", hdr.Name)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(target, 0o755)
		case tar.TypeReg:
			var data []byte
			if data, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(target, data, 0o644)
			}
		default:
			t.Fatalf("archive entry %q has type %c", hdr.Name, hdr.Typeflag)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// readImage returns the one image of an archive.
func readImage(t testing.TB, archive string) v1.Image {
	t.Helper()
	idx, err := layout.ImageIndexFromPath(untar(t, archive))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
