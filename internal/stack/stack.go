// Package stack composes what `up` installs once the cluster exists (images, ingress-nginx,
// metrics-server, the example app, the smoke test) into named steps, and reports the same
// components for `status`. The CLI owns the cluster steps; this package owns everything on top.
package stack

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/kindstack/kindstack/addons"
	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/cli"
	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/steps"
	"github.com/kindstack/kindstack/internal/transform"
	"github.com/kindstack/kindstack/workloads"
)

// Sets returns what `up` installs for the given settings, in install order.
func Sets(s config.Settings) ([]kube.Set, error) {
	images := transform.ImageMap(s.Images)
	builders := []func() (kube.Set, error){
		func() (kube.Set, error) { return addons.IngressNginx(addons.Options{Images: images}) },
		func() (kube.Set, error) { return addons.MetricsServer(addons.Options{Images: images}) },
	}
	if s.Example {
		builders = append(builders, func() (kube.Set, error) { return workloads.Example(workloads.Options{Images: images}) })
	}
	var sets []kube.Set
	for _, build := range builders {
		set, err := build()
		if err != nil {
			return nil, err
		}
		sets = append(sets, set)
	}
	return sets, nil
}

// Validate checks the settings this package reads, before anything changes: a key of the images
// map that matches no image kindstack runs is almost always a typo, and would silently pull the
// upstream image instead of the mirror.
func Validate(s config.Settings) error {
	images := transform.ImageMap(s.Images)
	if err := images.Validate(); err != nil {
		return fmt.Errorf("images: %w", err)
	}
	upstream, err := upstreamImages()
	if err != nil {
		return err
	}
	if unused := images.Unused(upstream); len(unused) > 0 {
		return fmt.Errorf("images: %s matches no image kindstack installs (known: %s)",
			strings.Join(unused, ", "), strings.Join(upstream, ", "))
	}
	return nil
}

// upstreamImages lists every image kindstack installs before any override, example included.
func upstreamImages() ([]string, error) {
	a, err := addons.Images(addons.Options{})
	if err != nil {
		return nil, err
	}
	w, err := workloads.Images(workloads.Options{})
	if err != nil {
		return nil, err
	}
	all := append(a, w...)
	sort.Strings(all)
	return all, nil
}

// Steps returns the `up` steps that follow the cluster step. They read env when they run.
//
// Every set installs at once, each first loading its own images into the node: the example's
// Ingress apply retries until ingress-nginx's admission webhook serves and its autoscalers wait
// for metrics-server, so the add-ons start while the example's (larger) images are still loading,
// and the app's pods start while the add-ons come up.
func Steps(env *cli.UpEnv) []steps.Step {
	var client *kube.Client
	var sets []kube.Set
	names := []string{"ingress-nginx", "metrics-server"}
	if env.Settings.Example {
		names = append(names, "example")
	}
	var children []steps.Step
	for i, name := range names {
		children = append(children, steps.Step{
			Name: "Install " + name,
			Run: func(ctx context.Context, st *steps.Status) error {
				set := sets[i]
				images, err := transform.ContainerImages(set.Objects)
				if err != nil {
					return err
				}
				loaded, err := Preload(ctx, PreloadOptions{
					Cluster: env.Settings.Name, Runtime: env.Runtime, Images: images, Logf: st.Infof,
				})
				if err != nil {
					return err
				}
				opts := kube.ApplyOptions{RetryWebhookErrors: set.Name == "example"}
				changes, err := client.Install(ctx, set, opts)
				if err != nil {
					return err // the runner names the step: "install example: …"
				}
				st.Result(loaded.String() + " · " + changes.String() + ", ready")
				return nil
			},
		})
	}
	install := steps.Parallel("Install add-ons and example", children...)
	list := []steps.Step{{
		Name: install.Name,
		Run: func(ctx context.Context, st *steps.Status) error {
			var err error
			if client, err = kube.NewClient(env.Cluster.Kubeconfig); err != nil {
				return err
			}
			if sets, err = Sets(env.Settings); err != nil {
				return err
			}
			return install.Run(ctx, st)
		},
	}}

	base := BaseURL(env.Settings.ListenAddress, env.Settings.HTTPPort)
	if env.Settings.Example {
		list = append(list, steps.Step{
			Name: "Smoke test through the ingress",
			Run: func(ctx context.Context, st *steps.Status) error {
				if err := workloads.Smoke(ctx, workloads.SmokeOptions{BaseURL: base, Infof: st.Infof}); err != nil {
					return err
				}
				env.URLs = append(env.URLs, base+"/", base+"/api/healthy")
				st.Result(base + " answers")
				return nil
			},
		})
	}
	return list
}

// BaseURL is where a browser on this machine reaches the ingress.
func BaseURL(listenAddress string, port int) string {
	host := "localhost"
	switch ip := net.ParseIP(listenAddress); {
	case listenAddress == "" || ip == nil || ip.IsUnspecified() || ip.IsLoopback():
	default:
		host = listenAddress
		if ip.To4() == nil {
			host = "[" + listenAddress + "]"
		}
	}
	if port == 80 {
		return "http://" + host
	}
	return "http://" + host + ":" + strconv.Itoa(port)
}

// Components reports each add-on and the example for `status`, without waiting.
func Components(ctx context.Context, st cluster.Status, s config.Settings) []cli.ComponentStatus {
	client, err := kube.NewClient(st.Kubeconfig)
	if err != nil {
		return []cli.ComponentStatus{{Name: "api", Reason: err.Error()}}
	}
	sets, err := Sets(s)
	if err != nil {
		return []cli.ComponentStatus{{Name: "manifests", Reason: err.Error()}}
	}
	var out []cli.ComponentStatus
	for _, set := range sets {
		comp := cli.ComponentStatus{Name: set.Name, Ready: true}
		var reasons []string
		for _, obj := range client.Status(ctx, set) {
			if !obj.Ready {
				comp.Ready = false
				reasons = append(reasons, obj.Name+": "+obj.Reason)
			}
		}
		comp.Reason = strings.Join(reasons, "; ")
		out = append(out, comp)
	}
	return out
}
