package pipeline

import (
	"context"
	"fmt"
	"sort"

	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/imageref"
	"github.com/kindstack/kindstack/internal/transform"
)

// DoctorReport is `kindstack doctor -o json`.
type DoctorReport struct {
	OK     bool            `json:"ok"` // no check failed (warnings allowed)
	Checks []cluster.Check `json:"checks"`
}

// Doctor is `kindstack doctor`: one report of what will make `up` fail or crawl here, each check
// with a fix. It changes nothing; the error says how many checks failed.
func (p *Pipeline) Doctor(parent context.Context, s config.Settings) (DoctorReport, error) {
	ctx, cancel := context.WithTimeout(parent, s.StatusTimeout)
	defer cancel()
	var registries []string
	mirrorsOf := map[string][]string{}
	var settingsErr error
	if sets, err := p.Sets(ctx, s); err != nil {
		settingsErr = err
	} else {
		seen := map[string]bool{}
		for _, set := range sets {
			images, _ := transform.ContainerImages(set.Objects)
			for _, img := range append(images, s.NodeImage) {
				ref, err := imageref.Parse(img)
				if err != nil {
					continue // not pullable from anywhere; render says what is wrong with it
				}
				// The registry's API host, as containerd resolves it: registry-1.docker.io for Docker Hub.
				if host := ref.APIHost(); !seen[host] {
					seen[host] = true
					registries = append(registries, host)
					if list := s.Registries.MirrorsOf(ref.Registry); len(list) > 0 {
						mirrorsOf[host] = list
					}
				}
			}
		}
		sort.Strings(registries)
	}
	checks := p.Cluster.Doctor(ctx, cluster.DoctorOptions{
		Spec:       p.specOf(s),
		Kubeconfig: cluster.KubeconfigMergePath(s.Kubeconfig, p.Cluster.Getenv),
		Registries: registries,
		Containers: p.besideOf(s),
		Mirrors:    mirrorsOf,
		Bundle:     s.Bundle != "",
	})
	if settingsErr != nil {
		checks = append([]cluster.Check{{Name: "settings", Verdict: cluster.Fail, Detail: settingsErr.Error(), Fix: "fix the config file or the flags"}}, checks...)
	}
	rep := DoctorReport{OK: true, Checks: checks}
	failed := 0
	for _, c := range checks {
		if c.Verdict == cluster.Fail {
			failed++
		}
	}
	if failed > 0 {
		rep.OK = false
		return rep, fmt.Errorf("doctor: %d of %d checks failed", failed, len(checks))
	}
	return rep, nil
}
