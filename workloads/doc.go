// Package workloads installs the example app of the tutorial kindstack automates (a React
// frontend, a Flask backend and PostgreSQL behind the ingress, with autoscalers) and smoke-tests
// it through the host port the way a browser would.
//
// The manifests are kindstack's own, written from the facts of lyzhang1999/kubernetes-example
// (which has no licence). They fix what breaks on today's clusters: the Ingress uses
// pathType ImplementationSpecific (current ingress-nginx rejects the tutorial's regex paths
// under Prefix), credentials live in a Secret, and every pod has probes that mean "serving".
package workloads
