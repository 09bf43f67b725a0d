// Command crictl is the test bed's small stand-in for cri-tools' crictl, which the air-gapped
// module proxy does not serve. It implements only what kind calls inside a node
// (`inspecti` for image loading, `images` for log export) plus `ps` and `pods` for debugging,
// talking CRI v1 to the node's containerd.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const defaultEndpoint = "unix:///run/containerd/containerd.sock"

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := run(ctx, os.Args[1:], os.Stdout)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "crictl:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, argv []string, out io.Writer) error {
	endpoint := defaultEndpoint
	var args []string
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		switch {
		case a == "-r" || a == "--runtime-endpoint" || a == "-i" || a == "--image-endpoint":
			if i+1 >= len(argv) {
				return fmt.Errorf("%s needs a value", a)
			}
			i++
			endpoint = argv[i]
		case strings.HasPrefix(a, "--runtime-endpoint="), strings.HasPrefix(a, "--image-endpoint="):
			endpoint = a[strings.Index(a, "=")+1:]
		default:
			args = append(args, a)
		}
	}
	if len(args) == 0 {
		return errors.New("usage: crictl [-r ENDPOINT] inspecti IMAGE | images | ps [-a] | pods")
	}
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("connect %s: %w", endpoint, err)
	}
	defer conn.Close()
	images := runtimeapi.NewImageServiceClient(conn)
	runtime := runtimeapi.NewRuntimeServiceClient(conn)

	switch args[0] {
	case "inspecti":
		if len(args) < 2 {
			return errors.New("inspecti needs an image")
		}
		return inspectImage(ctx, images, args[1], out)
	case "images", "img":
		return listImages(ctx, images, out)
	case "ps":
		all := len(args) > 1 && (args[1] == "-a" || args[1] == "--all")
		return listContainers(ctx, runtime, all, out)
	case "pods":
		return listPods(ctx, runtime, out)
	default:
		return fmt.Errorf("unsupported command %q (this is the test bed's crictl shim)", args[0])
	}
}

// inspectImage prints the JSON shape kind parses: {"status": {"id", "repoTags", ...}, "info": {...}}.
func inspectImage(ctx context.Context, c runtimeapi.ImageServiceClient, image string, out io.Writer) error {
	r, err := c.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: image}, Verbose: true})
	if err != nil {
		return fmt.Errorf("image status %s: %w", image, err)
	}
	if r.GetImage() == nil {
		return fmt.Errorf("no such image %q present", image)
	}
	info := map[string]any{}
	for k, v := range r.GetInfo() {
		var decoded any
		if json.Unmarshal([]byte(v), &decoded) == nil {
			info[k] = decoded
		} else {
			info[k] = v
		}
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"status": r.GetImage(), "info": info})
}

func listImages(ctx context.Context, c runtimeapi.ImageServiceClient, out io.Writer) error {
	r, err := c.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil {
		return fmt.Errorf("list images: %w", err)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "IMAGE\tTAG\tIMAGE ID\tSIZE")
	for _, img := range r.GetImages() {
		id := short(strings.TrimPrefix(img.GetId(), "sha256:"))
		if len(img.GetRepoTags()) == 0 {
			fmt.Fprintf(w, "<none>\t<none>\t%s\t%d\n", id, img.GetSize_())
		}
		for _, t := range img.GetRepoTags() {
			name, tag := t, "<none>"
			if i := strings.LastIndex(t, ":"); i > strings.LastIndex(t, "/") {
				name, tag = t[:i], t[i+1:]
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\n", name, tag, id, img.GetSize_())
		}
	}
	return w.Flush()
}

func listContainers(ctx context.Context, c runtimeapi.RuntimeServiceClient, all bool, out io.Writer) error {
	r, err := c.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CONTAINER\tIMAGE\tSTATE\tNAME\tATTEMPT\tPOD ID")
	for _, ctr := range r.GetContainers() {
		if !all && ctr.GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING {
			continue
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", short(ctr.GetId()), ctr.GetImage().GetImage(), ctr.GetState(),
			ctr.GetMetadata().GetName(), ctr.GetMetadata().GetAttempt(), short(ctr.GetPodSandboxId()))
	}
	return w.Flush()
}

func listPods(ctx context.Context, c runtimeapi.RuntimeServiceClient, out io.Writer) error {
	r, err := c.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "POD ID\tSTATE\tNAME\tNAMESPACE")
	for _, p := range r.GetItems() {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", short(p.GetId()), p.GetState(), p.GetMetadata().GetName(), p.GetMetadata().GetNamespace())
	}
	return w.Flush()
}

func short(id string) string {
	if len(id) > 13 {
		return id[:13]
	}
	return id
}
