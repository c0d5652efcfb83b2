// The Gateway API release whose CRDs the cluster tests install (tests/cluster/gatewayapi.py
// reads config/crd/standard/ from the module cache; the YAML is never committed).
module mcpops.dev/hack/gatewayapi

go 1.26.0

require sigs.k8s.io/gateway-api v1.6.3
