package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTheBridgeGetsTheNodesLease(t *testing.T) {
	t.Parallel()
	env := filepath.Join(t.TempDir(), "subnet.env")
	if err := os.WriteFile(env, []byte("FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.2.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := readLease(env)
	if err != nil {
		t.Fatal(err)
	}
	c, err := loadConf([]byte(`{"cniVersion":"1.0.0","name":"cbr0","type":"kindstack-flannel"}`))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := delegateConf(c, l)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Type   string `json:"type"`
		IPMasq bool   `json:"ipMasq"`
		MTU    int    `json:"mtu"`
		IPAM   struct {
			Ranges [][]map[string]string `json:"ranges"`
			Routes []map[string]string   `json:"routes"`
		} `json:"ipam"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != "bridge" || got.MTU != 1450 || got.IPMasq {
		t.Errorf("bridge config %s: want type bridge, the lease's MTU 1450, no masquerade (flanneld does it)", raw)
	}
	if got.IPAM.Ranges[0][0]["subnet"] != "10.244.2.0/24" || got.IPAM.Routes[0]["dst"] != "10.244.0.0/16" {
		t.Errorf("bridge config %s: want addresses from the node's subnet and a route to the pod network", raw)
	}
}

func TestNoLeaseYetSaysSo(t *testing.T) {
	t.Parallel()
	_, err := readLease(filepath.Join(t.TempDir(), "subnet.env"))
	if err == nil || !strings.Contains(err.Error(), "flanneld has not leased this node a subnet yet") {
		t.Fatalf("got %v", err)
	}
}
