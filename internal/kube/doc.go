// Package kube is kindstack's one apply/wait engine. Addons and workloads hand it sets of
// unstructured objects; it applies them server-side in stages (Namespaces, CRDs and cluster-scoped
// RBAC first, then *Class kinds, then the rest), reports what changed, and waits until every object
// is Current according to kstatus and every readiness gate passes. When a wait fails, the one error
// it returns names each object that is not ready, why, and — for workloads — what their pods and
// events say.
package kube
