package cluster

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Where the applied spec is stored in the cluster.
const (
	SpecNamespace = "kube-public"
	SpecConfigMap = "kindstack-spec"
)

// StoredSpec is the spec a cluster was created with and the kindstack version that created it.
type StoredSpec struct {
	Spec    Spec
	Version string
}

// ReadStoredSpec returns the stored spec, or nil when the ConfigMap does not exist.
func ReadStoredSpec(ctx context.Context, client kubernetes.Interface) (*StoredSpec, error) {
	cm, err := client.CoreV1().ConfigMaps(SpecNamespace).Get(ctx, SpecConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read stored spec %s/%s: %w", SpecNamespace, SpecConfigMap, err)
	}
	var spec Spec
	if err := json.Unmarshal([]byte(cm.Data["spec"]), &spec); err != nil {
		return nil, fmt.Errorf("stored spec %s/%s is not valid: %w", SpecNamespace, SpecConfigMap, err)
	}
	return &StoredSpec{Spec: spec, Version: cm.Data["kindstackVersion"]}, nil
}

// WriteStoredSpec creates or replaces the stored spec.
func WriteStoredSpec(ctx context.Context, client kubernetes.Interface, s StoredSpec) error {
	data, err := json.Marshal(s.Spec)
	if err != nil {
		return fmt.Errorf("encode spec: %w", err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: SpecNamespace, Name: SpecConfigMap,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "kindstack"}},
		Data: map[string]string{"spec": string(data), "kindstackVersion": s.Version},
	}
	cms := client.CoreV1().ConfigMaps(SpecNamespace)
	_, err = cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: "kindstack"})
	if apierrors.IsAlreadyExists(err) {
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: "kindstack"})
	}
	if err != nil {
		return fmt.Errorf("store spec in %s/%s: %w", SpecNamespace, SpecConfigMap, err)
	}
	return nil
}

// DiffSpec lists every setting that differs between the cluster's stored spec and the wanted one,
// e.g. `httpPort: cluster has 80, wanted 8080`.
func DiffSpec(have, want Spec) []string {
	var diff []string
	add := func(field string, h, w any) {
		if h != w {
			diff = append(diff, fmt.Sprintf("%s: cluster has %v, wanted %v", field, h, w))
		}
	}
	add("nodeImage", have.NodeImage, want.NodeImage)
	add("listenAddress", have.ListenAddress, want.ListenAddress)
	add("httpPort", have.HTTPPort, want.HTTPPort)
	add("httpsPort", have.HTTPSPort, want.HTTPSPort)
	add("workers", have.Workers, want.Workers)
	return diff
}
