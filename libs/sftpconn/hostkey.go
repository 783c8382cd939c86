package sftpconn

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Fingerprint returns the SHA256 fingerprint of key as ssh-keygen -l prints
// it, "SHA256:" and unpadded base64.
func Fingerprint(key ssh.PublicKey) string { return ssh.FingerprintSHA256(key) }

// keyLine returns key in authorized-key form, "ssh-ed25519 AAAA...".
func keyLine(key ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
}

// Pin is a parsed host key pin: the keys, or fingerprints, a server may present.
type Pin struct {
	entries []pinEntry
}

type pinEntry struct {
	key ssh.PublicKey // nil for a bare fingerprint
	fp  string
}

// ParseHostKey checks a pin and returns it. A pin is one or more lines, each
// a known_hosts line ("host ssh-ed25519 AAAA...", the host part may be
// [host]:port, a list or hashed: only the key counts), an authorized key
// ("ssh-ed25519 AAAA... comment") or a fingerprint ("SHA256:..." as
// ssh-keygen -l prints it). Blank lines and # comments are skipped; the
// server matches when it presents any of the keys. An empty or malformed
// pin is a Permanent error.
func ParseHostKey(s string) (*Pin, error) {
	const op = "config"
	p := &Pin{}
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		e, err := parsePinLine(line)
		if err != nil {
			return nil, permanent(op, fmt.Sprintf("host key pin line %d", i+1), err)
		}
		p.entries = append(p.entries, e)
	}
	if len(p.entries) == 0 {
		return nil, permanent(op, "host key pin is empty", nil)
	}
	return p, nil
}

func parsePinLine(line string) (pinEntry, error) {
	if fp, ok := strings.CutPrefix(line, "SHA256:"); ok {
		raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(fp, "="))
		if err != nil || len(raw) != 32 {
			return pinEntry{}, fmt.Errorf("%q is not a SHA256 fingerprint", line)
		}
		return pinEntry{fp: "SHA256:" + base64.RawStdEncoding.EncodeToString(raw)}, nil
	}
	if strings.HasPrefix(line, "MD5:") {
		return pinEntry{}, errors.New("MD5 fingerprints are not accepted; use the SHA256 one")
	}
	// Authorized-key form: key type, base64 key, optional comment.
	if f := strings.Fields(line); len(f) >= 2 {
		if raw, err := base64.StdEncoding.DecodeString(f[1]); err == nil {
			if key, err := ssh.ParsePublicKey(raw); err == nil && key.Type() == f[0] {
				return keyEntry(key)
			}
		}
	}
	marker, _, key, _, _, err := ssh.ParseKnownHosts([]byte(line))
	if err != nil || key == nil {
		return pinEntry{}, errors.New("not a known_hosts line, an authorized key or a SHA256 fingerprint")
	}
	switch marker {
	case "":
		return keyEntry(key)
	case "revoked":
		return pinEntry{}, errors.New("a @revoked known_hosts line cannot be a pin")
	default:
		return pinEntry{}, fmt.Errorf("@%s known_hosts lines are not supported; pin the host key itself", marker)
	}
}

func keyEntry(key ssh.PublicKey) (pinEntry, error) {
	if _, ok := key.(*ssh.Certificate); ok {
		return pinEntry{}, errors.New("a certificate cannot be a pin; pin the host key itself")
	}
	return pinEntry{key: key, fp: Fingerprint(key)}, nil
}

// Matches says whether key is one of the pinned keys.
func (p *Pin) Matches(key ssh.PublicKey) bool {
	if p == nil || key == nil {
		return false
	}
	raw := key.Marshal()
	fp := Fingerprint(key)
	for _, e := range p.entries {
		if e.key != nil && bytes.Equal(e.key.Marshal(), raw) || e.key == nil && e.fp == fp {
			return true
		}
	}
	return false
}

// String lists the pinned fingerprints, for messages.
func (p *Pin) String() string {
	fps := make([]string, len(p.entries))
	for i, e := range p.entries {
		fps[i] = e.fp
	}
	return strings.Join(fps, " or ")
}

// algorithms returns the host key algorithms to ask for, so that a server
// with several keys presents one of the pinned type. It is nil (the
// defaults) when a bare fingerprint leaves the type open.
func (p *Pin) algorithms() []string {
	var algos []string
	seen := map[string]bool{}
	add := func(a ...string) {
		for _, x := range a {
			if !seen[x] {
				seen[x] = true
				algos = append(algos, x)
			}
		}
	}
	for _, e := range p.entries {
		if e.key == nil {
			return nil
		}
		if e.key.Type() == ssh.KeyAlgoRSA {
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256)
		} else {
			add(e.key.Type())
		}
	}
	return algos
}
