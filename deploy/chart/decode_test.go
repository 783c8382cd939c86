package chart

import (
	"bytes"
	"encoding/json"
	"fmt"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// scheme knows the core Kubernetes kinds and prometheus-operator's.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := monitoringv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

// strict decodes YAML into the scheme's typed objects; an unknown or
// duplicate field is an error.
var strict = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
	kjson.SerializerOptions{Yaml: true, Strict: true})

// ScaledObject is the part of KEDA's keda.sh/v1alpha1 ScaledObject the chart
// renders. KEDA's own API module pulls in controller-runtime at versions
// that do not resolve beside Helm's Kubernetes libraries, so the fields are
// written out here from KEDA's API; decoding rejects any other field.
type ScaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ScaledObjectSpec `json:"spec"`
}

// ScaledObjectSpec is KEDA's ScaledObjectSpec.
type ScaledObjectSpec struct {
	ScaleTargetRef   ScaleTarget    `json:"scaleTargetRef"`
	PollingInterval  *int32         `json:"pollingInterval,omitempty"`
	CooldownPeriod   *int32         `json:"cooldownPeriod,omitempty"`
	IdleReplicaCount *int32         `json:"idleReplicaCount,omitempty"`
	MinReplicaCount  *int32         `json:"minReplicaCount,omitempty"`
	MaxReplicaCount  *int32         `json:"maxReplicaCount,omitempty"`
	Triggers         []ScaleTrigger `json:"triggers"`
}

// ScaleTarget is KEDA's ScaleTarget.
type ScaleTarget struct {
	Name       string `json:"name"`
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
}

// ScaleTrigger is KEDA's ScaleTriggers; metadata values are strings.
type ScaleTrigger struct {
	Type       string            `json:"type"`
	Name       string            `json:"name,omitempty"`
	MetricType string            `json:"metricType,omitempty"`
	Metadata   map[string]string `json:"metadata"`
}

// Cluster is the part of CloudNativePG's postgresql.cnpg.io/v1 Cluster the
// chart renders. The cloudnative-pg module is not on the module proxy, so
// the fields are written out here from CloudNativePG's API; decoding
// rejects any other field.
type Cluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ClusterSpec `json:"spec"`
}

// ClusterSpec is CloudNativePG's ClusterSpec.
type ClusterSpec struct {
	Instances  int                         `json:"instances"`
	ImageName  string                      `json:"imageName,omitempty"`
	Bootstrap  *ClusterBootstrap           `json:"bootstrap,omitempty"`
	PostgreSQL *ClusterPostgreSQL          `json:"postgresql,omitempty"`
	Storage    ClusterStorage              `json:"storage"`
	Resources  corev1.ResourceRequirements `json:"resources,omitempty"`
}

// ClusterBootstrap is CloudNativePG's BootstrapConfiguration (initdb only).
type ClusterBootstrap struct {
	InitDB *struct {
		Database string `json:"database,omitempty"`
		Owner    string `json:"owner,omitempty"`
	} `json:"initdb,omitempty"`
}

// ClusterPostgreSQL is CloudNativePG's PostgresConfiguration (parameters only).
type ClusterPostgreSQL struct {
	Parameters map[string]string `json:"parameters,omitempty"`
}

// ClusterStorage is CloudNativePG's StorageConfiguration.
type ClusterStorage struct {
	Size         string  `json:"size,omitempty"`
	StorageClass *string `json:"storageClass,omitempty"`
}

// objects are the decoded objects of one render, by kind.
type objects struct {
	all             []runtime.Object
	deployments     []*appsv1.Deployment
	services        []*corev1.Service
	configMaps      []*corev1.ConfigMap
	secrets         []*corev1.Secret
	pdbs            []*policyv1.PodDisruptionBudget
	hpas            []*autoscalingv2.HorizontalPodAutoscaler
	pvcs            []*corev1.PersistentVolumeClaim
	networkPolicies []*networkingv1.NetworkPolicy
	serviceMonitors []*monitoringv1.ServiceMonitor
	scaledObjects   []*ScaledObject
	clusters        []*Cluster
	serviceAccounts []*corev1.ServiceAccount
}

var (
	scaledObjectGVK = schema.GroupVersionKind{Group: "keda.sh", Version: "v1alpha1", Kind: "ScaledObject"}
	clusterGVK      = schema.GroupVersionKind{Group: "postgresql.cnpg.io", Version: "v1", Kind: "Cluster"}
)

// add decodes one YAML document strictly: core and prometheus-operator kinds
// with the Kubernetes serializer, KEDA and CloudNativePG kinds into the
// structs above. Any other kind is an error.
func (o *objects) add(doc string) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
		return fmt.Errorf("read kind: %w", err)
	}
	gvk := schema.FromAPIVersionAndKind(tm.APIVersion, tm.Kind)
	var obj runtime.Object
	switch gvk {
	case scaledObjectGVK:
		so := &ScaledObject{}
		if err := decodeStrictJSON(doc, gvk, so); err != nil {
			return err
		}
		o.scaledObjects = append(o.scaledObjects, so)
		obj = so
	case clusterGVK:
		c := &Cluster{}
		if err := decodeStrictJSON(doc, gvk, c); err != nil {
			return err
		}
		o.clusters = append(o.clusters, c)
		obj = c
	default:
		if !scheme.Recognizes(gvk) {
			return fmt.Errorf("unknown kind %s", gvk)
		}
		decoded, _, err := strict.Decode([]byte(doc), nil, nil)
		if err != nil {
			return fmt.Errorf("decode %s: %w", gvk, err)
		}
		obj = decoded
		switch v := decoded.(type) {
		case *appsv1.Deployment:
			o.deployments = append(o.deployments, v)
		case *corev1.Service:
			o.services = append(o.services, v)
		case *corev1.ConfigMap:
			o.configMaps = append(o.configMaps, v)
		case *corev1.Secret:
			o.secrets = append(o.secrets, v)
		case *policyv1.PodDisruptionBudget:
			o.pdbs = append(o.pdbs, v)
		case *autoscalingv2.HorizontalPodAutoscaler:
			o.hpas = append(o.hpas, v)
		case *corev1.PersistentVolumeClaim:
			o.pvcs = append(o.pvcs, v)
		case *networkingv1.NetworkPolicy:
			o.networkPolicies = append(o.networkPolicies, v)
		case *monitoringv1.ServiceMonitor:
			o.serviceMonitors = append(o.serviceMonitors, v)
		case *corev1.ServiceAccount:
			o.serviceAccounts = append(o.serviceAccounts, v)
		default:
			return fmt.Errorf("kind %s is not one the chart renders", gvk)
		}
	}
	o.all = append(o.all, obj)
	return nil
}

// decodeStrictJSON decodes YAML into v, refusing duplicate and unknown fields.
func decodeStrictJSON(doc string, gvk schema.GroupVersionKind, v any) error {
	j, err := yaml.YAMLToJSONStrict([]byte(doc))
	if err != nil {
		return fmt.Errorf("decode %s: %w", gvk, err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode %s: %w", gvk, err)
	}
	return nil
}

// DeepCopyObject makes ScaledObject a runtime.Object (a shallow copy: the
// tests only read it).
func (s *ScaledObject) DeepCopyObject() runtime.Object { c := *s; return &c }

// DeepCopyObject makes Cluster a runtime.Object (a shallow copy: the tests
// only read it).
func (c *Cluster) DeepCopyObject() runtime.Object { d := *c; return &d }

// deployment returns the Deployment of that name, or nil.
func (o *objects) deployment(name string) *appsv1.Deployment {
	for _, d := range o.deployments {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// configMap returns the ConfigMap of that name, or nil.
func (o *objects) configMap(name string) *corev1.ConfigMap {
	for _, c := range o.configMaps {
		if c.Name == name {
			return c
		}
	}
	return nil
}
