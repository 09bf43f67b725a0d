//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// engine runs the test bed's container engine CLI (DOCKER_HOST comes from the environment).
func engine(t *testing.T, w *world, args ...string) string {
	t.Helper()
	out, err := exec.Command(w.runtime, args...).CombinedOutput()
	require.NoError(t, err, "%s %s: %s", w.runtime, strings.Join(args, " "), out)
	return string(out)
}

// runsImage starts a pod that may only run image as the node holds it (imagePullPolicy Never),
// and waits until it runs; it deletes the pod after.
func runsImage(t *testing.T, cs kubernetes.Interface, name, image string) {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: image, ImagePullPolicy: corev1.PullNever,
		}}},
	}
	_, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cs.CoreV1().Pods("default").Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
	})
	var last string
	require.Eventually(t, func() bool {
		p, err := cs.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false
		}
		for _, s := range p.Status.ContainerStatuses {
			if s.State.Waiting != nil {
				last = s.State.Waiting.Reason + ": " + s.State.Waiting.Message
			}
		}
		return p.Status.Phase == corev1.PodRunning
	}, 90*time.Second, time.Second, "pod %s with %s never ran: %s", name, image, func() string { return last }())
}

// testLoad: a developer's own image, built on this machine and in no registry, goes into the
// cluster by `kindstack load` and a pod that may not pull runs it; a second load finds it there;
// an image the engine lacks and a name that is no reference are one sentence and exit 1; a `docker
// save` archive loads the same way.
func testLoad(t *testing.T, w *world) {
	const mine, archived = "localhost/kse2e-app:dev", "kse2e-archived:v1"
	// A "locally built" image: the test bed's frontend stand-in under a name no registry has.
	engine(t, w, "tag", "kindstack.test/example-frontend:dev", mine)
	engine(t, w, "tag", "kindstack.test/example-frontend:dev", archived)

	r := w.run(t, 3*time.Minute, "", "load", mine)
	require.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stderr, "✓ Load into cluster "+w.name+" · 1 loaded into 1 node(s)")
	cs := w.clientset(t)
	runsImage(t, cs, "kse2e-load", mine)

	r = w.run(t, time.Minute, "", "load", mine, "-o", "json")
	require.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stderr, "1 already on every node", "the same content is not imported again")
	sum := decode[struct {
		Loaded, Present []string
		Nodes           int
	}](t, r)
	assert.Equal(t, []string{mine}, sum.Present)
	assert.Equal(t, 1, sum.Nodes)

	for _, bad := range []struct{ image, want string }{
		{"localhost/kse2e-never-built:dev", "has no image localhost/kse2e-never-built:dev: build or pull it first"},
		{"Not:A:Reference", `"Not:A:Reference" is not an image reference`},
	} {
		r = w.run(t, time.Minute, "", "load", bad.image)
		assert.Equal(t, 1, r.code, "%s", r)
		assert.Contains(t, r.stderr, bad.want)
		assert.NotContains(t, r.stderr, "✓ Load into", "nothing was loaded")
	}

	file := filepath.Join(t.TempDir(), "archived.tar")
	engine(t, w, "save", "-o", file, archived)
	r = w.run(t, 3*time.Minute, "", "load", "--archive", file)
	require.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stderr, "✓ Check images · "+archived)
	runsImage(t, cs, "kse2e-archived", "docker.io/library/"+archived)
	_ = os.Remove(file)
}
