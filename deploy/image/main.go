// Command image builds Ferry's container image without a container engine:
// it takes a static Linux ferry binary and writes the image as an OCI image
// layout in a tar file, with Docker's manifest.json beside it as `docker
// save` writes it, which `podman load`, `docker load` and
// `skopeo copy oci-archive:FILE ...` accept.
//
//	CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o bin/ferry-linux ./services/ferry
//	cd deploy/image && GOWORK=off go run . -binary ../../bin/ferry-linux -out ../../bin/ferry-image.tar
//
// It prints the file, the tag and the image's manifest digest.
//
// The image has the layout deploy/Dockerfile builds: the binary at
// /usr/local/bin/ferry, the nonroot user 65532:65532, /tmp (1777),
// /home/nonroot as the working directory, the CA bundle at
// /etc/ssl/certs/ca-certificates.crt, and `ferry server` as the process.
// Timestamps come from SOURCE_DATE_EPOCH (zero when unset), so the same
// inputs give the same digest.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run builds the image as the command line asks and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var s Spec
	fs.StringVar(&s.Binary, "binary", "", "static Linux ferry binary to put in the image (required)")
	fs.StringVar(&s.CACerts, "ca-certs", "/etc/ssl/certs/ca-certificates.crt", "PEM bundle of CA certificates to install in the image")
	fs.StringVar(&s.Tag, "tag", "ferry:dev", "image name and tag recorded in the archive")
	fs.StringVar(&s.Version, "version", "dev", "org.opencontainers.image.version label")
	fs.StringVar(&s.Licenses, "licenses", "NOASSERTION", "org.opencontainers.image.licenses label (SPDX expression)")
	out := fs.String("out", "bin/ferry-image.tar", "OCI image archive to write")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: image -binary FILE [flags]\n\nWrites Ferry's container image as an OCI image layout tar (podman load, docker load, skopeo oci-archive:).\nTimestamps come from SOURCE_DATE_EPOCH, zero when unset.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if s.Binary == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	created, err := sourceDateEpoch()
	if err != nil {
		fmt.Fprintf(stderr, "image: %v\n", err)
		return 2
	}
	s.Created = created
	digest, err := buildArchive(s, *out)
	if err != nil {
		fmt.Fprintf(stderr, "image: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s %s %s\n", *out, s.Tag, digest)
	return 0
}

// buildArchive builds the image of s, writes it to out and returns the
// manifest digest. The file appears complete or not at all.
func buildArchive(s Spec, out string) (string, error) {
	if _, err := name.NewTag(s.Tag); err != nil {
		return "", fmt.Errorf("-tag %q: %w (want NAME:TAG, for example ferry:dev)", s.Tag, err)
	}
	img, err := Build(s)
	if err != nil {
		return "", err
	}
	digest, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("digest image: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", fmt.Errorf("create output directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return "", fmt.Errorf("create output: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := WriteArchive(tmp, img, s.Tag, s.Created); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("write %s: %w", out, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", fmt.Errorf("write %s: %w", out, err)
	}
	return digest.String(), nil
}

// sourceDateEpoch returns the time SOURCE_DATE_EPOCH names, or the Unix epoch.
func sourceDateEpoch() (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil || sec < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since 1970 as a non-negative integer", v)
	}
	return time.Unix(sec, 0).UTC(), nil
}
