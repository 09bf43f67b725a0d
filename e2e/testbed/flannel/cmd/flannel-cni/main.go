// Command flannel-cni is the test bed's CNI plugin for flannel (type "kindstack-flannel"), ours
// because flannel's own plugin (github.com/flannel-io/cni-plugin) is not served by the module
// proxy. It does what a flannel CNI plugin is for: on ADD it reads the subnet flanneld leased for
// this node (/run/flannel/subnet.env) and delegates to the bridge plugin with host-local addresses
// from that subnet and a route to the whole pod network; the delegate's config is kept per
// container so DEL and CHECK use the same one after flanneld has gone.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

const (
	defaultSubnetFile = "/run/flannel/subnet.env"
	defaultDataDir    = "/var/lib/cni/kindstack-flannel"
)

// netConf is the plugin's entry in the conflist.
type netConf struct {
	types.PluginConf
	SubnetFile string `json:"subnetFile,omitempty"`
	DataDir    string `json:"dataDir,omitempty"`
}

// lease is what flanneld wrote to subnet.env.
type lease struct {
	network string // FLANNEL_NETWORK: the whole pod network
	subnet  string // FLANNEL_SUBNET: this node's share, as a network
	mtu     int
	ipMasq  bool // flanneld masquerades itself; the bridge must not do it twice
}

func readLease(path string) (lease, error) {
	f, err := os.Open(path)
	if err != nil {
		return lease{}, fmt.Errorf("flanneld has not leased this node a subnet yet: %w", err)
	}
	defer f.Close()
	var l lease
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		switch k {
		case "FLANNEL_NETWORK":
			l.network = v
		case "FLANNEL_SUBNET":
			l.subnet = v
		case "FLANNEL_MTU":
			if l.mtu, err = strconv.Atoi(v); err != nil {
				return lease{}, fmt.Errorf("%s: FLANNEL_MTU %q: %w", path, v, err)
			}
		case "FLANNEL_IPMASQ":
			l.ipMasq = v == "true"
		}
	}
	if err := sc.Err(); err != nil {
		return lease{}, fmt.Errorf("read %s: %w", path, err)
	}
	if l.network == "" || l.subnet == "" {
		return lease{}, fmt.Errorf("%s names no FLANNEL_NETWORK or FLANNEL_SUBNET", path)
	}
	// flanneld writes the node's gateway address with the prefix (10.244.2.1/24); host-local wants
	// the network itself (10.244.2.0/24) and takes the first address as the gateway.
	_, sn, err := net.ParseCIDR(l.subnet)
	if err != nil {
		return lease{}, fmt.Errorf("%s: FLANNEL_SUBNET %q: %w", path, l.subnet, err)
	}
	l.subnet = sn.String()
	return l, nil
}

func loadConf(stdin []byte) (netConf, error) {
	var c netConf
	if err := json.Unmarshal(stdin, &c); err != nil {
		return c, fmt.Errorf("parse network config: %w", err)
	}
	if c.SubnetFile == "" {
		c.SubnetFile = defaultSubnetFile
	}
	if c.DataDir == "" {
		c.DataDir = defaultDataDir
	}
	return c, nil
}

// delegateConf is the bridge plugin's config for lease l.
func delegateConf(c netConf, l lease) ([]byte, error) {
	return json.Marshal(map[string]any{
		"cniVersion":       c.CNIVersion,
		"name":             c.Name,
		"type":             "bridge",
		"bridge":           "cni0",
		"isGateway":        true,
		"isDefaultGateway": true,
		"hairpinMode":      true,
		"ipMasq":           !l.ipMasq,
		"mtu":              l.mtu,
		"ipam": map[string]any{
			"type":   "host-local",
			"ranges": [][]map[string]string{{{"subnet": l.subnet}}},
			"routes": []map[string]string{{"dst": l.network}},
		},
	})
}

func cmdAdd(args *skel.CmdArgs) error {
	c, err := loadConf(args.StdinData)
	if err != nil {
		return err
	}
	l, err := readLease(c.SubnetFile)
	if err != nil {
		return err
	}
	conf, err := delegateConf(c, l)
	if err != nil {
		return fmt.Errorf("encode bridge config: %w", err)
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("keep bridge config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(c.DataDir, args.ContainerID), conf, 0o600); err != nil {
		return fmt.Errorf("keep bridge config: %w", err)
	}
	res, err := invoke.DelegateAdd(context.Background(), "bridge", conf, nil)
	if err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	return types.PrintResult(res, c.CNIVersion)
}

func cmdDel(args *skel.CmdArgs) error {
	c, err := loadConf(args.StdinData)
	if err != nil {
		return err
	}
	kept := filepath.Join(c.DataDir, args.ContainerID)
	conf, err := os.ReadFile(kept)
	if errors.Is(err, os.ErrNotExist) {
		return nil // never added, or already deleted: DEL must succeed
	}
	if err != nil {
		return fmt.Errorf("read kept bridge config: %w", err)
	}
	if err := invoke.DelegateDel(context.Background(), "bridge", conf, nil); err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	return os.Remove(kept)
}

func cmdCheck(args *skel.CmdArgs) error {
	c, err := loadConf(args.StdinData)
	if err != nil {
		return err
	}
	conf, err := os.ReadFile(filepath.Join(c.DataDir, args.ContainerID))
	if err != nil {
		return fmt.Errorf("read kept bridge config: %w", err)
	}
	return invoke.DelegateCheck(context.Background(), "bridge", conf, nil)
}

func main() {
	skel.PluginMainFuncs(skel.CNIFuncs{Add: cmdAdd, Del: cmdDel, Check: cmdCheck}, version.All,
		"kindstack test bed CNI plugin for flannel")
}
