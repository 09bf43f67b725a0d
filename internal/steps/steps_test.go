package steps

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func ok(name, result string) Step {
	return Step{Name: name, Run: func(ctx context.Context, s *Status) error {
		s.Infof("detail of %s", name)
		if result != "" {
			s.Result(result)
		}
		return nil
	}}
}

func TestRunPrintsOneLinePerStepAndStopsAtFirstFailure(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	r := NewRunner(&buf, Options{})
	ran := false
	timings, err := r.Run(context.Background(), []Step{
		ok("Preflight", ""),
		ok("Cluster kindstack", "created"),
		{Name: "Addons", Run: func(ctx context.Context, s *Status) error { return errors.New("ingress not ready") }},
		{Name: "Never", Run: func(ctx context.Context, s *Status) error { ran = true; return nil }},
	})
	require.EqualError(t, err, "ingress not ready")
	assert.False(t, ran, "steps after a failure must not run")
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	require.Len(t, lines, 3, buf.String())
	assert.Regexp(t, `^ ✓ Preflight \(\d+\.\ds\)$`, lines[0])
	assert.Regexp(t, `^ ✓ Cluster kindstack · created \(\d+\.\ds\)$`, lines[1])
	assert.Regexp(t, `^ ✗ Addons \(\d+\.\ds\)$`, lines[2])
	assert.NotContains(t, buf.String(), "\x1b", "no escape codes when stderr is not a terminal")
	assert.NotContains(t, buf.String(), "detail of", "details only with -v")
	require.Len(t, timings, 3)
	assert.Equal(t, "Addons", timings[2].Step)
	assert.Error(t, timings[2].Err)
}

func TestQuietSilencesProgressButNotWarnings(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	r := NewRunner(&buf, Options{Quiet: true, Verbose: true})
	_, err := r.Run(context.Background(), []Step{
		ok("Preflight", "ok"),
		{Name: "Warn", Run: func(ctx context.Context, s *Status) error { s.Warnf("cgroup v1 host"); return nil }},
	})
	require.NoError(t, err)
	assert.Equal(t, " ! cgroup v1 host\n", buf.String())
}

func TestVerboseShowsDetails(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	r := NewRunner(&buf, Options{Verbose: true})
	_, err := r.Run(context.Background(), []Step{ok("Preflight", "")})
	require.NoError(t, err)
	assert.Contains(t, buf.String(), "   · detail of Preflight\n")
}

func TestParallelChildrenEachGetALineAndATiming(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	r := NewRunner(&buf, Options{})
	started := make(chan struct{}, 2)
	both := func(name string, fail bool) Step {
		return Step{Name: name, Run: func(ctx context.Context, s *Status) error {
			started <- struct{}{}
			// Both children must be running at once: wait until the other one has started.
			for len(started) < 2 {
				time.Sleep(time.Millisecond)
			}
			if fail {
				return errors.New("webhook not serving")
			}
			s.Result("3 created")
			return nil
		}}
	}
	timings, err := r.Run(context.Background(), []Step{Parallel("Addons", both("ingress-nginx", true), both("metrics-server", false))})
	require.Error(t, err)
	assert.Equal(t, "ingress-nginx: webhook not serving", err.Error())
	out := buf.String()
	assert.Regexp(t, `(?m)^   ✗ ingress-nginx \(`, out)
	assert.Regexp(t, `(?m)^   ✓ metrics-server · 3 created \(`, out)
	assert.Regexp(t, `(?m)^ ✗ Addons · 1 of 2 failed \(`, out)
	var names []string
	for _, tm := range timings {
		names = append(names, tm.Step)
	}
	assert.Equal(t, []string{"Addons", "Addons/ingress-nginx", "Addons/metrics-server"}, names)
}

func TestInterruptedStepSaysSo(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	_, err := NewRunner(&buf, Options{}).Run(ctx, []Step{{Name: "Cluster", Run: func(ctx context.Context, s *Status) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}}})
	require.ErrorIs(t, err, context.Canceled)
	assert.Regexp(t, `^ ✗ Cluster · interrupted \(`, buf.String())

	// A child that fails with its own words once the command is interrupted (a killed
	// subprocess) is interrupted too.
	buf.Reset()
	ctx, cancel = context.WithCancel(context.Background())
	_, err = NewRunner(&buf, Options{}).Run(ctx, []Step{Parallel("Install", Step{Name: "Install example", Run: func(ctx context.Context, s *Status) error {
		cancel()
		return errors.New("docker save: signal: killed")
	}})})
	require.Error(t, err)
	assert.Contains(t, buf.String(), "   ✗ Install example · interrupted (")
	assert.Contains(t, buf.String(), " ✗ Install · interrupted (")
}

func TestColourAndSpinnerRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		terminal  bool
		env       map[string]string
		wantTTY   bool
		wantColor bool
	}{
		{"terminal", true, nil, true, true},
		{"NO_COLOR keeps spinner, drops colour", true, map[string]string{"NO_COLOR": "1"}, true, false},
		{"TERM=dumb drops both", true, map[string]string{"TERM": "dumb"}, false, false},
		{"pipe", false, nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			r := newRunner(&buf, tt.terminal, false, false, env(tt.env))
			assert.Equal(t, tt.wantTTY, r.tty)
			assert.Equal(t, tt.wantColor, r.color)
			_, err := r.Run(context.Background(), []Step{ok("Preflight", "")})
			require.NoError(t, err)
			assert.Equal(t, tt.wantColor, strings.Contains(buf.String(), "\x1b[32m✓"), buf.String())
		})
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "0.4s", FormatDuration(400*time.Millisecond))
	assert.Equal(t, "12.3s", FormatDuration(12340*time.Millisecond))
	assert.Equal(t, "2m05s", FormatDuration(125*time.Second))
}
