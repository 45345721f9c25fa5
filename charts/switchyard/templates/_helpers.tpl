{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "switchyard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: "<release>-switchyard", or the release name alone when it already contains
the chart name. Truncated to 63 characters (some names get a suffix of up to 8).
*/}}
{{- define "switchyard.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 55 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "switchyard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "switchyard.labels" -}}
helm.sh/chart: {{ include "switchyard.chart" . }}
{{ include "switchyard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: switchyard
{{- end }}

{{/* Labels that select the pods (immutable once installed). */}}
{{- define "switchyard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchyard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "switchyard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "switchyard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "switchyard.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The Secret holding the gateway's admin-JWT secret, and the key in it. */}}
{{- define "switchyard.jwtSecretName" -}}
{{- .Values.jwt.existingSecret | default (printf "%s-jwt" (include "switchyard.fullname" .)) }}
{{- end }}

{{/* Where the JWT secret is mounted in both containers. */}}
{{- define "switchyard.jwtSecretPath" -}}
/etc/switchyard/jwt/secret
{{- end }}

{{/* The container securityContext shared by both containers. */}}
{{- define "switchyard.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* policy/v1 from Kubernetes 1.21 on, policy/v1beta1 before. */}}
{{- define "switchyard.pdbApiVersion" -}}
{{- if semverCompare ">=1.21-0" .Capabilities.KubeVersion.Version -}}
policy/v1
{{- else -}}
policy/v1beta1
{{- end -}}
{{- end }}

{{/* The leader Lease: one per release, so two releases never share it. */}}
{{- define "switchyard.leaseName" -}}
{{- include "switchyard.fullname" . }}
{{- end }}

{{/*
The chart-managed JWT secret's value, base64: the live Secret's value when there is one
(so upgrades keep it), else 48 random characters. `lookup` sees the cluster only during
`helm install/upgrade`; `helm template` and tools built on it (Argo CD, for one) get a new
value on every render, so set jwt.existingSecret there.
*/}}
{{- define "switchyard.jwtValue" -}}
{{- /* Computed once per render (memoised in a private values key), so the Secret and
       the pod template's checksum see the same value. */ -}}
{{- if not (hasKey .Values "__switchyardJwtValue") }}
{{- $live := lookup "v1" "Secret" .Release.Namespace (include "switchyard.jwtSecretName" .) }}
{{- $value := "" }}
{{- if and $live $live.data (hasKey $live.data .Values.jwt.key) }}
{{- $value = index $live.data .Values.jwt.key }}
{{- else }}
{{- $value = randAlphaNum 48 | b64enc }}
{{- end }}
{{- $_ := set .Values "__switchyardJwtValue" $value }}
{{- end }}
{{- index .Values "__switchyardJwtValue" }}
{{- end }}
