package cluster

// DefaultNodeImage is kind v0.33.0's prebuilt Kubernetes 1.35 node image, pinned by digest:
// ingress-nginx's last release is tested up to 1.35 and metrics-server 0.9 needs 1.34 or newer.
const DefaultNodeImage = "kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0"

// CgroupV1NodeImage is the newest prebuilt node image whose kubelet still runs on a cgroup v1 host.
const CgroupV1NodeImage = "kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d"

// IngressNodeSelector selects the node whose ports 80 and 443 are mapped to the host: the ingress
// controller must run there, serving those ports as hostPorts.
func IngressNodeSelector() map[string]string { return map[string]string{IngressReadyLabel: "true"} }
