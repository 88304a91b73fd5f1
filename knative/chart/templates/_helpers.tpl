{{- define "langopen.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "langopen.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of one component's objects: <fullname>-<component>. Call with (list $ "router"). */}}
{{- define "langopen.component" -}}
{{- $root := index . 0 -}}
{{- printf "%s-%s" (include "langopen.fullname" $root) (index . 1) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "langopen.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "langopen.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "langopen.labels" -}}
{{- $root := index . 0 -}}
{{ include "langopen.selectorLabels" . }}
app.kubernetes.io/part-of: langopen
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" }}
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* repository@digest when a digest is pinned, else repository:tag. Call with (list $ .Values.router.image). */}}
{{- define "langopen.image" -}}
{{- $image := mergeOverwrite (deepCopy (index . 0).Values.image) (index . 1) -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository $image.tag -}}
{{- end -}}
{{- end -}}

{{- define "langopen.pullPolicy" -}}
{{- (mergeOverwrite (deepCopy (index . 0).Values.image) (index . 1)).pullPolicy -}}
{{- end -}}

{{/* The newest API version this cluster serves for a kind; `helm template --kube-version` picks too. */}}
{{- define "langopen.pdbApiVersion" -}}
{{- if and (.Capabilities.APIVersions.Has "policy/v1") (semverCompare ">=1.21-0" .Capabilities.KubeVersion.Version) -}}
policy/v1
{{- else -}}
policy/v1beta1
{{- end -}}
{{- end -}}

{{- define "langopen.hpaApiVersion" -}}
{{- if and (.Capabilities.APIVersions.Has "autoscaling/v2") (semverCompare ">=1.23-0" .Capabilities.KubeVersion.Version) -}}
autoscaling/v2
{{- else -}}
autoscaling/v2beta2
{{- end -}}
{{- end -}}

{{- define "langopen.runtimeClassApiVersion" -}}
{{- if and (.Capabilities.APIVersions.Has "node.k8s.io/v1") (semverCompare ">=1.20-0" .Capabilities.KubeVersion.Version) -}}
node.k8s.io/v1
{{- else -}}
node.k8s.io/v1beta1
{{- end -}}
{{- end -}}

{{/* DATABASE_URL and REDIS_URL from the existing Secrets named in values. */}}
{{- define "langopen.storeEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "postgres.existingSecret is required" .Values.postgres.existingSecret }}
      key: {{ .Values.postgres.key }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "redis.existingSecret is required" .Values.redis.existingSecret }}
      key: {{ .Values.redis.key }}
{{- end -}}

{{- define "langopen.dnsEgress" -}}
- to:
    - namespaceSelector: {}
      podSelector:
        matchLabels:
          k8s-app: kube-dns
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end -}}

{{/* Non-empty when the router's function target reads the cluster (knative, sandbox): then its pods get
a token and a Role in the agent namespace; with `url` neither. */}}
{{- define "langopen.routerUsesCluster" -}}
{{- if has .Values.router.functionTarget (list "knative" "sandbox") -}}true{{- end -}}
{{- end -}}

{{/* Namespace of the AgentDeployment the router serves: router.agentNamespace, else the release's. */}}
{{- define "langopen.agentNamespace" -}}
{{- default .Release.Namespace .Values.router.agentNamespace -}}
{{- end -}}
