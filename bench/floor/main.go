// Command floor is the reference controller the scale benchmark measures mcpops against: the
// least any operator must do on this control plane for a plain MCPServer. client-go shared
// informers (MCPServers; Deployments by mcpops' label selector), a rate-limited workqueue,
// server-side apply. No decisions and no tests: for each MCPServer it writes the children,
// the status and the Events mcpops writes for the same spec (see template.go), nothing more.
//
//	floor run -template t.json -revisions r.json [-metrics-addr 127.0.0.1:0] [-workers 16]
//	floor render -template t.json -name s0000 -namespace ns -uid U -revision R
//
// Every HTTP request it makes is counted at its transport (floor_api_requests_total, by
// verb, resource and code, on /metrics), the way mcpops counts its own.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/workqueue"
)

var mcpservers = schema.GroupVersionResource{Group: "mcpops.dev", Version: "v1alpha1", Resource: "mcpservers"}

// The label mcpops selects its children by (objects/children.py MANAGED_SELECTOR).
const managedSelector = "app.kubernetes.io/managed-by=mcpops"

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: floor run|render [flags]")
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = run(os.Args[2:])
	case "render":
		err = render(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		log.Fatal(err)
	}
}

func render(args []string) error {
	fs := flag.NewFlagSet("render", flag.ExitOnError)
	tpl := fs.String("template", "", "the template (JSON)")
	var s Server
	fs.StringVar(&s.Name, "name", "", "")
	fs.StringVar(&s.Namespace, "namespace", "", "")
	fs.StringVar(&s.UID, "uid", "", "")
	fs.StringVar(&s.Revision, "revision", "", "")
	fs.Int64Var(&s.Generation, "generation", 1, "")
	_ = fs.Parse(args)
	t, err := loadTemplate(*tpl)
	if err != nil {
		return err
	}
	out := t.Render(s)
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"apply": out.Apply, "create": out.Create, "events": out.Events, "status": out.Status,
		"readyDeployment": out.ReadyDeployment,
	})
}

type controller struct {
	tpl       *Template
	revisions map[string]string // server name -> its revision (mcpops' hash of its pod template)
	dyn       dynamic.Interface
	servers   cache.GenericLister
	deploys   func(ns, name string) (*appsv1.Deployment, error)
	queue     workqueue.TypedRateLimitingInterface[string]

	mu    sync.Mutex
	state map[string]*progress
}

// What was written for a server, so that nothing is written twice (0 writes at rest).
type progress struct {
	uid             string
	appliedGen      int64
	statusGen       int64
	pendingRendered *Rendered
}

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "")
	tplPath := fs.String("template", "", "the objects per server (JSON, from bench/floor_bench.py)")
	revPath := fs.String("revisions", "", "JSON {server name: revision}")
	metricsAddr := fs.String("metrics-addr", "127.0.0.1:0", "where /metrics and /readyz listen")
	workers := fs.Int("workers", 16, "concurrent reconciles (mcpops' default MCPOPS_WORKERS)")
	qps := fs.Float64("qps", -1, "client-side rate limit (-1: none, like mcpops)")
	_ = fs.Parse(args)

	tpl, err := loadTemplate(*tplPath)
	if err != nil {
		return err
	}
	revisions := map[string]string{}
	if raw, err := os.ReadFile(*revPath); err != nil {
		return err
	} else if err := json.Unmarshal(raw, &revisions); err != nil {
		return fmt.Errorf("%s: %w", *revPath, err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = float32(*qps), 1000
	counter := newCounter()
	cfg.WrapTransport = counter.wrap
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ready := make(chan struct{})
	if err := serve(*metricsAddr, counter, ready); err != nil {
		return err
	}

	serverInf := dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0).ForResource(mcpservers)
	kubeInf := informers.NewSharedInformerFactoryWithOptions(kube, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = managedSelector }))
	depInf := kubeInf.Apps().V1().Deployments()
	c := &controller{
		tpl: tpl, revisions: revisions, dyn: dyn, servers: serverInf.Lister(),
		deploys: func(ns, name string) (*appsv1.Deployment, error) {
			return depInf.Lister().Deployments(ns).Get(name)
		},
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		state: map[string]*progress{},
	}
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	_, _ = serverInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, o any) { enqueue(o) }, DeleteFunc: enqueue,
	})
	owner := func(obj any) {
		d, ok := obj.(*appsv1.Deployment)
		if !ok {
			return
		}
		if ref := metav1.GetControllerOf(d); ref != nil && ref.Kind == "MCPServer" {
			c.queue.Add(d.Namespace + "/" + ref.Name)
		}
	}
	_, _ = depInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: owner, UpdateFunc: func(_, o any) { owner(o) },
	})
	go serverInf.Informer().Run(ctx.Done())
	kubeInf.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), serverInf.Informer().HasSynced, depInf.Informer().HasSynced) {
		return errors.New("informers did not sync")
	}
	close(ready)
	log.Printf("floor: synced; %d workers", *workers)
	for range *workers {
		go func() {
			for c.next(ctx) {
			}
		}()
	}
	<-ctx.Done()
	c.queue.ShutDown()
	return nil
}

func (c *controller) next(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.reconcile(ctx, key); err != nil {
		log.Printf("floor: %s: %v", key, err)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

func (c *controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	obj, err := c.servers.ByNamespace(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		delete(c.state, key)
		c.mu.Unlock()
		return nil
	} else if err != nil {
		return err
	}
	u := obj.(*unstructured.Unstructured)
	rev, ok := c.revisions[name]
	if !ok {
		log.Printf("floor: %s: no revision given for this name; skipped", key)
		return nil
	}
	srv := Server{Name: name, Namespace: ns, UID: string(u.GetUID()), Revision: rev, Generation: u.GetGeneration()}
	c.mu.Lock()
	st := c.state[key]
	if st == nil || st.uid != srv.UID {
		st = &progress{uid: srv.UID}
		c.state[key] = st
	}
	c.mu.Unlock()
	// One worker per key at a time (the workqueue's guarantee): st needs no lock from here.
	if st.appliedGen != srv.Generation {
		out := c.tpl.Render(srv)
		if err := c.write(ctx, ns, out); err != nil {
			return err
		}
		st.appliedGen, st.pendingRendered = srv.Generation, &out
	}
	if st.statusGen == srv.Generation || readyAt(u, srv.Generation) {
		st.statusGen = srv.Generation
		return nil
	}
	out := st.pendingRendered
	if out == nil { // applied before a restart: the status is rendered now
		r := c.tpl.Render(srv)
		out = &r
	}
	d, err := c.deploys(ns, out.ReadyDeployment)
	if err != nil || !available(d) {
		return nil // its Deployment's events bring the server back
	}
	body, _ := json.Marshal(map[string]any{"status": out.Status})
	if _, err := c.dyn.Resource(mcpservers).Namespace(ns).Patch(
		ctx, name, types.MergePatchType, body, metav1.PatchOptions{}, "status"); err != nil {
		return err
	}
	st.statusGen, st.pendingRendered = srv.Generation, nil
	// Like mcpops: Events go out in the background, the reconcile does not wait for them.
	go c.events(ns, out.Events)
	return nil
}

// write creates and applies a server's children concurrently, as mcpops does (one round
// trip per reconcile, not one per child); the first error, if any.
func (c *controller) write(ctx context.Context, ns string, out Rendered) error {
	force := true
	errs := make(chan error, len(out.Create)+len(out.Apply))
	var wg sync.WaitGroup
	for _, m := range out.Create {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, _ := json.Marshal(m)
			obj := &unstructured.Unstructured{}
			if err := obj.UnmarshalJSON(body); err != nil {
				errs <- err
				return
			}
			_, err := c.dyn.Resource(gvr(m)).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				errs <- err
			}
		}()
	}
	for _, m := range out.Apply {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, _ := json.Marshal(m)
			name := m["metadata"].(map[string]any)["name"].(string)
			_, err := c.dyn.Resource(gvr(m)).Namespace(ns).Patch(ctx, name, types.ApplyPatchType,
				body, metav1.PatchOptions{FieldManager: "floor", Force: &force})
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs // nil when closed empty
}

func (c *controller) events(ns string, evs []map[string]any) {
	for _, ev := range evs {
		body, _ := json.Marshal(ev)
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(body); err != nil {
			log.Printf("floor: event: %v", err)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if _, err := c.dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "events"}).
			Namespace(ns).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			log.Printf("floor: event: %v", err)
		}
		cancel()
	}
}

func readyAt(u *unstructured.Unstructured, gen int64) bool {
	observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	if observed != gen {
		return false
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Ready" && m["status"] == "True" {
			return true
		}
	}
	return false
}

func available(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	return d.Status.ObservedGeneration >= d.Generation && d.Status.AvailableReplicas >= want
}

// gvr of a manifest: its apiVersion and its kind's plural (the kinds mcpops writes all
// pluralise regularly: Deployment, Service, NetworkPolicy, Secret...).
func gvr(m map[string]any) schema.GroupVersionResource {
	gv, _ := schema.ParseGroupVersion(m["apiVersion"].(string))
	kind := []byte(m["kind"].(string))
	for i := range kind {
		if kind[i] >= 'A' && kind[i] <= 'Z' {
			kind[i] += 'a' - 'A'
		}
	}
	plural := string(kind) + "s"
	if n := len(kind); kind[n-1] == 'y' {
		plural = string(kind[:n-1]) + "ies"
	}
	return gv.WithResource(plural)
}

func serve(addr string, counter *counter, ready chan struct{}) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", counter.serve)
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-ready:
			_, _ = w.Write([]byte("ok\n"))
		default:
			http.Error(w, "syncing", http.StatusServiceUnavailable)
		}
	})
	// The benchmark reads the port from here (it asks for port 0).
	fmt.Fprintf(os.Stdout, "listening %s\n", ln.Addr())
	go func() { _ = http.Serve(ln, mux) }()
	return nil
}
