package chart

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// The values every case builds on: the one required value, a database.
const (
	testDatabaseURL = "postgres://ferry:not-a-password@pg.example:5432/ferry"
	testSecretKey   = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	inlineSecrets   = "secrets:\n  databaseUrl: " + testDatabaseURL + "\n  secretKey: " + testSecretKey + "\n"
	microservices   = inlineSecrets + "deploymentMode: microservices\nnats:\n  url: nats://nats.messaging.svc:4222\n"
)

var serviceNames = []string{"profile", "ingest", "transform", "export", "delivery"}

type renderCase struct {
	name   string
	values string
	// stub renders the chart with the NATS stub in charts/nats.
	stub  bool
	check func(t *testing.T, o *objects)
}

var renderCases = []renderCase{
	{
		name:   "defaults",
		values: "secrets:\n  databaseUrl: " + testDatabaseURL + "\n",
		check: func(t *testing.T, o *objects) {
			require.Len(t, o.deployments, 1)
			d := o.deployments[0]
			require.Equal(t, "ferry", d.Name)
			require.EqualValues(t, 1, *d.Spec.Replicas, "the embedded NATS server allows one replica")
			require.Equal(t, appsv1.RecreateDeploymentStrategyType, d.Spec.Strategy.Type)
			require.Equal(t, []string{"server", "--services=all"}, d.Spec.Template.Spec.Containers[0].Args)
			require.Equal(t, "/data", env(t, d, "FERRY_DATA_DIR").Value)
			// The Go runtime's soft memory limit follows the container's.
			require.Equal(t, "limits.memory", env(t, d, "GOMEMLIMIT").ValueFrom.ResourceFieldRef.Resource)
			require.Len(t, o.pvcs, 1)
			require.Equal(t, "ferry-data", o.pvcs[0].Name)
			require.NotContains(t, o.configMap("ferry").Data, "FERRY_NATS_URL")
			require.NotContains(t, o.configMap("ferry").Data, "FERRY_NATS_REPLICAS", "the embedded server keeps one replica")
			require.NotContains(t, o.configMap("ferry").Data, "FERRY_DATABASE_MAX_CONNS", "null sizes the pool from the pod's services")
			require.Empty(t, o.hpas)
			require.Empty(t, o.scaledObjects)
		},
	},
	{
		name: "allInOne with external NATS scales",
		values: inlineSecrets + `nats:
  url: nats://nats.messaging.svc:4222
allInOne:
  replicas: 3
  autoscaling:
    enabled: true
config:
  databaseMaxConns: 40
  runStallAfter: 30m
  runStallRedrives: 5
  ingest:
    window: 32
    sftpPolls: 0
  transform:
    workers: 4
  delivery:
    poll: 5s
  extraEnv:
    FERRY_GRPC_REFLECTION: "false"
`,
		check: func(t *testing.T, o *objects) {
			cfg := o.configMap("ferry").Data
			require.Equal(t, "40", cfg["FERRY_DATABASE_MAX_CONNS"])
			require.Equal(t, "30m", cfg["FERRY_RUN_STALL_AFTER"])
			require.Equal(t, "5", cfg["FERRY_RUN_STALL_REDRIVES"])
			require.Equal(t, "32", cfg["FERRY_INGEST_WINDOW"])
			require.Equal(t, "0", cfg["FERRY_INGEST_SFTP_POLLS"], "0 is a setting (poll none), not unset")
			require.Equal(t, "4", cfg["FERRY_TRANSFORM_WORKERS"])
			require.Equal(t, "5s", cfg["FERRY_DELIVERY_POLL"])
			require.Equal(t, "false", cfg["FERRY_GRPC_REFLECTION"])
			require.NotContains(t, cfg, "FERRY_INGEST_CHUNK_SIZE", "null keeps the binary's default")
			require.Len(t, o.deployments, 1)
			d := o.deployments[0]
			require.Nil(t, d.Spec.Replicas, "the HPA owns the replica count")
			require.Equal(t, appsv1.RollingUpdateDeploymentStrategyType, d.Spec.Strategy.Type)
			require.Empty(t, o.pvcs)
			require.Len(t, o.hpas, 1)
			require.Equal(t, "ferry", o.hpas[0].Spec.ScaleTargetRef.Name)
			require.Equal(t, "nats://nats.messaging.svc:4222", o.configMap("ferry").Data["FERRY_NATS_URL"])
			require.NotContains(t, o.configMap("ferry").Data, "FERRY_NATS_REPLICAS", "an external NATS keeps its streams' replicas unless told")
			require.Equal(t, "/etc/ferry/secret/secret.key", env(t, d, "FERRY_SECRET_KEY_FILE").Value)
		},
	},
	{
		name: "microservices with KEDA",
		values: microservices + `keda:
  natsMonitoringEndpoint: nats.messaging.svc:8222
services:
  profile:
    autoscaling: {enabled: true, kind: hpa}
  ingest:
    autoscaling: {enabled: true, kind: keda}
  transform:
    autoscaling: {enabled: true, kind: keda}
  export:
    autoscaling: {enabled: true, kind: keda}
  delivery:
    autoscaling: {enabled: true, kind: keda}
`,
		check: func(t *testing.T, o *objects) {
			require.Len(t, o.scaledObjects, 4)
			require.Len(t, o.hpas, 1)
			require.Equal(t, "ferry-profile", o.hpas[0].Spec.ScaleTargetRef.Name)
			want := expectedTriggers(t)
			for _, so := range o.scaledObjects {
				svc := strings.TrimPrefix(so.Spec.ScaleTargetRef.Name, "ferry-")
				require.Equal(t, "Deployment", so.Spec.ScaleTargetRef.Kind)
				require.NotNil(t, o.deployment(so.Spec.ScaleTargetRef.Name), "ScaledObject %s targets no Deployment", so.Name)
				var got []string
				for _, tr := range so.Spec.Triggers {
					require.Equal(t, "nats-jetstream", tr.Type)
					require.Equal(t, "nats.messaging.svc:8222", tr.Metadata["natsServerMonitoringEndpoint"])
					require.Equal(t, "$G", tr.Metadata["account"])
					require.NotEmpty(t, tr.Metadata["lagThreshold"])
					got = append(got, tr.Metadata["stream"]+"/"+tr.Metadata["consumer"])
				}
				require.ElementsMatch(t, want[svc], got, "triggers of %s", svc)
				require.Nil(t, o.deployment(so.Spec.ScaleTargetRef.Name).Spec.Replicas, "KEDA owns the replica count of %s", svc)
			}
		},
	},
	{
		name: "microservices with HPA",
		values: microservices + `services:
  profile: {autoscaling: {enabled: true, kind: hpa}}
  ingest: {autoscaling: {enabled: true, kind: hpa}}
  transform: {autoscaling: {enabled: true, kind: hpa}}
  export: {autoscaling: {enabled: true, kind: hpa}}
  delivery: {autoscaling: {enabled: true, kind: hpa}}
`,
		check: func(t *testing.T, o *objects) {
			require.Empty(t, o.scaledObjects)
			require.Len(t, o.hpas, 5)
			for _, h := range o.hpas {
				require.NotNil(t, o.deployment(h.Spec.ScaleTargetRef.Name))
				require.Equal(t, "cpu", string(h.Spec.Metrics[0].Resource.Name))
			}
		},
	},
	{
		name: "serviceMonitor",
		values: microservices + "serviceMonitor:\n  enabled: true\n  labels:\n    release: prometheus\n" +
			"extraEnv:\n  - name: OTEL_EXPORTER_OTLP_ENDPOINT\n    value: http://otel-collector:4317\n",
		check: func(t *testing.T, o *objects) {
			for _, d := range o.deployments {
				require.Equal(t, "http://otel-collector:4317", env(t, d, "OTEL_EXPORTER_OTLP_ENDPOINT").Value)
			}
			require.Len(t, o.serviceMonitors, 1)
			sm := o.serviceMonitors[0]
			require.Equal(t, "prometheus", sm.Labels["release"])
			require.Len(t, sm.Spec.Endpoints, 1)
			require.Equal(t, "http", sm.Spec.Endpoints[0].Port)
			require.Equal(t, "/metrics", sm.Spec.Endpoints[0].Path)
			sel, err := labels.ValidatedSelectorFromSet(sm.Spec.Selector.MatchLabels)
			require.NoError(t, err)
			matched := 0
			for _, s := range o.services {
				if sel.Matches(labels.Set(s.Labels)) {
					matched++
				}
			}
			require.Equal(t, 5, matched, "the ServiceMonitor selects every service's Service")
		},
	},
	{
		name: "networkPolicy",
		values: microservices + `networkPolicy:
  enabled: true
  allowedClients:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: ingress
  egress:
    enabled: true
    extraEgress:
      - ports:
          - port: 22
            protocol: TCP
`,
		check: func(t *testing.T, o *objects) {
			require.Len(t, o.networkPolicies, 1)
			np := o.networkPolicies[0]
			sel := labels.SelectorFromSet(np.Spec.PodSelector.MatchLabels)
			for _, d := range o.deployments {
				require.True(t, sel.Matches(labels.Set(d.Spec.Template.Labels)), "the policy covers %s", d.Name)
			}
			require.Len(t, np.Spec.Ingress, 1)
			require.Len(t, np.Spec.Ingress[0].From, 2)
			var egressPorts []int32
			for _, r := range np.Spec.Egress {
				for _, p := range r.Ports {
					egressPorts = append(egressPorts, p.Port.IntVal)
				}
			}
			for _, p := range []int32{53, 5432, 4222, 22} {
				require.Contains(t, egressPorts, p)
			}
		},
	},
	{
		name: "bundled NATS chart (stub)",
		stub: true,
		values: inlineSecrets + `deploymentMode: microservices
nats:
  enabled: true
services:
  transform:
    autoscaling: {enabled: true, kind: keda}
`,
		check: func(t *testing.T, o *objects) {
			require.Equal(t, "nats://ferry-nats.ferry.svc:4222", o.configMap("ferry").Data["FERRY_NATS_URL"])
			require.Equal(t, "3", o.configMap("ferry").Data["FERRY_NATS_REPLICAS"], "R3 streams on the bundled three-node cluster")
			require.Len(t, o.scaledObjects, 1)
			require.Equal(t, "ferry-nats-headless.ferry.svc.cluster.local:8222",
				o.scaledObjects[0].Spec.Triggers[0].Metadata["natsServerMonitoringEndpoint"])
			var headless bool
			for _, s := range o.services {
				headless = headless || s.Name == "ferry-nats-headless"
			}
			require.True(t, headless, "the KEDA endpoint names the NATS chart's headless Service")
			cm := o.configMap("ferry-nats-stub-values")
			require.NotNil(t, cm, "the NATS chart is rendered")
			var v struct {
				Config struct {
					Cluster struct {
						Enabled  bool
						Replicas int
					}
					JetStream struct {
						Enabled   bool
						FileStore struct {
							Enabled bool
							PVC     struct {
								Enabled bool
								Size    string
							}
						} `json:"fileStore"`
					} `json:"jetstream"`
					Merge map[string]string
				}
			}
			require.NoError(t, json.Unmarshal([]byte(cm.Data["values.json"]), &v))
			require.True(t, v.Config.Cluster.Enabled)
			require.Equal(t, 3, v.Config.Cluster.Replicas)
			require.True(t, v.Config.JetStream.Enabled)
			require.True(t, v.Config.JetStream.FileStore.Enabled)
			require.True(t, v.Config.JetStream.FileStore.PVC.Enabled)
			require.NotEmpty(t, v.Config.JetStream.FileStore.PVC.Size)
			require.Equal(t, "<< 8MB >>", v.Config.Merge["max_payload"])
		},
	},
	{
		name: "CloudNativePG",
		values: `deploymentMode: microservices
nats:
  url: nats://nats.messaging.svc:4222
existingSecret:
  name: ferry-keys
  databaseUrlKey: ""
postgresql:
  cnpg:
    enabled: true
`,
		check: func(t *testing.T, o *objects) {
			require.Len(t, o.clusters, 1)
			c := o.clusters[0]
			require.Equal(t, "ferry-pg", c.Name)
			require.Equal(t, 3, c.Spec.Instances)
			require.Equal(t, "ferry", c.Spec.Bootstrap.InitDB.Database)
			for _, d := range o.deployments {
				e := findEnv(d, "DATABASE_URL")
				if d.Name == "ferry-transform" {
					require.Nil(t, e, "transform needs no database")
					continue
				}
				require.NotNil(t, e, d.Name)
				require.Equal(t, "ferry-pg-app", e.ValueFrom.SecretKeyRef.Name)
				require.Equal(t, "uri", e.ValueFrom.SecretKeyRef.Key)
			}
		},
	},
	{
		name: "existingSecret",
		values: `deploymentMode: microservices
existingSecret:
  name: ferry-keys
  natsUrlKey: nats-url
  bootstrapKeyKey: bootstrap-key
`,
		check: func(t *testing.T, o *objects) {
			require.Empty(t, o.secrets, "with existingSecret the chart renders no Secret")
			require.NotContains(t, o.configMap("ferry").Data, "FERRY_NATS_URL")
			refs := map[string]bool{}
			for _, d := range o.deployments {
				for _, c := range d.Spec.Template.Spec.Containers {
					for _, e := range c.Env {
						if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
							require.Equal(t, "ferry-keys", e.ValueFrom.SecretKeyRef.Name)
							refs[e.Name+"="+e.ValueFrom.SecretKeyRef.Key] = true
						}
					}
				}
				for _, v := range d.Spec.Template.Spec.Volumes {
					if v.Secret != nil {
						require.Equal(t, "ferry-keys", v.Secret.SecretName)
					}
				}
			}
			require.True(t, refs["DATABASE_URL=database-url"])
			require.True(t, refs["FERRY_NATS_URL=nats-url"])
			require.True(t, refs["FERRY_BOOTSTRAP_KEY=bootstrap-key"])
			for _, name := range []string{"ferry-profile", "ferry-ingest", "ferry-delivery"} {
				require.True(t, hasSecretVolume(o.deployment(name)), "%s mounts the secret key", name)
			}
			for _, name := range []string{"ferry-transform", "ferry-export"} {
				require.False(t, hasSecretVolume(o.deployment(name)), "%s needs no secret key", name)
			}
		},
	},
}

func TestRender(t *testing.T) {
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := chartDir
			if tc.stub {
				dir = chartWithNATSStub(t)
			}
			vals := values(t, tc.values)
			o := renderObjects(t, dir, vals)
			checkEveryRender(t, vals, o)
			tc.check(t, o)
		})
	}
}

// checkEveryRender asserts what holds for every value set.
func checkEveryRender(t *testing.T, vals map[string]any, o *objects) {
	t.Helper()
	if vals["deploymentMode"] == "microservices" {
		require.Len(t, o.deployments, len(serviceNames), "one Deployment per service")
		for _, svc := range serviceNames {
			d := o.deployment("ferry-" + svc)
			require.NotNil(t, d, "no Deployment for %s", svc)
			require.Equal(t, []string{"server", "--services=" + svc}, d.Spec.Template.Spec.Containers[0].Args)
		}
	}
	for _, d := range o.deployments {
		checkPod(t, d)
		sel, err := labels.ValidatedSelectorFromSet(d.Spec.Selector.MatchLabels)
		require.NoError(t, err)
		require.True(t, sel.Matches(labels.Set(d.Spec.Template.Labels)), "%s selects its own pods", d.Name)
		for _, other := range o.deployments {
			if other != d {
				require.False(t, sel.Matches(labels.Set(other.Spec.Template.Labels)), "%s selects the pods of %s", d.Name, other.Name)
			}
		}
	}
	// Never a ScaledObject and an HPA on one Deployment: they would fight.
	scaled := map[string]string{}
	for _, h := range o.hpas {
		scaled[h.Spec.ScaleTargetRef.Name] = "HPA " + h.Name
	}
	for _, so := range o.scaledObjects {
		prev, dup := scaled[so.Spec.ScaleTargetRef.Name]
		require.False(t, dup, "ScaledObject %s and %s both scale %s", so.Name, prev, so.Spec.ScaleTargetRef.Name)
	}
	require.Len(t, o.pdbs, len(o.deployments), "a PodDisruptionBudget per Deployment")
	for _, p := range o.pdbs {
		require.NotNil(t, p.Spec.MaxUnavailable, "PDB %s must not block drains", p.Name)
		sel, err := labels.ValidatedSelectorFromSet(p.Spec.Selector.MatchLabels)
		require.NoError(t, err)
		require.Equal(t, 1, countMatching(sel, o.deployments), "PDB %s covers one Deployment", p.Name)
	}
	for _, s := range o.services {
		if strings.HasPrefix(s.Name, "ferry-nats") {
			continue
		}
		require.Equal(t, 1, countMatching(labels.SelectorFromSet(s.Spec.Selector), o.deployments), "Service %s selects one Deployment", s.Name)
		var ports []string
		for _, p := range s.Spec.Ports {
			ports = append(ports, p.Name)
		}
		require.ElementsMatch(t, []string{"grpc", "http"}, ports)
	}
	cm := o.configMap("ferry")
	require.NotNil(t, cm, "the config ConfigMap")
	for k := range cm.Data {
		require.True(t, strings.HasPrefix(k, "FERRY_"), "config key %s", k)
	}
	// Secret values are in Secrets only, never in a ConfigMap or a pod spec.
	for _, c := range o.configMaps {
		for k, v := range c.Data {
			require.NotContains(t, v, testDatabaseURL, "ConfigMap %s key %s", c.Name, k)
			require.NotContains(t, v, testSecretKey, "ConfigMap %s key %s", c.Name, k)
		}
	}
	for _, d := range o.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			for _, e := range c.Env {
				require.NotContains(t, e.Value, "postgres://", "%s env %s", d.Name, e.Name)
				require.NotContains(t, e.Value, testSecretKey, "%s env %s", d.Name, e.Name)
			}
		}
	}
	for _, s := range o.secrets {
		if _, ok := vals["existingSecret"]; ok {
			require.Empty(t, vals["existingSecret"].(map[string]any)["name"], "Secret %s rendered with existingSecret", s.Name)
		}
	}
}

// checkPod asserts the restricted security context, the probes, /tmp and the
// grace period of a Deployment's pods.
func checkPod(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	pod := d.Spec.Template.Spec
	require.NotNil(t, pod.TerminationGracePeriodSeconds, d.Name)
	require.GreaterOrEqual(t, *pod.TerminationGracePeriodSeconds, int64(60), "%s: longer than a chunk plus the shutdown grace", d.Name)
	psc := pod.SecurityContext
	require.NotNil(t, psc, d.Name)
	require.True(t, *psc.RunAsNonRoot, d.Name)
	require.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, psc.SeccompProfile.Type, d.Name)
	require.False(t, *pod.AutomountServiceAccountToken, d.Name)
	require.NotEmpty(t, pod.TopologySpreadConstraints, d.Name)
	for _, c := range pod.TopologySpreadConstraints {
		require.True(t, labels.SelectorFromSet(c.LabelSelector.MatchLabels).Matches(labels.Set(d.Spec.Template.Labels)),
			"%s spreads its own pods", d.Name)
	}
	var tmp bool
	for _, v := range pod.Volumes {
		if v.Name == "tmp" {
			require.NotNil(t, v.EmptyDir, "%s: /tmp is an emptyDir", d.Name)
			tmp = true
		}
	}
	require.True(t, tmp, d.Name)
	require.NotEmpty(t, pod.Containers)
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		require.NotNil(t, sc, "%s/%s", d.Name, c.Name)
		require.True(t, *sc.RunAsNonRoot)
		require.False(t, *sc.AllowPrivilegeEscalation)
		require.False(t, *sc.Privileged)
		require.True(t, *sc.ReadOnlyRootFilesystem)
		require.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
		require.Empty(t, sc.Capabilities.Add)
		require.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, sc.SeccompProfile.Type)
		require.True(t, slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
			return m.Name == "tmp" && m.MountPath == "/tmp"
		}), "%s mounts /tmp", d.Name)
		for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe} {
			require.NotNil(t, p, "%s %s probe", d.Name, name)
			require.NotNil(t, p.GRPC, "%s %s probe uses gRPC health", d.Name, name)
			require.EqualValues(t, 9090, p.GRPC.Port)
		}
		require.NotNil(t, c.ReadinessProbe, d.Name)
		require.NotNil(t, c.ReadinessProbe.HTTPGet, d.Name)
		require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
		require.NotNil(t, c.Resources.Requests.Cpu(), d.Name)
		require.False(t, c.Resources.Requests.Memory().IsZero(), "%s requests memory", d.Name)
	}
}

func countMatching(sel labels.Selector, ds []*appsv1.Deployment) int {
	n := 0
	for _, d := range ds {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			n++
		}
	}
	return n
}

func findEnv(d *appsv1.Deployment, name string) *corev1.EnvVar {
	for _, c := range d.Spec.Template.Spec.Containers {
		for i := range c.Env {
			if c.Env[i].Name == name {
				return &c.Env[i]
			}
		}
	}
	return nil
}

func env(t *testing.T, d *appsv1.Deployment, name string) *corev1.EnvVar {
	t.Helper()
	e := findEnv(d, name)
	require.NotNil(t, e, "%s has no %s", d.Name, name)
	return e
}

func hasSecretVolume(d *appsv1.Deployment) bool {
	return slices.ContainsFunc(d.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Secret != nil })
}

// TestLint runs `helm lint --strict` for several value sets: any warning
// fails.
func TestLint(t *testing.T) {
	dir := chartWithNATSStub(t)
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	require.NoError(t, err)
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			linter := lint.AllWithKubeVersionAndSchemaValidation(dir, values(t, tc.values), namespace, kv, false)
			var msgs []string
			for _, m := range linter.Messages {
				if m.Severity >= support.WarningSev {
					msgs = append(msgs, m.Error())
				}
			}
			require.Empty(t, msgs)
		})
	}
}

// TestRefused renders values the schema or the chart must refuse; the error
// names the offending value, or for an enum (whose schema error does not
// repeat the value) its path and the allowed values.
func TestRefused(t *testing.T) {
	cases := []struct {
		name   string
		values string
		// stub renders with the NATS stub in charts/nats.
		stub bool
		want []string
	}{
		{"unknown top-level key", inlineSecrets + "replicaCount: 3\n", false, []string{"replicaCount"}},
		{"unknown nested key", inlineSecrets + "services:\n  ingest:\n    replica: 3\n", false, []string{"replica"}},
		{"bad deploymentMode", inlineSecrets + "deploymentMode: cluster\n", false, []string{"/deploymentMode", "allInOne", "microservices"}},
		{"negative replicas", microservices + "services:\n  transform:\n    replicas: -1\n", false, []string{"transform", "replicas", "-1"}},
		{"replicas > 1 with embedded NATS", inlineSecrets + "allInOne:\n  replicas: 3\n", false, []string{"allInOne", "replicas", "3"}},
		{"autoscaling with embedded NATS", inlineSecrets + "allInOne:\n  autoscaling:\n    enabled: true\n", false, []string{"autoscaling", "enabled"}},
		{"replicas > 1 with embedded NATS despite a natsUrlKey without existingSecret", inlineSecrets + "existingSecret:\n  natsUrlKey: nats-url\nallInOne:\n  replicas: 2\n", false, []string{"allInOne.replicas=2", "embedded NATS"}},
		{"KEDA and HPA at once", microservices + "services:\n  ingest:\n    autoscaling:\n      kind: both\n", false, []string{"/services/ingest/autoscaling/kind", "keda", "hpa"}},
		{"KEDA on profile", microservices + "services:\n  profile:\n    autoscaling:\n      kind: keda\n", false, []string{"/services/profile/autoscaling/kind", "hpa"}},
		{"bad pullPolicy", inlineSecrets + "image:\n  pullPolicy: Sometimes\n", false, []string{"/image/pullPolicy", "IfNotPresent"}},
		{"bad digest", inlineSecrets + "image:\n  digest: sha256:abc\n", false, []string{"digest", "sha256:abc"}},
		{"bad log format", inlineSecrets + "config:\n  logFormat: xml\n", false, []string{"/config/logFormat", "json"}},
		{"bad duration", inlineSecrets + "config:\n  ackWait: 30 seconds\n", false, []string{"ackWait", "30 seconds"}},
		{"short grace period", inlineSecrets + "terminationGracePeriodSeconds: 10\n", false, []string{"terminationGracePeriodSeconds", "10"}},
		{"bad secret key", "secrets:\n  databaseUrl: " + testDatabaseURL + "\n  secretKey: hunter2\n", false, []string{"secretKey"}},
		{"extraEnv outside FERRY_", inlineSecrets + "config:\n  extraEnv:\n    PATH: /bin\n", false, []string{"PATH", "FERRY_"}},
		{"microservices without NATS", inlineSecrets + "deploymentMode: microservices\n", false, []string{"deploymentMode=microservices", "NATS"}},
		{"no database", "deploymentMode: allInOne\n", false, []string{"no database"}},
		{"existingSecret with inline secrets", inlineSecrets + "existingSecret:\n  name: ferry-keys\n", false, []string{"existingSecret.name=ferry-keys", "secrets"}},
		{"nats.enabled without the dependency", inlineSecrets + "nats:\n  enabled: true\n", false, []string{"nats.enabled", "helm dependency build"}},
		{"nats.enabled and nats.url", inlineSecrets + "nats:\n  enabled: true\n  url: nats://x:4222\n", true, []string{"nats.enabled", "nats.url"}},
		{"KEDA on an external NATS without monitoring endpoint", microservices + "services:\n  transform:\n    autoscaling:\n      enabled: true\n", false, []string{"services.transform.autoscaling.kind=keda", "keda.natsMonitoringEndpoint"}},
		{"minReplicas above maxReplicas", microservices + "services:\n  profile:\n    autoscaling:\n      enabled: true\n      minReplicas: 5\n      maxReplicas: 2\n", false, []string{"minReplicas=5", "maxReplicas=2"}},
		{"stream replicas with embedded NATS", inlineSecrets + "config:\n  natsReplicas: 3\n", false, []string{"config.natsReplicas=3", "embedded NATS"}},
		{"too many stream replicas", inlineSecrets + "nats:\n  url: nats://x:4222\nconfig:\n  natsReplicas: 7\n", false, []string{"natsReplicas"}},
		{"no database connections", inlineSecrets + "config:\n  databaseMaxConns: 0\n", false, []string{"databaseMaxConns"}},
		{"bad NATS URL", inlineSecrets + "nats:\n  url: http://nats:4222\n", false, []string{"url", "http://nats:4222"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := chartDir
			if tc.stub {
				dir = chartWithNATSStub(t)
			}
			_, err := render(t, dir, values(t, tc.values))
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w, fmt.Sprintf("values:\n%s", tc.values))
			}
		})
	}
}
