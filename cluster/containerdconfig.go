package cluster

import (
	"fmt"

	"github.com/BurntSushi/toml"
)

// containerdConfig is the part of `containerd config dump` kindstack reads. Config version 2
// keeps the CRI settings under one plugin; version 3 splits them, images (snapshotter, registry)
// under their own.
type containerdConfig struct {
	Version int                       `toml:"version"`
	Plugins map[string]map[string]any `toml:"plugins"`
}

func parseContainerdConfig(dump []byte) (containerdConfig, error) {
	var cfg containerdConfig
	if _, err := toml.Decode(string(dump), &cfg); err != nil {
		return cfg, fmt.Errorf("read containerd's config: %w", err)
	}
	return cfg, nil
}

// criImages is the table holding the CRI plugin's image settings for the config's version.
func (c containerdConfig) criImages() map[string]any {
	if c.Version < 3 {
		return c.Plugins["io.containerd.grpc.v1.cri"]
	}
	return c.Plugins["io.containerd.cri.v1.images"]
}

// snapshotterOf reads the CRI plugin's snapshotter from `containerd config dump`.
func snapshotterOf(dump []byte) (string, error) {
	cfg, err := parseContainerdConfig(dump)
	if err != nil {
		return "", err
	}
	var s any
	if cfg.Version < 3 {
		if c, ok := cfg.criImages()["containerd"].(map[string]any); ok {
			s = c["snapshotter"]
		}
	} else {
		s = cfg.criImages()["snapshotter"]
	}
	name, ok := s.(string)
	if !ok || name == "" {
		return "", fmt.Errorf("containerd's config (version %d) names no CRI snapshotter", cfg.Version)
	}
	return name, nil
}

// registryConfigPathOf reads where the CRI plugin looks for hosts.toml files ("" for nowhere)
// from `containerd config dump`. containerd 2 dumps a version 2 file (kind's) migrated to
// version 3, the registry moved to the images plugin; both places are read.
func registryConfigPathOf(dump []byte) (string, error) {
	cfg, err := parseContainerdConfig(dump)
	if err != nil {
		return "", err
	}
	for _, plugin := range []string{"io.containerd.cri.v1.images", "io.containerd.grpc.v1.cri"} {
		registry, _ := cfg.Plugins[plugin]["registry"].(map[string]any)
		if path, _ := registry["config_path"].(string); path != "" {
			return path, nil
		}
	}
	return "", nil
}
