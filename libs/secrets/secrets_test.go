package secrets

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	tenant   = "tenant-a"
	resource = "destination/6f1c2a1e-0000-4000-8000-000000000001"
)

func genSpec(t *testing.T, id string) string {
	t.Helper()
	spec, err := GenerateSpec(id)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func mustParse(t *testing.T, spec string) *Keyring {
	t.Helper()
	k, err := Parse(spec)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return k
}

// keyOf returns the base64 part of a one-key spec.
func keyOf(spec string) string {
	if _, k, ok := strings.Cut(spec, ":"); ok {
		return k
	}
	return spec
}

func TestRoundTrip(t *testing.T) {
	k := mustParse(t, genSpec(t, ""))
	if got := k.Primary(); got != "k1" {
		t.Fatalf("Primary = %q, want k1", got)
	}
	for _, pt := range [][]byte{[]byte("hunter2"), {}, bytes.Repeat([]byte{0xff}, 4096)} {
		sealed, err := k.Seal(pt, tenant, resource)
		if err != nil {
			t.Fatal(err)
		}
		if len(pt) > 0 && bytes.Contains(sealed, pt) {
			t.Fatal("sealed value contains plaintext")
		}
		if sealed[0] != 1 || sealed[1] != 2 || string(sealed[2:4]) != "k1" {
			t.Fatalf("bad header % x", sealed[:4])
		}
		if want := 2 + 2 + 12 + len(pt) + 16; len(sealed) != want {
			t.Fatalf("len = %d, want %d", len(sealed), want)
		}
		id, err := KeyID(sealed)
		if err != nil || id != "k1" {
			t.Fatalf("KeyID = %q, %v", id, err)
		}
		got, err := k.Open(sealed, tenant, resource)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("Open = %q, want %q", got, pt)
		}
	}
}

func TestSealUsesFreshNonce(t *testing.T) {
	k := mustParse(t, genSpec(t, "main"))
	a, _ := k.Seal([]byte("same"), tenant, resource)
	b, _ := k.Seal([]byte("same"), tenant, resource)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are equal")
	}
}

func TestADBinding(t *testing.T) {
	k := mustParse(t, genSpec(t, "k1"))
	sealed, err := k.Seal([]byte("hunter2"), tenant, resource)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ tenant, resource string }{
		{"tenant-b", resource},
		{tenant, "destination/6f1c2a1e-0000-4000-8000-000000000002"},
		{"", resource},
		{tenant, ""},
		{tenant + "\x00" + resource, ""},
	} {
		pt, err := k.Open(sealed, c.tenant, c.resource)
		if err == nil {
			t.Fatalf("Open(%q, %q) succeeded", c.tenant, c.resource)
		}
		if pt != nil {
			t.Fatalf("Open(%q, %q) returned plaintext on error", c.tenant, c.resource)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("error contains plaintext: %v", err)
		}
	}
	_, err = k.Open(sealed, "tenant-b", resource)
	if want := "does not open: wrong tenant, resource or key, or tampered"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v, want it to contain %q", err, want)
	}
}

func TestNULRejected(t *testing.T) {
	k := mustParse(t, genSpec(t, ""))
	if _, err := k.Seal([]byte("x"), "a\x00b", "c"); err == nil {
		t.Fatal("Seal accepted NUL in tenant")
	}
	if _, err := k.Seal([]byte("x"), "a", "b\x00c"); err == nil {
		t.Fatal("Seal accepted NUL in resource")
	}
}

func TestWrongKey(t *testing.T) {
	a := mustParse(t, genSpec(t, "k1"))
	b := mustParse(t, genSpec(t, "k1"))
	sealed, _ := a.Seal([]byte("hunter2"), tenant, resource)
	if _, err := b.Open(sealed, tenant, resource); !errors.Is(err, errDoesNotOpen) {
		t.Fatalf("Open with other key: %v", err)
	}
}

func TestTamperAnyByte(t *testing.T) {
	k := mustParse(t, genSpec(t, "key_1"))
	sealed, err := k.Seal([]byte("hunter2"), tenant, resource)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sealed {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(sealed)
			bad[i] ^= flip
			pt, err := k.Open(bad, tenant, resource)
			if err == nil {
				t.Fatalf("byte %d ^ %#x: Open succeeded", i, flip)
			}
			if pt != nil || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("byte %d: leaked plaintext: %v", i, err)
			}
		}
	}
	for n := range len(sealed) {
		if _, err := k.Open(sealed[:n], tenant, resource); err == nil {
			t.Fatalf("truncated to %d bytes: Open succeeded", n)
		}
	}
	if _, err := k.Open(append(bytes.Clone(sealed), 0), tenant, resource); err == nil {
		t.Fatal("extended: Open succeeded")
	}
}

func TestMalformedHeader(t *testing.T) {
	for _, b := range [][]byte{nil, {1}, {2, 2, 'k', '1'}, {1, 0}, {1, 33}} {
		if _, err := KeyID(b); err == nil {
			t.Fatalf("KeyID(% x) succeeded", b)
		}
	}
	k := mustParse(t, genSpec(t, ""))
	sealed, _ := k.Seal([]byte("x"), tenant, resource)
	sealed[0] = 9
	if _, err := k.Open(sealed, tenant, resource); err == nil || !strings.Contains(err.Error(), "version 9") {
		t.Fatalf("Open with version 9: %v", err)
	}
}

func TestRotation(t *testing.T) {
	oldSpec := genSpec(t, "old")
	newSpec := genSpec(t, "new")
	oldRing := mustParse(t, oldSpec)
	sealedOld, err := oldRing.Seal([]byte("hunter2"), tenant, resource)
	if err != nil {
		t.Fatal(err)
	}

	both := mustParse(t, newSpec+","+oldSpec)
	if both.Primary() != "new" {
		t.Fatalf("Primary = %q, want new", both.Primary())
	}
	if got := fmt.Sprint(both.IDs()); got != "[new old]" {
		t.Fatalf("IDs = %s", got)
	}
	pt, err := both.Open(sealedOld, tenant, resource)
	if err != nil || string(pt) != "hunter2" {
		t.Fatalf("Open old with both = %q, %v", pt, err)
	}

	rewrapped, changed, err := both.Rewrap(sealedOld, tenant, resource)
	if err != nil || !changed {
		t.Fatalf("Rewrap = %v, %v", changed, err)
	}
	if id, _ := KeyID(sealedOld); id != "old" {
		t.Fatalf("KeyID(old) = %q", id)
	}
	if id, _ := KeyID(rewrapped); id != "new" {
		t.Fatalf("KeyID(rewrapped) = %q", id)
	}
	if pt, err := both.Open(rewrapped, tenant, resource); err != nil || string(pt) != "hunter2" {
		t.Fatalf("Open rewrapped = %q, %v", pt, err)
	}

	again, changed, err := both.Rewrap(rewrapped, tenant, resource)
	if err != nil || changed || !bytes.Equal(again, rewrapped) {
		t.Fatalf("Rewrap of primary value: changed=%v err=%v", changed, err)
	}
	if _, _, err := both.Rewrap(rewrapped, "tenant-b", resource); err == nil {
		t.Fatal("Rewrap with wrong tenant succeeded")
	}
	if _, _, err := both.Rewrap(sealedOld, tenant, "destination/other"); err == nil {
		t.Fatal("Rewrap with wrong resource succeeded")
	}

	newOnly := mustParse(t, newSpec)
	if pt, err := newOnly.Open(rewrapped, tenant, resource); err != nil || string(pt) != "hunter2" {
		t.Fatalf("Open rewrapped with new only = %q, %v", pt, err)
	}
	_, err = newOnly.Open(sealedOld, tenant, resource)
	if err == nil || !strings.Contains(err.Error(), `unknown key id "old"`) {
		t.Fatalf("Open old with new only: %v", err)
	}
}

func TestParse(t *testing.T) {
	a, b := genSpec(t, ""), genSpec(t, "")
	raw, _ := base64.StdEncoding.DecodeString(a)
	rawURL := base64.RawURLEncoding.EncodeToString(raw)

	for _, spec := range []string{a, rawURL, "  " + a + "\n", "k1:" + rawURL} {
		k := mustParse(t, spec)
		if k.Primary() != "k1" || len(k.IDs()) != 1 {
			t.Fatalf("Parse(%q): ids %v", spec, k.IDs())
		}
	}
	// Keys given in different encodings are the same key.
	s, _ := mustParse(t, a).Seal([]byte("x"), tenant, resource)
	if _, err := mustParse(t, rawURL).Open(s, tenant, resource); err != nil {
		t.Fatal(err)
	}

	k := mustParse(t, "Z-9_z:"+a+" , b2:"+b)
	if k.Primary() != "Z-9_z" || fmt.Sprint(k.IDs()) != "[Z-9_z b2]" {
		t.Fatalf("ids %v", k.IDs())
	}
	mustParse(t, strings.Repeat("x", 32)+":"+a)
}

func TestParseErrors(t *testing.T) {
	a, b := keyOf(genSpec(t, "")), keyOf(genSpec(t, ""))
	short := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 16))
	long := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 48))
	badB64 := a[:20] + "!!" + a[22:]
	cases := []struct {
		name, spec, want string
		secrets          []string
	}{
		{"empty", "", "empty", nil},
		{"blank", " \n\t", "empty", nil},
		{"bad base64", badB64, "not valid base64", []string{badB64}},
		{"bad base64 in list", "k1:" + a + ",k2:" + badB64, "entry 2: key \"k2\": not valid base64", []string{a, badB64}},
		{"short", short, "decodes to 16 bytes, want 32", []string{short}},
		{"long", "k9:" + long, "decodes to 48 bytes, want 32", []string{long}},
		{"duplicate id", "k1:" + a + ",k1:" + b, `duplicate key id "k1"`, []string{a, b}},
		{"empty id", ":" + a, "key id must be", []string{a}},
		{"bad id chars", "k.1:" + a, "key id must be", []string{a}},
		{"id too long", strings.Repeat("x", 33) + ":" + a, "key id must be", []string{a}},
		{"swapped", a + ":k1", "entry 1: key id must be", []string{a}},
		{"empty key", "k1:", "key is empty", nil},
		{"empty entry", "k1:" + a + ",", "entry 2 is empty", []string{a}},
		{"no colon", "k1:" + a + "," + b, "entry 2: want id:base64", []string{a, b}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := Parse(c.spec)
			if err == nil {
				t.Fatalf("Parse succeeded: %v", k)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) {
				t.Fatalf("error %q does not contain %q", msg, c.want)
			}
			for _, s := range c.secrets {
				for _, frag := range []string{s, s[:12], s[len(s)-12:]} {
					if strings.Contains(msg, frag) {
						t.Fatalf("error %q contains key text", msg)
					}
				}
			}
		})
	}
}

func TestGenerateSpec(t *testing.T) {
	spec, err := GenerateSpec("prod-2025")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(spec, "prod-2025:") {
		t.Fatalf("spec = %q", spec)
	}
	if k := mustParse(t, spec); k.Primary() != "prod-2025" {
		t.Fatalf("Primary = %q", k.Primary())
	}
	if genSpec(t, "x") == genSpec(t, "x") {
		t.Fatal("two generated keys are equal")
	}
	if _, err := GenerateSpec("bad id"); err == nil {
		t.Fatal("GenerateSpec accepted a bad id")
	}
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoad(t *testing.T) {
	spec := genSpec(t, "envkey")

	k, err := Load(env(map[string]string{EnvKey: spec}))
	if err != nil || k.Primary() != "envkey" {
		t.Fatalf("Load from env = %v, %v", k, err)
	}

	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte("\n  "+spec+"\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err = Load(env(map[string]string{EnvKeyFile: path}))
	if err != nil || k.Primary() != "envkey" {
		t.Fatalf("Load from file = %v, %v", k, err)
	}

	_, err = Load(env(map[string]string{EnvKey: spec, EnvKeyFile: path}))
	if err == nil || errors.Is(err, ErrNoKey) || !strings.Contains(err.Error(), "both") {
		t.Fatalf("both set: %v", err)
	}
	if strings.Contains(err.Error(), keyOf(spec)) {
		t.Fatal("error contains key text")
	}

	k, err = Load(env(nil))
	if k != nil || !errors.Is(err, ErrNoKey) {
		t.Fatalf("none set = %v, %v", k, err)
	}

	_, err = Load(env(map[string]string{EnvKeyFile: filepath.Join(t.TempDir(), "missing")}))
	if err == nil || errors.Is(err, ErrNoKey) || !strings.Contains(err.Error(), EnvKeyFile) {
		t.Fatalf("missing file: %v", err)
	}

	bad := strings.Replace(spec, ":", ":!", 1)
	_, err = Load(env(map[string]string{EnvKey: bad}))
	if err == nil || !strings.Contains(err.Error(), EnvKey) || strings.Contains(err.Error(), keyOf(spec)) {
		t.Fatalf("bad env spec: %v", err)
	}
	badPath := filepath.Join(t.TempDir(), "bad")
	_ = os.WriteFile(badPath, []byte(bad), 0o600)
	_, err = Load(env(map[string]string{EnvKeyFile: badPath}))
	if err == nil || !strings.Contains(err.Error(), badPath) || strings.Contains(err.Error(), keyOf(spec)) {
		t.Fatalf("bad file spec: %v", err)
	}
}

func TestLoadOSEnv(t *testing.T) {
	spec := genSpec(t, "os")
	t.Setenv(EnvKey, spec)
	t.Setenv(EnvKeyFile, "")
	k, err := Load(nil)
	if err != nil || k.Primary() != "os" {
		t.Fatalf("Load(nil) = %v, %v", k, err)
	}
}

func TestKeyringDoesNotPrintKeys(t *testing.T) {
	a, b := genSpec(t, "k2"), genSpec(t, "k1")
	k := mustParse(t, a+","+b)
	holder := struct {
		Ring  *Keyring
		ring  *Keyring
		value Keyring
	}{k, k, *k}
	var outs []string
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		// A dereferenced Keyring has no methods, so fmt prints it by
		// reflection; it must still show no key material.
		outs = append(outs, fmt.Sprintf(f, k), fmt.Sprintf(f, holder), fmt.Sprintf(f, *k))
	}
	outs = append(outs, k.String(), k.GoString())
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("ring", "k", k)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("ring", "k", k)
	outs = append(outs, buf.String())
	raw1, _ := base64.StdEncoding.DecodeString(keyOf(a))
	raw2, _ := base64.StdEncoding.DecodeString(keyOf(b))
	for _, out := range outs {
		for _, key := range []string{keyOf(a), keyOf(b), fmt.Sprintf("%x", raw1), fmt.Sprintf("%x", raw2)} {
			if strings.Contains(out, key) {
				t.Fatalf("output contains key: %s", out)
			}
		}
		// Expanded key schedules print as long runs of numbers.
		if len(out) > 2000 || strings.Contains(out, "GCM") {
			t.Fatalf("output shows cipher internals: %.300s", out)
		}
	}
	if got := k.String(); !strings.Contains(got, "k2") || !strings.Contains(got, "k1") {
		t.Fatalf("String = %q, want ids", got)
	}
}

func TestNilKeyring(t *testing.T) {
	var k *Keyring
	if _, err := k.Seal([]byte("x"), tenant, resource); err == nil {
		t.Fatal("nil Seal succeeded")
	}
	if _, err := k.Open([]byte{1, 1, 'k'}, tenant, resource); err == nil {
		t.Fatal("nil Open succeeded")
	}
	if _, _, err := k.Rewrap(nil, tenant, resource); err == nil {
		t.Fatal("nil Rewrap succeeded")
	}
	if k.Primary() != "" || fmt.Sprint(k) == "" {
		t.Fatal("nil Primary/String")
	}
}

const value = "s3cr3t-p@ss"

func TestSecretFormatting(t *testing.T) {
	s := NewSecret(value)
	if s.Reveal() != value || !s.IsSet() {
		t.Fatal("Reveal/IsSet")
	}
	type creds struct {
		User     string
		Password Secret
		PtrPass  *Secret
		hidden   Secret
	}
	c := creds{User: "bob", Password: s, PtrPass: &s, hidden: s}
	for _, f := range []string{"%v", "%s", "%+v", "%#v", "%q", "%x", "%X", "%d", "%10s", "%-8v", "%T|%v"} {
		for _, arg := range []any{s, &s, c, &c, []Secret{s}, map[string]Secret{"k": s}} {
			out := fmt.Sprintf(f, arg, arg)
			if strings.Contains(out, value) || strings.Contains(out, fmt.Sprintf("%x", value)) ||
				strings.Contains(out, fmt.Sprintf("%X", value)) {
				t.Fatalf("%s of %T leaks: %s", f, arg, out)
			}
		}
	}
	for _, f := range []string{"%v", "%s", "%+v", "%#v", "%q", "%x"} {
		if got := fmt.Sprintf(f, s); got != "[redacted]" {
			t.Fatalf("%s = %q, want [redacted]", f, got)
		}
	}
	if s.String() != "[redacted]" || s.GoString() != "[redacted]" {
		t.Fatal("String/GoString")
	}
	if got := fmt.Sprint(c); !strings.Contains(got, "bob") || !strings.Contains(got, "[redacted]") {
		t.Fatalf("Sprint(creds) = %q", got)
	}
}

func TestSecretEmpty(t *testing.T) {
	for _, s := range []Secret{{}, NewSecret("")} {
		if s.IsSet() || s.Reveal() != "" {
			t.Fatal("empty secret is set")
		}
		if got := fmt.Sprintf("%v|%s|%#v|%q", s, s, s, s); got != "|||" {
			t.Fatalf("empty formats as %q", got)
		}
		j, _ := json.Marshal(s)
		if string(j) != `""` {
			t.Fatalf("empty JSON = %s", j)
		}
		if txt, _ := s.MarshalText(); len(txt) != 0 {
			t.Fatalf("empty text = %q", txt)
		}
		if v := s.LogValue(); v.String() != "" {
			t.Fatalf("empty LogValue = %q", v)
		}
	}
	if NewSecret("") != (Secret{}) {
		t.Fatal("NewSecret(\"\") is not the zero Secret")
	}
}

func TestSecretJSON(t *testing.T) {
	s := NewSecret(value)
	type dest struct {
		Host     string            `json:"host"`
		Password Secret            `json:"password"`
		Key      *Secret           `json:"key"`
		Opt      Secret            `json:"opt,omitempty"`
		ByName   map[Secret]string `json:"by_name"`
		List     []Secret          `json:"list"`
	}
	d := dest{Host: "sftp.example.com", Password: s, Key: &s, ByName: map[Secret]string{s: "x"}, List: []Secret{s}}
	for _, arg := range []any{d, &d, s, &s} {
		b, err := json.Marshal(arg)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), value) {
			t.Fatalf("JSON leaks: %s", b)
		}
	}
	b, _ := json.Marshal(d)
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	if back["password"] != "[redacted]" || back["key"] != "[redacted]" {
		t.Fatalf("JSON = %s", b)
	}
	txt, _ := s.MarshalText()
	if string(txt) != "[redacted]" {
		t.Fatalf("MarshalText = %q", txt)
	}
}

func TestSecretSlog(t *testing.T) {
	s := NewSecret(value)
	type creds struct {
		User     string
		Password Secret
	}
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		log := slog.New(h)
		log.Info("connect", "password", s, "ptr", &s, "creds", creds{"bob", s}, slog.Any("any", s),
			slog.Group("g", "pw", s))
		log.Info("formatted", "msg", fmt.Sprintf("pw=%v", s))
	}
	out := buf.String()
	if strings.Contains(out, value) {
		t.Fatalf("slog output leaks: %s", out)
	}
	if !strings.Contains(out, `"password":"[redacted]"`) || !strings.Contains(out, "password=[redacted]") {
		t.Fatalf("slog output: %s", out)
	}
}
