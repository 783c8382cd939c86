package chart

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/releaseutil"
	"sigs.k8s.io/yaml"
)

const (
	releaseName = "ferry"
	namespace   = "ferry"
	kubeVersion = "v1.31.0"
)

// chartDir is the chart under test.
var chartDir = filepath.Join("..", "..", "helm", "ferry")

// natsStub stands in for the official NATS chart (a dependency `helm
// dependency build` downloads, which the tests cannot). It names its objects
// as the real chart does and renders the values it was given into a
// ConfigMap, so the tests can check what the Ferry chart passes to NATS.
var natsStub = map[string]string{
	"Chart.yaml":  "apiVersion: v2\nname: nats\nversion: 1.3.0\nappVersion: 2.11.0\ndescription: test stand-in for the official NATS chart\n",
	"values.yaml": "config:\n  jetstream:\n    enabled: false\n",
	"templates/_helpers.tpl": `{{- define "nats.fullname" -}}
{{- if .Values.fullnameOverride }}{{ .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (default .Chart.Name .Values.nameOverride) .Release.Name }}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}{{ printf "%s-%s" .Release.Name (default .Chart.Name .Values.nameOverride) | trunc 63 | trimSuffix "-" }}{{ end }}
{{- end }}
`,
	"templates/services.yaml": `apiVersion: v1
kind: Service
metadata:
  name: {{ include "nats.fullname" . }}
spec:
  selector:
    app.kubernetes.io/name: nats
  ports:
    - name: nats
      port: 4222
---
apiVersion: v1
kind: Service
metadata:
  name: {{ include "nats.fullname" . }}-headless
spec:
  clusterIP: None
  selector:
    app.kubernetes.io/name: nats
  ports:
    - name: nats
      port: 4222
    - name: monitor
      port: 8222
`,
	"templates/values.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "nats.fullname" . }}-stub-values
data:
  values.json: {{ toJson .Values | quote }}
`,
}

// chartWithNATSStub copies the chart into a temporary directory with the
// NATS stub in charts/nats and returns the copy's path.
func chartWithNATSStub(t testing.TB) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "ferry")
	err := filepath.WalkDir(chartDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(chartDir, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	require.NoError(t, err)
	for name, body := range natsStub {
		p := filepath.Join(dst, "charts", "nats", name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	return dst
}

// values parses YAML values.
func values(t testing.TB, doc string) map[string]any {
	t.Helper()
	v := map[string]any{}
	require.NoError(t, yaml.Unmarshal([]byte(doc), &v))
	return v
}

// render renders the chart in dir as `helm template --include-crds` does.
func render(t testing.TB, dir string, vals map[string]any) (string, error) {
	t.Helper()
	chrt, err := loader.Load(dir)
	require.NoError(t, err)
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	require.NoError(t, err)
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun = true
	install.ClientOnly = true
	install.IncludeCRDs = true
	install.Replace = true
	install.ReleaseName = releaseName
	install.Namespace = namespace
	install.KubeVersion = kv
	rel, err := install.Run(chrt, vals)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	out.WriteString(rel.Manifest)
	for _, h := range rel.Hooks {
		fmt.Fprintf(&out, "\n---\n%s", h.Manifest)
	}
	return out.String(), nil
}

// manifests splits a rendered release into its non-empty documents.
func manifests(rendered string) []string {
	var docs []string
	for _, d := range releaseutil.SplitManifests(rendered) {
		if strings.TrimSpace(d) != "" {
			docs = append(docs, d)
		}
	}
	return docs
}

// renderObjects renders and strictly decodes every object.
func renderObjects(t testing.TB, dir string, vals map[string]any) *objects {
	t.Helper()
	rendered, err := render(t, dir, vals)
	require.NoError(t, err)
	objs := &objects{}
	for _, doc := range manifests(rendered) {
		require.NoError(t, objs.add(doc), "object:\n%s", doc)
	}
	require.NotEmpty(t, objs.all)
	return objs
}
