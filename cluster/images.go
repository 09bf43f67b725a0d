package cluster

// CgroupV1NodeImage is the newest prebuilt node image whose kubelet still runs on a cgroup v1 host.
const CgroupV1NodeImage = "kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d"

// IngressNodeSelector selects the node whose ports 80 and 443 are mapped to the host: the ingress
// controller must run there, serving those ports as hostPorts.
func IngressNodeSelector() map[string]string { return map[string]string{IngressReadyLabel: "true"} }
