package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's layout. deploy/Dockerfile builds the same one from the same
// rootfs files: a change here is a change there.
const (
	binaryPath = "/usr/local/bin/ferry"
	certsPath  = "/etc/ssl/certs/ca-certificates.crt"
	homeDir    = "/home/nonroot"
	nonrootID  = 65532
	imageUser  = "65532:65532"
	sourceURL  = "https://github.com/ferrydata/ferry"
)

var (
	entrypoint   = []string{binaryPath}
	cmd          = []string{"server"}
	env          = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=" + certsPath}
	exposedPorts = []string{"8080/tcp", "9090/tcp"}
)

// rootfs holds the account files the image ships; the Dockerfile copies the
// same files.
//
//go:embed rootfs/etc/passwd rootfs/etc/group
var rootfs embed.FS

// Spec is what one image is built from.
type Spec struct {
	// Binary is a static Linux ferry binary.
	Binary string
	// CACerts is a PEM bundle installed at /etc/ssl/certs/ca-certificates.crt.
	CACerts string
	// Tag names the image in the archive, for example ferry:dev.
	Tag string
	// Version is the org.opencontainers.image.version label.
	Version string
	// Licenses is the org.opencontainers.image.licenses label (an SPDX expression).
	Licenses string
	// Created is the image's creation time and every file's modification
	// time; a fixed value makes the build reproducible.
	Created time.Time
}

// Build returns the image described by s.
func Build(s Spec) (v1.Image, error) {
	arch, err := staticLinuxArch(s.Binary)
	if err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(s.Binary)
	if err != nil {
		return nil, fmt.Errorf("read binary: %w", err)
	}
	certs, err := os.ReadFile(s.CACerts)
	if err != nil {
		return nil, fmt.Errorf("read CA certificates (install ca-certificates or pass -ca-certs): %w", err)
	}
	if !bytes.Contains(certs, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, fmt.Errorf("read CA certificates: %s holds no PEM certificate", s.CACerts)
	}
	layerTar, err := rootfsTar(bin, certs, s.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("make layer: %w", err)
	}

	ports := map[string]struct{}{}
	for _, p := range exposedPorts {
		ports[p] = struct{}{}
	}
	created := v1.Time{Time: s.Created.UTC()}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: arch,
		OS:           "linux",
		Created:      created,
		Config: v1.Config{
			User:         imageUser,
			Entrypoint:   entrypoint,
			Cmd:          cmd,
			WorkingDir:   homeDir,
			Env:          env,
			ExposedPorts: ports,
			Labels:       labels(s),
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: created, CreatedBy: "deploy/image", Comment: "ferry binary, accounts, CA certificates"},
	})
	if err != nil {
		return nil, fmt.Errorf("add layer: %w", err)
	}
	return img, nil
}

// labels returns the image's OCI labels.
func labels(s Spec) map[string]string {
	return map[string]string{
		"org.opencontainers.image.source":      sourceURL,
		"org.opencontainers.image.title":       "ferry",
		"org.opencontainers.image.description": "Ferry, the data exchange engine: every service in one binary (ferry server)",
		"org.opencontainers.image.licenses":    s.Licenses,
		"org.opencontainers.image.version":     s.Version,
	}
}

// staticLinuxArch returns the OCI architecture of a Linux ELF binary, or an
// error when the binary is not one or needs a dynamic loader: the image has
// no libc, so a dynamic binary would fail to start with a bare "no such file".
func staticLinuxArch(file string) (string, error) {
	f, err := elf.Open(file)
	if err != nil {
		return "", fmt.Errorf("read %s as ELF: %w (want a static Linux binary: CGO_ENABLED=0 GOOS=linux go build)", file, err)
	}
	defer f.Close()
	if f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		return "", fmt.Errorf("%s is built for %v, not Linux (build with GOOS=linux)", file, f.OSABI)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			interp, _ := io.ReadAll(p.Open())
			return "", fmt.Errorf("%s is dynamically linked (program interpreter %s): the image has no libc; build it with CGO_ENABLED=0", file, strings.TrimRight(string(interp), "\x00"))
		}
	}
	needed, err := f.ImportedLibraries()
	if err != nil {
		return "", fmt.Errorf("read dynamic section of %s: %w", file, err)
	}
	if len(needed) > 0 {
		return "", fmt.Errorf("%s is dynamically linked (needs %s): the image has no libc; build it with CGO_ENABLED=0", file, strings.Join(needed, ", "))
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return "", fmt.Errorf("%s is an ELF %v, not an executable", file, f.Type)
	}
	arch, ok := archOf(f)
	if !ok {
		return "", fmt.Errorf("%s: unsupported machine %v", file, f.Machine)
	}
	return arch, nil
}

// archOf maps an ELF machine to the GOARCH name that OCI platforms use.
func archOf(f *elf.File) (string, bool) {
	le := f.ByteOrder.String() == "LittleEndian"
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", true
	case elf.EM_386:
		return "386", true
	case elf.EM_AARCH64:
		return "arm64", true
	case elf.EM_ARM:
		return "arm", true
	case elf.EM_PPC64:
		if le {
			return "ppc64le", true
		}
		return "ppc64", true
	case elf.EM_S390:
		return "s390x", true
	case elf.EM_RISCV:
		return "riscv64", f.Class == elf.ELFCLASS64
	case elf.EM_LOONGARCH:
		return "loong64", true
	case elf.EM_MIPS:
		switch {
		case f.Class == elf.ELFCLASS64 && le:
			return "mips64le", true
		case f.Class == elf.ELFCLASS64:
			return "mips64", true
		case le:
			return "mipsle", true
		}
		return "mips", true
	}
	return "", false
}

// entry is one file or directory of the layer.
type entry struct {
	path string // without the leading slash; directories end in "/"
	mode int64
	uid  int
	data []byte
}

// rootfsTar returns the layer: every file with a fixed owner, mode and time,
// in sorted order, so the same inputs give the same bytes.
func rootfsTar(bin, certs []byte, mtime time.Time) ([]byte, error) {
	passwd, err := rootfs.ReadFile("rootfs/etc/passwd")
	if err != nil {
		return nil, err
	}
	group, err := rootfs.ReadFile("rootfs/etc/group")
	if err != nil {
		return nil, err
	}
	entries := []entry{
		{path: "etc/passwd", mode: 0o644, data: passwd},
		{path: "etc/group", mode: 0o644, data: group},
		{path: strings.TrimPrefix(certsPath, "/"), mode: 0o644, data: certs},
		{path: strings.TrimPrefix(homeDir, "/") + "/", mode: 0o755, uid: nonrootID},
		{path: "tmp/", mode: 0o1777},
		{path: strings.TrimPrefix(binaryPath, "/"), mode: 0o755, data: bin},
	}
	entries = withParents(entries)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime = mtime.UTC()
	for _, e := range entries {
		hdr := &tar.Header{
			Name:    e.path,
			Mode:    e.mode,
			Uid:     e.uid,
			Gid:     e.uid,
			ModTime: mtime,
			Format:  tar.FormatPAX,
		}
		if strings.HasSuffix(e.path, "/") {
			hdr.Typeflag = tar.TypeDir
		} else {
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("write layer entry %s: %w", e.path, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("write layer entry %s: %w", e.path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close layer: %w", err)
	}
	return buf.Bytes(), nil
}

// withParents adds every missing parent directory (root-owned, 0755) and
// sorts the entries by path, parents first.
func withParents(entries []entry) []entry {
	have := map[string]bool{}
	for _, e := range entries {
		have[e.path] = true
	}
	for _, e := range entries {
		for dir := path.Dir(strings.TrimSuffix(e.path, "/")); dir != "."; dir = path.Dir(dir) {
			if !have[dir+"/"] {
				have[dir+"/"] = true
				entries = append(entries, entry{path: dir + "/", mode: 0o755})
			}
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].path < entries[j].path })
	return entries
}

// WriteArchive writes img as an OCI image layout in a tar stream: oci-layout,
// index.json naming the image tag, the blobs, and Docker's manifest.json.
// Every entry has the time mtime, so the archive's bytes depend only on the
// image.
func WriteArchive(w io.Writer, img v1.Image, tag string, mtime time.Time) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("parse tag %q: %w (want NAME:TAG, for example ferry:dev)", tag, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	manifest, err := img.RawManifest()
	if err != nil {
		return fmt.Errorf("make manifest: %w", err)
	}
	digest, err := img.Digest()
	if err != nil {
		return fmt.Errorf("digest manifest: %w", err)
	}
	indexJSON, err := json.Marshal(v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests: []v1.Descriptor{{
			MediaType: types.OCIManifestSchema1,
			Size:      int64(len(manifest)),
			Digest:    digest,
			Platform:  &v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture},
			Annotations: map[string]string{
				// skopeo and podman find and name the image by ref.name;
				// containerd, and Docker on it, by io.containerd.image.name.
				"org.opencontainers.image.ref.name": tag,
				"io.containerd.image.name":          fullName(ref),
			},
		}},
	})
	if err != nil {
		return fmt.Errorf("make index.json: %w", err)
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("make config: %w", err)
	}
	configName, err := img.ConfigName()
	if err != nil {
		return fmt.Errorf("digest config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("read layers: %w", err)
	}
	// manifest.json is what `docker save` writes beside the OCI layout, so
	// that Docker releases without OCI layout support load the archive too.
	dockerManifest := tarball.Manifest{{Config: "blobs/sha256/" + configName.Hex, RepoTags: []string{tag}}}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return fmt.Errorf("digest layer: %w", err)
		}
		dockerManifest[0].Layers = append(dockerManifest[0].Layers, "blobs/sha256/"+d.Hex)
	}
	manifestJSON, err := json.Marshal(dockerManifest)
	if err != nil {
		return fmt.Errorf("make manifest.json: %w", err)
	}

	tw := tar.NewWriter(w)
	mtime = mtime.UTC()
	dir := func(p string) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p, Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX})
	}
	file := func(p string, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: 0o644, Size: size, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	blob := func(b []byte) error {
		h, _, err := v1.SHA256(bytes.NewReader(b))
		if err != nil {
			return err
		}
		return file("blobs/sha256/"+h.Hex, int64(len(b)), bytes.NewReader(b))
	}
	const ociLayout = `{"imageLayoutVersion":"1.0.0"}`
	if err := file("oci-layout", int64(len(ociLayout)), strings.NewReader(ociLayout)); err != nil {
		return fmt.Errorf("write oci-layout: %w", err)
	}
	if err := file("index.json", int64(len(indexJSON)), bytes.NewReader(indexJSON)); err != nil {
		return fmt.Errorf("write index.json: %w", err)
	}
	if err := file("manifest.json", int64(len(manifestJSON)), bytes.NewReader(manifestJSON)); err != nil {
		return fmt.Errorf("write manifest.json: %w", err)
	}
	if err := errors.Join(dir("blobs/"), dir("blobs/sha256/")); err != nil {
		return fmt.Errorf("write blobs directory: %w", err)
	}
	if err := blob(manifest); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	if err := blob(config); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	for _, l := range layers {
		if err := writeLayer(l, file); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("close archive: %w", err)
	}
	return nil
}

// writeLayer adds the compressed blob of l to the archive.
func writeLayer(l v1.Layer, file func(string, int64, io.Reader) error) error {
	digest, err := l.Digest()
	if err != nil {
		return fmt.Errorf("digest layer: %w", err)
	}
	size, err := l.Size()
	if err != nil {
		return fmt.Errorf("size layer %s: %w", digest, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return fmt.Errorf("compress layer %s: %w", digest, err)
	}
	defer rc.Close()
	if err := file("blobs/sha256/"+digest.Hex, size, rc); err != nil {
		return fmt.Errorf("write layer %s: %w", digest, err)
	}
	return nil
}

// fullName returns the reference as Docker and containerd spell it:
// ferry:dev is docker.io/library/ferry:dev.
func fullName(t name.Tag) string {
	registry := t.RegistryStr()
	if registry == name.DefaultRegistry {
		registry = "docker.io"
	}
	return registry + "/" + t.RepositoryStr() + ":" + t.TagStr()
}
