package chart

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDecodeIsStrict shows that the decoding TestRender relies on refuses
// what a typo in a template would produce: an unknown field, a duplicate
// field, a wrongly typed value, an unknown kind.
func TestDecodeIsStrict(t *testing.T) {
	cases := map[string]struct{ doc, want string }{
		"unknown field in a Deployment": {`apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  replicas: 1
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers:
        - name: c
          image: i
          readinessProbes: {}
`, "readinessProbes"},
		"duplicate field": {`apiVersion: v1
kind: ConfigMap
metadata: {name: x}
data: {a: b}
data: {c: d}
`, "data"},
		"unknown field in a ServiceMonitor": {`apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: x}
spec:
  selector: {}
  endpoints:
    - port: http
      paths: /metrics
`, "paths"},
		"unknown field in a ScaledObject": {`apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: x}
spec:
  scaleTargetRef: {name: d}
  minReplicas: 1
  triggers: []
`, "minReplicas"},
		"number in trigger metadata": {`apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: x}
spec:
  scaleTargetRef: {name: d}
  triggers:
    - type: nats-jetstream
      metadata: {lagThreshold: 10}
`, "metadata of type string"},
		"unknown field in a Cluster": {`apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata: {name: x}
spec:
  instances: 3
  storage: {size: 1Gi}
  replicas: 3
`, "replicas"},
		"unknown kind": {`apiVersion: example.com/v1
kind: Widget
metadata: {name: x}
`, "Widget"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := (&objects{}).add(tc.doc)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}
