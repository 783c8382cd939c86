// Package chart tests the Helm chart in helm/ferry: it lints and renders the
// chart with the Helm library for several value sets, decodes every rendered
// object strictly against its Kubernetes API type, checks what the chart
// promises (one Deployment per service, restricted pods, gRPC probes, KEDA
// triggers on the right JetStream consumers, secrets only referenced) and
// that values.schema.json and the chart's own checks refuse bad values.
package chart
