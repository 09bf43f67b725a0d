package ingress

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

func TestCheckIngress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ing     *networkingv1.Ingress
		strict  bool
		wantErr string
	}{
		{
			name:    "tutorial ingress with Prefix is denied with ingress-nginx's message",
			ing:     exampleIngress(networkingv1.PathTypePrefix),
			strict:  true,
			wantErr: "ingress contains invalid paths: path /?(.*) cannot be used with pathType Prefix\npath /api/?(.*) cannot be used with pathType Prefix",
		},
		{name: "ImplementationSpecific regex paths are allowed", ing: exampleIngress(networkingv1.PathTypeImplementationSpecific), strict: true},
		{name: "strict-validate-path-type false allows them", ing: exampleIngress(networkingv1.PathTypePrefix), strict: false},
		{
			name: "plain paths are allowed",
			ing: testIngress("ok", "", nil, time.Unix(1, 0),
				testPath{"/", networkingv1.PathTypePrefix, "a", 80},
				testPath{"/A-b_c.d/e", networkingv1.PathTypeExact, "a", 80}),
			strict: true,
		},
		{
			name:    "Exact with a space is denied",
			ing:     testIngress("bad", "", nil, time.Unix(1, 0), testPath{"/a b", networkingv1.PathTypeExact, "a", 80}),
			strict:  true,
			wantErr: "ingress contains invalid paths: path /a b cannot be used with pathType Exact",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckIngress(tt.ing, tt.strict)
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.wantErr, err.Error())
		})
	}
}

type fakePolicy struct{ ours, strict bool }

func (p fakePolicy) Handles(*networkingv1.Ingress) bool { return p.ours }
func (p fakePolicy) StrictPathType() bool               { return p.strict }

func TestWebhookHandler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		policy      fakePolicy
		ing         *networkingv1.Ingress
		wantAllowed bool
		wantMessage string
	}{
		{name: "denies our invalid ingress", policy: fakePolicy{ours: true, strict: true}, ing: exampleIngress(networkingv1.PathTypePrefix),
			wantMessage: "ingress contains invalid paths: path /?(.*) cannot be used with pathType Prefix"},
		{name: "admits a valid ingress", policy: fakePolicy{ours: true, strict: true}, ing: exampleIngress(networkingv1.PathTypeImplementationSpecific), wantAllowed: true},
		{name: "ignores another class", policy: fakePolicy{ours: false, strict: true}, ing: exampleIngress(networkingv1.PathTypePrefix), wantAllowed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw, err := json.Marshal(tt.ing)
			require.NoError(t, err)
			review := admissionv1.AdmissionReview{
				TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
				Request: &admissionv1.AdmissionRequest{
					UID:       types.UID("uid-1"),
					Kind:      metav1.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"},
					Name:      tt.ing.Name,
					Namespace: tt.ing.Namespace,
					Operation: admissionv1.Create,
					Object:    runtime.RawExtension{Raw: raw},
				},
			}
			body, err := json.Marshal(review)
			require.NoError(t, err)
			rec := httptest.NewRecorder()
			NewWebhookHandler(tt.policy, slog.New(slog.NewTextHandler(io.Discard, nil))).
				ServeHTTP(rec, httptest.NewRequest(http.MethodPost, WebhookPath, bytes.NewReader(body)))
			require.Equal(t, http.StatusOK, rec.Code)
			var out admissionv1.AdmissionReview
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
			require.NotNil(t, out.Response)
			assert.Equal(t, "admission.k8s.io/v1", out.APIVersion)
			assert.Equal(t, "AdmissionReview", out.Kind)
			assert.Equal(t, types.UID("uid-1"), out.Response.UID)
			assert.Equal(t, tt.wantAllowed, out.Response.Allowed)
			if tt.wantMessage != "" {
				require.NotNil(t, out.Response.Result)
				assert.Contains(t, out.Response.Result.Message, tt.wantMessage)
			}
		})
	}
}

func TestWebhookHandlerRejectsGarbage(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	NewWebhookHandler(fakePolicy{}, slog.New(slog.NewTextHandler(io.Discard, nil))).
		ServeHTTP(rec, httptest.NewRequest(http.MethodPost, WebhookPath, bytes.NewReader([]byte("{"))))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
}
