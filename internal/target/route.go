package target

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/kube"
)

// Route is how this machine reaches the ingress of a cluster without host ports.
type Route struct {
	// BaseURL is where the ingress answers, e.g. "http://172.18.0.2:31380".
	BaseURL string
	// How says which way, for the user: "load balancer 203.0.113.7", "NodePort 31380 on node
	// kind-control-plane (172.18.0.2)", "port-forward to pod ingress-nginx/…".
	How string
	// Lasting: BaseURL works after kindstack returns (false for a port-forward).
	Lasting bool
	// Again is the command that opens the route again, for a port-forward.
	Again string
	// Close ends the route (stops a port-forward and waits for it); never nil.
	Close func()
}

// ExposeManager is the field manager of the ingress Service's type: kindstack's apply leaves the
// type out (transform.NoServiceType), so the choice made here once stays made.
const ExposeManager = kube.FieldManager + "-expose"

// reachWithin bounds one TCP connection attempt to an address the cluster offers;
// nodeAddressesTried bounds how many node addresses are tried before a port-forward.
const (
	reachWithin        = 3 * time.Second
	nodeAddressesTried = 3
)

// Probe says whether the ingress really answers at a base URL (the components' smoke requests):
// a TCP connection alone proves nothing where a transparent proxy accepts every connection.
type Probe func(ctx context.Context, baseURL string) error

// Route finds where this machine reaches the ingress through svc: a load balancer address when
// the cluster gives the Service one within LoadBalancerWithin, else its node port on a node
// address, each only when probe passes there, else a port-forward to one of its ready pods (which
// lasts until Close). The Service's type is set once, under ExposeManager: LoadBalancer first, NodePort
// when no address came; a later up keeps what was chosen and does not wait again.
func (c *Context) Route(ctx context.Context, svc component.Service, probe Probe, logf func(format string, args ...any)) (Route, error) {
	answers := func(host string, port int) bool {
		if !reachable(ctx, host, port) {
			return false
		}
		if err := probe(ctx, baseURL(host, port)); err != nil {
			logf("%s does not serve the ingress: %v", baseURL(host, port), err)
			return false
		}
		return true
	}
	kc, restCfg, err := c.routeClient(ctx)
	if err != nil {
		return Route{}, err
	}
	services := kc.CoreV1().Services(svc.Namespace)
	live, err := services.Get(ctx, svc.Name, metav1.GetOptions{})
	if err != nil {
		return Route{}, fmt.Errorf("route to the ingress: read Service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	if live.Spec.Type == corev1.ServiceTypeClusterIP {
		logf("Service %s/%s: asking the cluster for a load balancer (waiting up to %s for its address)", svc.Namespace, svc.Name, c.Options.LoadBalancerWithin)
		if live, err = setServiceType(ctx, services, svc, corev1.ServiceTypeLoadBalancer); err != nil {
			return Route{}, err
		}
	}
	if live.Spec.Type == corev1.ServiceTypeLoadBalancer {
		lbCtx, cancel := context.WithTimeout(ctx, c.Options.LoadBalancerWithin)
		_ = wait.PollUntilContextCancel(lbCtx, time.Second, true, func(ctx context.Context) (bool, error) {
			got, err := services.Get(ctx, svc.Name, metav1.GetOptions{})
			if err == nil {
				live = got
			}
			return err == nil && len(got.Status.LoadBalancer.Ingress) > 0, nil
		})
		cancel()
		if ctx.Err() != nil {
			return Route{}, fmt.Errorf("route to the ingress: %w", context.Cause(ctx))
		}
		port := servicePort(live, svc.Port)
		for _, in := range live.Status.LoadBalancer.Ingress {
			host := in.IP
			if host == "" {
				host = in.Hostname
			}
			if host != "" && answers(host, port) {
				return c.remember(Route{BaseURL: baseURL(host, port), How: "load balancer " + host, Lasting: true, Close: func() {}}), nil
			}
		}
		if len(live.Status.LoadBalancer.Ingress) == 0 {
			logf("no load balancer address within %s: Service %s/%s becomes NodePort", c.Options.LoadBalancerWithin, svc.Namespace, svc.Name)
			if live, err = setServiceType(ctx, services, svc, corev1.ServiceTypeNodePort); err != nil {
				return Route{}, err
			}
		}
	}
	if nodePort := nodePortOf(live, svc.Port); nodePort != 0 {
		nodes, err := kc.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return Route{}, fmt.Errorf("route to the ingress: list nodes: %w", err)
		}
		tried := 0 // each address that accepts a connection may cost a probe: a few nodes tell enough
		for _, n := range nodes.Items {
			for _, want := range []corev1.NodeAddressType{corev1.NodeExternalIP, corev1.NodeInternalIP} {
				for _, a := range n.Status.Addresses {
					if a.Type != want || tried >= nodeAddressesTried {
						continue
					}
					tried++
					if answers(a.Address, nodePort) {
						return c.remember(Route{BaseURL: baseURL(a.Address, nodePort), Lasting: true, Close: func() {},
							How: fmt.Sprintf("NodePort %d on node %s (%s)", nodePort, n.Name, a.Address)}), nil
					}
				}
			}
		}
		logf("Service %s/%s: node port %d does not answer from this machine on any node address; port-forwarding instead", svc.Namespace, svc.Name, nodePort)
	}
	r, err := c.portForward(ctx, kc, restCfg, live, svc)
	if err != nil {
		return Route{}, err
	}
	return c.remember(r), nil
}

func (c *Context) remember(r Route) Route {
	c.route = r
	return r
}

// setServiceType applies the Service's type under ExposeManager.
func setServiceType(ctx context.Context, services typedcorev1.ServiceInterface, svc component.Service, t corev1.ServiceType) (*corev1.Service, error) {
	got, err := services.Apply(ctx, corev1ac.Service(svc.Name, svc.Namespace).WithSpec(corev1ac.ServiceSpec().WithType(t)),
		metav1.ApplyOptions{FieldManager: ExposeManager, Force: true})
	if err != nil {
		return nil, fmt.Errorf("route to the ingress: make Service %s/%s %s: %w", svc.Namespace, svc.Name, t, err)
	}
	return got, nil
}

// servicePort is the Service's port named or numbered like want ("http", "80"); 80 when absent.
func servicePort(s *corev1.Service, want string) int {
	if p := findPort(s, want); p != nil {
		return int(p.Port)
	}
	return 80
}

func nodePortOf(s *corev1.Service, want string) int {
	if p := findPort(s, want); p != nil {
		return int(p.NodePort)
	}
	return 0
}

func findPort(s *corev1.Service, want string) *corev1.ServicePort {
	for i, p := range s.Spec.Ports {
		if p.Name == want || strconv.Itoa(int(p.Port)) == want {
			return &s.Spec.Ports[i]
		}
	}
	return nil
}

// reachable reports whether this machine can open a TCP connection to host:port.
func reachable(ctx context.Context, host string, port int) bool {
	d := net.Dialer{Timeout: reachWithin}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

func baseURL(host string, port int) string {
	u := url.URL{Scheme: "http", Host: net.JoinHostPort(host, strconv.Itoa(port))}
	if port == 80 {
		u.Host = host
		if strings.Contains(host, ":") {
			u.Host = "[" + host + "]"
		}
	}
	return u.String()
}

// portForward forwards a local port on 127.0.0.1 to the container port behind the Service's port
// on one of its ready pods, through the API server (websocket, falling back to SPDY).
func (c *Context) portForward(ctx context.Context, kc kubernetes.Interface, restCfg *rest.Config, live *corev1.Service, svc component.Service) (Route, error) {
	sp := findPort(live, svc.Port)
	if sp == nil {
		return Route{}, fmt.Errorf("route to the ingress: Service %s/%s has no port %s", svc.Namespace, svc.Name, svc.Port)
	}
	pods, err := kc.CoreV1().Pods(svc.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(live.Spec.Selector).String()})
	if err != nil {
		return Route{}, fmt.Errorf("route to the ingress: list the pods of Service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	var pod *corev1.Pod
	for i, p := range pods.Items {
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil {
				pod = &pods.Items[i]
			}
		}
	}
	if pod == nil {
		return Route{}, fmt.Errorf("route to the ingress: Service %s/%s has no ready pod to port-forward to", svc.Namespace, svc.Name)
	}
	target := containerPort(pod, sp.TargetPort)
	if target == 0 {
		return Route{}, fmt.Errorf("route to the ingress: pod %s/%s has no container port %s", pod.Namespace, pod.Name, sp.TargetPort.String())
	}
	req := kc.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("portforward")
	transport, upgrader, err := spdy.RoundTripperFor(restCfg)
	if err != nil {
		return Route{}, fmt.Errorf("route to the ingress: %w", err)
	}
	spdyDialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, req.URL())
	wsDialer, err := portforward.NewSPDYOverWebsocketDialer(req.URL(), restCfg)
	if err != nil {
		return Route{}, fmt.Errorf("route to the ingress: %w", err)
	}
	dialer := portforward.NewFallbackDialer(wsDialer, spdyDialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	stop, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(target)}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		return Route{}, fmt.Errorf("route to the ingress: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	var once sync.Once
	closeFw := func() {
		once.Do(func() {
			close(stop)
			<-done
		})
	}
	select {
	case <-ready:
	case err := <-done:
		once.Do(func() {}) // it ended by itself: nothing to stop or wait for
		return Route{}, fmt.Errorf("route to the ingress: port-forward to pod %s/%s: %w", pod.Namespace, pod.Name, errors.Join(err, errors.New("it ended before it was ready")))
	case <-ctx.Done():
		closeFw()
		return Route{}, fmt.Errorf("route to the ingress: port-forward to pod %s/%s: %w", pod.Namespace, pod.Name, context.Cause(ctx))
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		closeFw()
		return Route{}, fmt.Errorf("route to the ingress: port-forward to pod %s/%s: no local port: %w", pod.Namespace, pod.Name, err)
	}
	return Route{
		BaseURL: baseURL("127.0.0.1", int(ports[0].Local)),
		How:     fmt.Sprintf("port-forward to pod %s/%s port %d (it lasts while kindstack runs)", pod.Namespace, pod.Name, target),
		Again:   fmt.Sprintf("kubectl --context %s -n %s port-forward service/%s 8080:%d", c.Options.Context, svc.Namespace, svc.Name, sp.Port),
		Close:   closeFw,
	}, nil
}

// containerPort resolves a Service's targetPort (a number or a container port's name) on pod.
func containerPort(pod *corev1.Pod, tp intstr.IntOrString) int {
	if tp.Type == intstr.Int {
		return tp.IntValue()
	}
	for _, ctr := range pod.Spec.Containers {
		for _, p := range ctr.Ports {
			if p.Name == tp.StrVal {
				return int(p.ContainerPort)
			}
		}
	}
	return 0
}

// RouteIngress finds where this machine reaches the cluster's own ingress controller (an
// IngressClass named with --ingress-class) for the Ingress namespace/name: an address the
// controller writes into the Ingress's status, waited for up to LoadBalancerWithin, that this
// machine can connect to on port 80.
func (c *Context) RouteIngress(ctx context.Context, namespace, name string, probe Probe, logf func(format string, args ...any)) (Route, error) {
	kc, _, err := c.routeClient(ctx)
	if err != nil {
		return Route{}, err
	}
	logf("waiting up to %s for IngressClass %s's controller to give Ingress %s/%s an address", c.Options.LoadBalancerWithin, c.Options.IngressClass, namespace, name)
	var seen []string
	var found Route
	waitCtx, cancel := context.WithTimeout(ctx, c.Options.LoadBalancerWithin)
	defer cancel()
	_ = wait.PollUntilContextCancel(waitCtx, time.Second, true, func(ctx context.Context) (bool, error) {
		ing, err := kc.NetworkingV1().Ingresses(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		seen = seen[:0]
		for _, in := range ing.Status.LoadBalancer.Ingress {
			host := in.IP
			if host == "" {
				host = in.Hostname
			}
			if host == "" {
				continue
			}
			seen = append(seen, host)
			if reachable(ctx, host, 80) && probe(ctx, baseURL(host, 80)) == nil {
				found = Route{BaseURL: baseURL(host, 80), Lasting: true, Close: func() {},
					How: fmt.Sprintf("IngressClass %s at %s (the Ingress's status)", c.Options.IngressClass, host)}
				return true, nil
			}
		}
		return false, nil
	})
	if found.BaseURL != "" {
		return c.remember(found), nil
	}
	if ctx.Err() != nil {
		return Route{}, fmt.Errorf("route to the ingress: %w", context.Cause(ctx))
	}
	if len(seen) == 0 {
		return Route{}, fmt.Errorf("IngressClass %s's controller gave Ingress %s/%s no address within %s, so this machine cannot reach it", c.Options.IngressClass, namespace, name, c.Options.LoadBalancerWithin)
	}
	return Route{}, fmt.Errorf("Ingress %s/%s's addresses (%s) do not serve it to this machine on port 80", namespace, name, strings.Join(seen, ", "))
}

// routeClient is a client of the context's cluster for finding the route to its ingress.
// The REST config is for a port-forward.
func (c *Context) routeClient(ctx context.Context) (kubernetes.Interface, *rest.Config, error) {
	if err := c.Discover(ctx); err != nil {
		return nil, nil, err
	}
	restCfg, err := clientcmd.RESTConfigFromKubeConfig(c.kubeconfig)
	if err != nil {
		return nil, nil, fmt.Errorf("route to the ingress: %w", err)
	}
	restCfg.Timeout = 30 * time.Second
	kc, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, nil, fmt.Errorf("route to the ingress: %w", err)
	}
	return kc, restCfg, nil
}
