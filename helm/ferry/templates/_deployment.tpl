{{/*
The Deployment of one component: "all" (allInOne) or one of the five
services. Call with (list $ "transform").
*/}}
{{- define "ferry.deployment" -}}
{{- $root := index . 0 }}{{ $c := index . 1 }}
{{- $v := $root.Values }}
{{- $spec := ternary $v.allInOne (index $v.services (ternary "profile" $c (eq $c "all"))) (eq $c "all") }}
{{- $embedded := and (eq $c "all") (include "ferry.embeddedNats" $root) }}
{{- $name := include "ferry.componentName" (list $root $c) }}
{{- $dbKey := include "ferry.databaseUrlKey" $root }}
{{- $secretKeyKey := include "ferry.secretKeyKey" $root }}
{{- $natsUrlKey := include "ferry.natsUrlKey" $root }}
{{- $bootstrapKeyKey := include "ferry.bootstrapKeyKey" $root }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "ferry.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ if eq $c "all" }}all-in-one{{ else }}{{ $c }}{{ end }}
spec:
  {{- if not $spec.autoscaling.enabled }}
  replicas: {{ $spec.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "ferry.componentSelector" (list $root $c) | nindent 6 }}
  {{- if $embedded }}
  # One process owns the embedded NATS server's files: stop it before the next starts.
  strategy:
    type: Recreate
  {{- else }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  {{- end }}
  template:
    metadata:
      labels:
        {{- include "ferry.labels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ if eq $c "all" }}all-in-one{{ else }}{{ $c }}{{ end }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        {{- if include "ferry.rendersSecret" $root }}
        checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
        {{- end }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "ferry.serviceAccountName" $root }}
      # Ferry does not call the Kubernetes API.
      automountServiceAccountToken: false
      {{- with $v.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      # Draining finishes the chunks in hand (tens of seconds at most) and the in-flight calls.
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      securityContext:
        runAsNonRoot: true
        runAsUser: {{ $v.securityContext.runAsUser }}
        runAsGroup: {{ $v.securityContext.runAsGroup }}
        fsGroup: {{ $v.securityContext.fsGroup }}
        seccompProfile:
          type: RuntimeDefault
      {{- if $v.topologySpread.enabled }}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: topology.kubernetes.io/zone
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "ferry.componentSelector" (list $root $c) | nindent 14 }}
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "ferry.componentSelector" (list $root $c) | nindent 14 }}
      {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: ferry
          image: {{ include "ferry.image" $root }}
          imagePullPolicy: {{ $v.image.pullPolicy }}
          args:
            - server
            - --services={{ $c }}
          ports:
            - name: grpc
              containerPort: 9090
              protocol: TCP
            - name: http
              containerPort: 8080
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ include "ferry.fullname" $root }}
          env:
            {{- if and (include "ferry.needsDatabase" $c) $v.postgresql.cnpg.enabled }}
            - name: DATABASE_URL
              valueFrom:
                secretKeyRef:
                  name: {{ include "ferry.cnpgName" $root }}-app
                  key: uri
            {{- else if and (include "ferry.needsDatabase" $c) $dbKey }}
            - name: DATABASE_URL
              valueFrom:
                secretKeyRef:
                  name: {{ include "ferry.secretName" $root }}
                  key: {{ $dbKey }}
            {{- end }}
            {{- if $natsUrlKey }}
            - name: FERRY_NATS_URL
              valueFrom:
                secretKeyRef:
                  name: {{ include "ferry.secretName" $root }}
                  key: {{ $natsUrlKey }}
            {{- end }}
            {{- if and $bootstrapKeyKey (has $c (list "all" "profile")) }}
            - name: FERRY_BOOTSTRAP_KEY
              valueFrom:
                secretKeyRef:
                  name: {{ include "ferry.secretName" $root }}
                  key: {{ $bootstrapKeyKey }}
            {{- end }}
            {{- if and $secretKeyKey (include "ferry.needsSecretKey" $c) }}
            - name: FERRY_SECRET_KEY_FILE
              value: /etc/ferry/secret/secret.key
            {{- end }}
            {{- if $embedded }}
            - name: FERRY_DATA_DIR
              value: /data
            {{- end }}
            {{- if and $spec.resources $spec.resources.limits $spec.resources.limits.memory }}
            # The Go runtime collects harder as the heap nears the memory
            # limit instead of letting it grow to twice the live heap.
            - name: GOMEMLIMIT
              valueFrom:
                resourceFieldRef:
                  resource: limits.memory
            {{- end }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          startupProbe:
            grpc:
              port: 9090
            periodSeconds: {{ $v.probes.startup.periodSeconds }}
            failureThreshold: {{ $v.probes.startup.failureThreshold }}
          livenessProbe:
            grpc:
              port: 9090
            periodSeconds: {{ $v.probes.liveness.periodSeconds }}
            failureThreshold: {{ $v.probes.liveness.failureThreshold }}
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            periodSeconds: {{ $v.probes.readiness.periodSeconds }}
            failureThreshold: {{ $v.probes.readiness.failureThreshold }}
          {{- with $spec.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          securityContext:
            runAsNonRoot: true
            runAsUser: {{ $v.securityContext.runAsUser }}
            runAsGroup: {{ $v.securityContext.runAsGroup }}
            allowPrivilegeEscalation: false
            privileged: false
            readOnlyRootFilesystem: true
            capabilities:
              drop:
                - ALL
            seccompProfile:
              type: RuntimeDefault
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if and $secretKeyKey (include "ferry.needsSecretKey" $c) }}
            - name: secret-key
              mountPath: /etc/ferry/secret
              readOnly: true
            {{- end }}
            {{- if $embedded }}
            - name: data
              mountPath: /data
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            {{- if $v.tmpDir.medium }}
            medium: {{ $v.tmpDir.medium }}
            {{- end }}
            sizeLimit: {{ $v.tmpDir.sizeLimit }}
        {{- if and $secretKeyKey (include "ferry.needsSecretKey" $c) }}
        - name: secret-key
          secret:
            secretName: {{ include "ferry.secretName" $root }}
            defaultMode: 0440
            items:
              - key: {{ $secretKeyKey }}
                path: secret.key
        {{- end }}
        {{- if $embedded }}
        - name: data
          {{- if $v.allInOne.persistence.enabled }}
          persistentVolumeClaim:
            claimName: {{ $name }}-data
          {{- else }}
          emptyDir: {}
          {{- end }}
        {{- end }}
{{- end }}
