package ingress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kindstack/kindstack/e2e/standins/internal/tlsutil"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
)

// configKeyStrictPathType is the ingress-nginx ConfigMap option that turns the strict path check off.
const configKeyStrictPathType = "strict-validate-path-type"

// Controller watches the cluster and serves traffic, health and the admission webhook.
type Controller struct {
	opts      Options
	client    kubernetes.Interface
	log       *slog.Logger
	proxy     *Proxy
	filter    ClassFilter
	strict    atomic.Bool
	synced    atomic.Bool
	dirty     chan struct{}
	ingresses networkinglisters.IngressLister
	classes   networkinglisters.IngressClassLister
	services  corelisters.ServiceLister
	slices    discoverylisters.EndpointSliceLister
}

// New prepares a controller; Run starts it.
func New(client kubernetes.Interface, opts Options, log *slog.Logger) *Controller {
	c := &Controller{opts: opts, client: client, log: log, dirty: make(chan struct{}, 1)}
	c.strict.Store(true)
	c.proxy = NewProxy(c, log)
	c.filter = ClassFilter{
		ControllerClass:          opts.ControllerClass,
		IngressClass:             opts.IngressClass,
		WatchIngressWithoutClass: opts.WatchIngressWithoutClass,
		Controller: func(name string) (string, bool) {
			if c.classes == nil {
				return "", false
			}
			ic, err := c.classes.Get(name)
			if err != nil {
				return "", false
			}
			return ic.Spec.Controller, true
		},
	}
	return c
}

// Handles implements WebhookPolicy.
func (c *Controller) Handles(ing *networkingv1.Ingress) bool { return c.filter.Handles(ing) }

// StrictPathType implements WebhookPolicy.
func (c *Controller) StrictPathType() bool { return c.strict.Load() }

// Run serves until ctx ends or a listener fails.
func (c *Controller) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 5)
	var servers []*http.Server

	health := http.NewServeMux()
	health.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !c.synced.Load() {
			http.Error(w, "informers not synced", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	servers = append(servers, c.serve(errc, &http.Server{Addr: ":" + strconv.Itoa(c.opts.HealthzPort), Handler: health}, false))

	factory := informers.NewSharedInformerFactory(c.client, 0)
	c.ingresses = factory.Networking().V1().Ingresses().Lister()
	c.classes = factory.Networking().V1().IngressClasses().Lister()
	c.services = factory.Core().V1().Services().Lister()
	c.slices = factory.Discovery().V1().EndpointSlices().Lister()
	mark := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.markDirty() },
		UpdateFunc: func(any, any) { c.markDirty() },
		DeleteFunc: func(any) { c.markDirty() },
	}
	for _, inf := range []cache.SharedIndexInformer{
		factory.Networking().V1().Ingresses().Informer(),
		factory.Networking().V1().IngressClasses().Informer(),
	} {
		if _, err := inf.AddEventHandler(mark); err != nil {
			return fmt.Errorf("watch: %w", err)
		}
	}
	factory.Core().V1().Services().Informer()
	factory.Discovery().V1().EndpointSlices().Informer()
	if err := c.watchConfigMap(ctx); err != nil {
		return err
	}
	// Like nginx, the traffic ports answer (404) from the start, before the first sync: the
	// pod fails right away when it cannot bind them (e.g. without NET_BIND_SERVICE).
	fake, err := tlsutil.SelfSigned("Kubernetes Ingress Controller Fake Certificate", []string{"ingress.local"}, time.Now())
	if err != nil {
		return err
	}
	servers = append(servers,
		c.serve(errc, &http.Server{Addr: ":" + strconv.Itoa(c.opts.HTTPPort), Handler: c.proxy}, false),
		c.serve(errc, &http.Server{
			Addr:      ":" + strconv.Itoa(c.opts.HTTPSPort),
			Handler:   c.proxy,
			TLSConfig: &tls.Config{Certificates: []tls.Certificate{fake}, MinVersion: tls.VersionTLS12},
		}, true))
	defer func() {
		shutdown, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		for _, s := range servers {
			_ = s.Shutdown(shutdown)
		}
	}()

	factory.Start(ctx.Done())
	synced := make(chan error, 1)
	go func() {
		for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
			if !ok {
				synced <- fmt.Errorf("sync %v cache: %w", typ, ctx.Err())
				return
			}
		}
		synced <- nil
	}()
	select {
	case err := <-errc:
		return err
	case err := <-synced:
		if err != nil {
			return err
		}
	}
	c.synced.Store(true)
	c.log.Info("caches synced")
	c.sync(ctx)

	if c.opts.ValidatingWebhook != "" {
		mux := http.NewServeMux()
		mux.Handle(WebhookPath, NewWebhookHandler(c, c.log))
		servers = append(servers, c.serve(errc, &http.Server{
			Addr:    c.opts.ValidatingWebhook,
			Handler: mux,
			TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				// Read on every handshake so a re-created Secret is picked up without a restart.
				cert, err := tls.LoadX509KeyPair(c.opts.ValidatingWebhookCertificate, c.opts.ValidatingWebhookKey)
				return &cert, err
			}},
		}, true))
	}

	var runErr error
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case err := <-errc:
			runErr, done = err, true
		case <-c.dirty:
			c.sync(ctx)
		}
	}
	return runErr
}

func (c *Controller) serve(errc chan<- error, s *http.Server, useTLS bool) *http.Server {
	s.ReadHeaderTimeout = 30 * time.Second
	go func() {
		var err error
		if useTLS {
			err = s.ListenAndServeTLS("", "")
		} else {
			err = s.ListenAndServe()
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serve %s: %w", s.Addr, err)
		}
	}()
	return s
}

func (c *Controller) markDirty() {
	select {
	case c.dirty <- struct{}{}:
	default:
	}
}

// watchConfigMap follows the --configmap ConfigMap for strict-validate-path-type.
func (c *Controller) watchConfigMap(ctx context.Context) error {
	if c.opts.ConfigMap == "" {
		return nil
	}
	ns, name, ok := strings.Cut(c.opts.ConfigMap, "/")
	if !ok {
		return fmt.Errorf("--configmap %q: want namespace/name", c.opts.ConfigMap)
	}
	f := informers.NewSharedInformerFactoryWithOptions(c.client, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
		}))
	apply := func(obj any) {
		cm, ok := obj.(*corev1.ConfigMap)
		strict := true
		if ok {
			if v, err := strconv.ParseBool(cm.Data[configKeyStrictPathType]); err == nil {
				strict = v
			}
		}
		if c.strict.Swap(strict) != strict {
			c.log.Info("configmap option changed", configKeyStrictPathType, strict)
		}
	}
	if _, err := f.Core().V1().ConfigMaps().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    apply,
		UpdateFunc: func(_, obj any) { apply(obj) },
		DeleteFunc: func(any) { apply(nil) },
	}); err != nil {
		return fmt.Errorf("watch configmap: %w", err)
	}
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	return nil
}

// sync rebuilds the routing table and publishes the status address on our Ingresses.
func (c *Controller) sync(ctx context.Context) {
	all, err := c.ingresses.List(labels.Everything())
	if err != nil {
		c.log.Error("list ingresses", "err", err)
		return
	}
	var ours []*networkingv1.Ingress
	for _, ing := range all {
		if c.filter.Handles(ing) {
			ours = append(ours, ing)
		}
	}
	table, errs := BuildTable(ours)
	for _, err := range errs {
		c.log.Warn("skipped path", "err", err)
	}
	c.proxy.SetTable(table)
	c.log.Info("routes updated", "ingresses", len(ours))

	want := loadBalancerStatus(c.opts.PublishStatusAddress)
	if len(want) == 0 {
		return
	}
	for _, ing := range ours {
		if reflect.DeepEqual(ing.Status.LoadBalancer.Ingress, want) {
			continue
		}
		updated := ing.DeepCopy()
		updated.Status.LoadBalancer.Ingress = want
		_, err := c.client.NetworkingV1().Ingresses(ing.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
		switch {
		case err == nil:
			c.log.Info("published status", "ingress", ing.Namespace+"/"+ing.Name)
		case apierrors.IsNotFound(err):
		default:
			c.log.Warn("update ingress status", "ingress", ing.Namespace+"/"+ing.Name, "err", err)
			time.AfterFunc(5*time.Second, c.markDirty)
		}
	}
}

// loadBalancerStatus turns --publish-status-address into Ingress status entries: IPs as ip,
// names as hostname (ingress-nginx's nameOrIPToLoadBalancerIngress).
func loadBalancerStatus(addresses []string) []networkingv1.IngressLoadBalancerIngress {
	var out []networkingv1.IngressLoadBalancerIngress
	for _, a := range addresses {
		if net.ParseIP(a) != nil {
			out = append(out, networkingv1.IngressLoadBalancerIngress{IP: a})
		} else {
			out = append(out, networkingv1.IngressLoadBalancerIngress{Hostname: a})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].IP+out[i].Hostname < out[j].IP+out[j].Hostname })
	return out
}

// Endpoints implements Resolver with the informer caches: the ready addresses of the Service's
// EndpointSlices, on the port the Ingress's service port maps to.
func (c *Controller) Endpoints(b Backend) ([]string, error) {
	svc, err := c.services.Services(b.Namespace).Get(b.Service)
	if err != nil {
		return nil, fmt.Errorf("service %s/%s: %w", b.Namespace, b.Service, ErrNoEndpoints)
	}
	var portName string
	found := false
	for _, p := range svc.Spec.Ports {
		if (b.Port.Name != "" && p.Name == b.Port.Name) || (b.Port.Name == "" && p.Port == b.Port.Number) {
			portName, found = p.Name, true
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("service %s has no port %s: %w", b.Service, b.String(), ErrNoEndpoints)
	}
	slices, err := c.slices.EndpointSlices(b.Namespace).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: b.Service}))
	if err != nil {
		return nil, fmt.Errorf("list endpointslices: %w", err)
	}
	return readyEndpoints(slices, portName), nil
}

func readyEndpoints(slices []*discoveryv1.EndpointSlice, portName string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range slices {
		if s.AddressType != discoveryv1.AddressTypeIPv4 && s.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		var port int32
		for _, p := range s.Ports {
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			if name == portName && p.Port != nil {
				port = *p.Port
			}
		}
		if port == 0 {
			continue
		}
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, addr := range ep.Addresses {
				hp := net.JoinHostPort(addr, strconv.Itoa(int(port)))
				if !seen[hp] {
					seen[hp] = true
					out = append(out, hp)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// Hostname is the pod name, for logs.
func Hostname() string {
	h, _ := os.Hostname()
	return h
}
