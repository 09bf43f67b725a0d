package ingress

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"

	admissionv1 "k8s.io/api/admission/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// validPathType is ingress-nginx's strict path check (internal/ingress/inspector/rules.go).
var validPathType = regexp.MustCompile(`(?i)^/[[:alnum:]._\-/]*$`)

// ValidatePathType reports every Exact or Prefix path that ingress-nginx's strict-validate-path-type
// rejects, joined in one error; ImplementationSpecific paths are not checked.
func ValidatePathType(ing *networkingv1.Ingress) error {
	var err error
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for _, p := range rule.HTTP.Paths {
			if p.PathType == nil || *p.PathType == networkingv1.PathTypeImplementationSpecific {
				continue
			}
			if !validPathType.MatchString(p.Path) {
				err = errors.Join(err, fmt.Errorf("path %s cannot be used with pathType %s", p.Path, *p.PathType))
			}
		}
	}
	return err
}

// CheckIngress is what the admission webhook decides for one Ingress: nil admits it.
func CheckIngress(ing *networkingv1.Ingress, strictPathType bool) error {
	if !strictPathType {
		return nil
	}
	if err := ValidatePathType(ing); err != nil {
		return fmt.Errorf("ingress contains invalid paths: %w", err)
	}
	return nil
}

// WebhookPolicy is what the admission webhook needs from the controller's live state.
type WebhookPolicy interface {
	// Handles reports whether the Ingress belongs to this controller's class.
	Handles(ing *networkingv1.Ingress) bool
	// StrictPathType is the ConfigMap option strict-validate-path-type (default true).
	StrictPathType() bool
}

// WebhookPath is where ingress-nginx's ValidatingWebhookConfiguration sends AdmissionReviews.
const WebhookPath = "/networking/v1/ingresses"

// NewWebhookHandler serves AdmissionReview v1 requests for Ingresses.
func NewWebhookHandler(policy WebhookPolicy, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			http.Error(w, "read request: "+err.Error(), http.StatusBadRequest)
			return
		}
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
			http.Error(w, "request is not an AdmissionReview", http.StatusBadRequest)
			return
		}
		resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		if review.Request.Kind.Kind == "Ingress" && len(review.Request.Object.Raw) > 0 {
			var ing networkingv1.Ingress
			if err := json.Unmarshal(review.Request.Object.Raw, &ing); err != nil {
				resp.Allowed = false
				resp.Result = &metav1.Status{Status: metav1.StatusFailure, Message: "decode ingress: " + err.Error()}
			} else if policy.Handles(&ing) {
				if err := CheckIngress(&ing, policy.StrictPathType()); err != nil {
					resp.Allowed = false
					resp.Result = &metav1.Status{Status: metav1.StatusFailure, Message: err.Error()}
				}
			}
			log.Info("admission review", "ingress", review.Request.Namespace+"/"+review.Request.Name,
				"operation", review.Request.Operation, "allowed", resp.Allowed)
		}
		out := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp}
		if out.APIVersion == "" {
			out.APIVersion, out.Kind = "admission.k8s.io/v1", "AdmissionReview"
		}
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(out); err != nil {
			log.Error("write admission response", "err", err)
		}
	})
}
