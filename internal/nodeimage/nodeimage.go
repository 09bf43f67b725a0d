// Package nodeimage names the kind node image kindstack creates clusters from. It stands alone,
// below config and cluster, so that both read the same pin without importing each other.
package nodeimage

// Default is kind v0.33.0's prebuilt Kubernetes 1.35 node image, pinned by digest:
// ingress-nginx's last release is tested up to 1.35 and metrics-server 0.9 needs 1.34 or newer.
const Default = "kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0"
