// Package secrets encrypts destination credentials at rest and keeps secret
// strings out of logs and output.
//
// A Keyring holds AES-256-GCM keys, each with a short id. The primary key
// seals; every key opens. To rotate, put a new key first in the spec, keep the
// old one after it, and Rewrap stored values until none use the old id.
//
// A key spec is either one base64 key (standard or raw URL encoding, 32 bytes
// decoded), which gets the id "k1", or a comma-separated list
// "id:base64,id:base64" whose first entry is the primary key.
//
// A sealed value has this layout:
//
//	1 byte   version (1)
//	1 byte   key id length n
//	n bytes  key id
//	12 bytes random nonce
//	rest     GCM ciphertext and 16-byte tag
//
// The associated data is "ferry-secret/v1\x00" + tenant + "\x00" + resource.
// It binds a sealed value to one resource of one tenant, so a value copied to
// another row does not open.
//
// Errors never include key material or plaintext.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Environment variables read by Load.
const (
	EnvKey     = "FERRY_SECRET_KEY"
	EnvKeyFile = "FERRY_SECRET_KEY_FILE"
)

// ErrNoKey is returned by Load when no key is configured.
var ErrNoKey = errors.New("secrets: no key configured (set " + EnvKey + " or " + EnvKeyFile + ")")

const (
	version   = 1
	keySize   = 32
	nonceSize = 12
	tagSize   = 16
	maxIDLen  = 32
	defaultID = "k1"
	adPrefix  = "ferry-secret/v1\x00"
)

var errDoesNotOpen = errors.New("secrets: does not open: wrong tenant, resource or key, or tampered")

// Keyring holds AEAD keys (AES-256-GCM). The primary key seals; every key
// opens. It prints key ids only, never keys.
type Keyring struct {
	primary string
	ids     []string // in spec order; ids[0] is the primary
	// Pointers to interfaces, not to structs: fmt prints them as addresses
	// even when a dereferenced Keyring is printed by reflection.
	keys map[string]*cipher.AEAD
}

// Parse reads a key spec: one base64 key, which gets the id "k1", or a
// comma-separated list "id:base64,..." whose first entry is the primary.
// Ids are 1-32 characters of [A-Za-z0-9_-] and must be unique.
func Parse(spec string) (*Keyring, error) {
	k, err := parse(spec)
	if err != nil {
		return nil, fmt.Errorf("secrets: key spec: %w", err)
	}
	return k, nil
}

func parse(spec string) (*Keyring, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, errors.New("empty")
	}
	k := &Keyring{keys: map[string]*cipher.AEAD{}}
	if !strings.ContainsAny(spec, ":,") {
		aead, err := newAEAD(spec)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", defaultID, err)
		}
		k.add(defaultID, aead)
		return k, nil
	}
	for i, entry := range strings.Split(spec, ",") {
		n := i + 1
		entry = strings.TrimSpace(entry)
		if entry == "" {
			return nil, fmt.Errorf("entry %d is empty", n)
		}
		id, b64, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, fmt.Errorf("entry %d: want id:base64", n)
		}
		id, b64 = strings.TrimSpace(id), strings.TrimSpace(b64)
		// The id is not echoed: a malformed entry may be key material.
		if !validID(id) {
			return nil, fmt.Errorf("entry %d: key id must be 1-%d characters of A-Z a-z 0-9 _ -", n, maxIDLen)
		}
		if _, dup := k.keys[id]; dup {
			return nil, fmt.Errorf("entry %d: duplicate key id %q", n, id)
		}
		aead, err := newAEAD(b64)
		if err != nil {
			return nil, fmt.Errorf("entry %d: key %q: %w", n, id, err)
		}
		k.add(id, aead)
	}
	return k, nil
}

func (k *Keyring) add(id string, aead cipher.AEAD) {
	if k.primary == "" {
		k.primary = id
	}
	k.ids = append(k.ids, id)
	k.keys[id] = &aead
}

// newAEAD decodes a base64 key and builds its AES-256-GCM AEAD. Its errors do
// not include the input.
func newAEAD(b64 string) (cipher.AEAD, error) {
	if b64 == "" {
		return nil, errors.New("key is empty")
	}
	var raw []byte
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawURLEncoding, base64.RawStdEncoding, base64.URLEncoding} {
		if b, err := enc.DecodeString(b64); err == nil {
			raw = b
			break
		}
	}
	if raw == nil {
		return nil, errors.New("not valid base64 (standard or raw URL encoding)")
	}
	defer clear(raw)
	if len(raw) != keySize {
		return nil, fmt.Errorf("decodes to %d bytes, want %d", len(raw), keySize)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, errors.New("cannot build AES cipher")
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, errors.New("cannot build GCM")
	}
	return aead, nil
}

func validID(id string) bool {
	if len(id) == 0 || len(id) > maxIDLen {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Load reads the keyring from FERRY_SECRET_KEY (a spec) or
// FERRY_SECRET_KEY_FILE (a path to a file holding a spec, such as a mounted
// Kubernetes secret). Both set is an error; neither set returns (nil,
// ErrNoKey). A nil getenv means os.Getenv.
func Load(getenv func(string) string) (*Keyring, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	spec := strings.TrimSpace(getenv(EnvKey))
	path := strings.TrimSpace(getenv(EnvKeyFile))
	switch {
	case spec != "" && path != "":
		return nil, fmt.Errorf("secrets: both %s and %s are set; set one", EnvKey, EnvKeyFile)
	case spec != "":
		k, err := parse(spec)
		if err != nil {
			return nil, fmt.Errorf("secrets: %s: %w", EnvKey, err)
		}
		return k, nil
	case path != "":
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("secrets: %s: %w", EnvKeyFile, err)
		}
		defer clear(b)
		k, err := parse(string(b))
		if err != nil {
			return nil, fmt.Errorf("secrets: %s %s: %w", EnvKeyFile, path, err)
		}
		return k, nil
	}
	return nil, ErrNoKey
}

// GenerateSpec returns a spec with one new random key under id. An empty id
// gives a bare key, which Parse names "k1".
func GenerateSpec(id string) (string, error) {
	if id != "" && !validID(id) {
		return "", fmt.Errorf("secrets: key id must be 1-%d characters of A-Z a-z 0-9 _ -", maxIDLen)
	}
	raw := make([]byte, keySize)
	defer clear(raw)
	if _, err := io.ReadFull(rand.Reader, raw); err != nil {
		return "", fmt.Errorf("secrets: generate key: %w", err)
	}
	key := base64.StdEncoding.EncodeToString(raw)
	if id == "" {
		return key, nil
	}
	return id + ":" + key, nil
}

// Primary returns the primary key id.
func (k *Keyring) Primary() string {
	if k == nil {
		return ""
	}
	return k.primary
}

// IDs returns all key ids, primary first.
func (k *Keyring) IDs() []string {
	if k == nil {
		return nil
	}
	return append([]string(nil), k.ids...)
}

// String prints the key ids only.
func (k *Keyring) String() string {
	if k == nil {
		return "secrets.Keyring(nil)"
	}
	return "secrets.Keyring{primary: " + k.primary + ", ids: [" + strings.Join(k.ids, " ") + "]}"
}

// GoString prints the key ids only.
func (k *Keyring) GoString() string { return k.String() }

// Format prints the key ids only, whatever the verb.
func (k *Keyring) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, k.String()) }

func associatedData(tenant, resource string) ([]byte, error) {
	if strings.IndexByte(tenant, 0) >= 0 || strings.IndexByte(resource, 0) >= 0 {
		return nil, errors.New("secrets: tenant and resource must not contain NUL bytes")
	}
	ad := make([]byte, 0, len(adPrefix)+len(tenant)+1+len(resource))
	ad = append(ad, adPrefix...)
	ad = append(ad, tenant...)
	ad = append(ad, 0)
	ad = append(ad, resource...)
	return ad, nil
}

// Seal encrypts plaintext with the primary key for one resource of one tenant
// (for example "destination/<uuid>"). Tenant and resource must not contain NUL
// bytes.
func (k *Keyring) Seal(plaintext []byte, tenant, resource string) ([]byte, error) {
	if k == nil || k.primary == "" {
		return nil, errors.New("secrets: seal: no keyring")
	}
	ad, err := associatedData(tenant, resource)
	if err != nil {
		return nil, err
	}
	id := k.primary
	aead := *k.keys[id]
	out := make([]byte, 0, 2+len(id)+nonceSize+len(plaintext)+aead.Overhead())
	out = append(out, version, byte(len(id)))
	out = append(out, id...)
	nonce := out[len(out) : len(out)+nonceSize]
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, fmt.Errorf("secrets: seal: nonce: %w", err)
	}
	out = out[:len(out)+nonceSize]
	return aead.Seal(out, nonce, plaintext, ad), nil
}

// header splits a sealed value into key id, nonce and ciphertext.
func header(sealed []byte) (id string, nonce, ct []byte, err error) {
	if len(sealed) < 2 {
		return "", nil, nil, errors.New("secrets: sealed value too short")
	}
	if sealed[0] != version {
		return "", nil, nil, fmt.Errorf("secrets: sealed value has unsupported version %d", sealed[0])
	}
	n := int(sealed[1])
	if n == 0 || n > maxIDLen {
		return "", nil, nil, errors.New("secrets: sealed value has a malformed key id")
	}
	if len(sealed) < 2+n+nonceSize+tagSize {
		return "", nil, nil, errors.New("secrets: sealed value too short")
	}
	id = string(sealed[2 : 2+n])
	if !validID(id) {
		return "", nil, nil, errors.New("secrets: sealed value has a malformed key id")
	}
	nonce = sealed[2+n : 2+n+nonceSize]
	ct = sealed[2+n+nonceSize:]
	return id, nonce, ct, nil
}

// KeyID returns the id of the key a sealed value was sealed with.
func KeyID(sealed []byte) (string, error) {
	id, _, _, err := header(sealed)
	return id, err
}

// Open decrypts a sealed value for one resource of one tenant. It fails when
// the key id is unknown, or when tenant, resource or key are wrong or the
// value was tampered with.
func (k *Keyring) Open(sealed []byte, tenant, resource string) ([]byte, error) {
	if k == nil {
		return nil, errors.New("secrets: open: no keyring")
	}
	id, nonce, ct, err := header(sealed)
	if err != nil {
		return nil, err
	}
	aead, ok := k.keys[id]
	if !ok || aead == nil {
		return nil, fmt.Errorf("secrets: unknown key id %q", id)
	}
	ad, err := associatedData(tenant, resource)
	if err != nil {
		return nil, err
	}
	pt, err := (*aead).Open(nil, nonce, ct, ad)
	if err != nil {
		return nil, errDoesNotOpen
	}
	return pt, nil
}

// Rewrap opens sealed and seals it again with the primary key. When sealed
// already uses the primary key it is checked and returned unchanged, with
// false.
func (k *Keyring) Rewrap(sealed []byte, tenant, resource string) ([]byte, bool, error) {
	pt, err := k.Open(sealed, tenant, resource)
	if err != nil {
		return nil, false, err
	}
	defer clear(pt)
	if id, _ := KeyID(sealed); id == k.primary {
		return sealed, false, nil
	}
	out, err := k.Seal(pt, tenant, resource)
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}
