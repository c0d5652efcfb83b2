"""The controller machinery: what every kind's reconciler runs on, and knows no kind.

- `client`: the async Kubernetes API client (server-side apply, status patches, watches),
  and re-login when the API server stops taking the credentials (401);
- `login`: where credentials come from (Kopf's login functions: kubeconfig or the pod's
  ServiceAccount), read again on every re-login;
- `informer`: list-then-watch of one child kind with a server-side label selector;
- `store`: the watch caches, indexed by parent;
- `queue`: the deduplicating work queue and its workers, with retry backoff;
- `writer`: writes a plan (apply, delete, status patch, Events);
- `events`: Kubernetes Events, posted in the background;
- `leader`: leader election over a Lease.
"""
