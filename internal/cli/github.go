package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/pipeline"
)

// reportToGitHub, when kindstack runs in a GitHub Actions job, appends a Markdown table of the
// steps and their timings to the job summary ($GITHUB_STEP_SUMMARY) and writes one ::error
// annotation per object that is not ready (to stderr: the runner reads workflow commands on both
// streams, and stdout belongs to -o json).
func (a *app) reportToGitHub(sum pipeline.UpSummary, runErr error) error {
	if a.opts.Getenv("GITHUB_ACTIONS") != "true" {
		return nil
	}
	for _, ann := range annotations(runErr) {
		fmt.Fprintln(a.opts.Stderr, ann)
	}
	path := a.opts.Getenv("GITHUB_STEP_SUMMARY")
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("write the job summary: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(summaryMarkdown(sum)); err != nil {
		return fmt.Errorf("write the job summary: %w", err)
	}
	return nil
}

// summaryMarkdown is `up`'s outcome as a job summary section.
func summaryMarkdown(sum pipeline.UpSummary) string {
	var b strings.Builder
	outcome := "ready"
	switch {
	case sum.Error != "":
		outcome = "failed"
	case !sum.Waited:
		outcome = "applied, not waited for"
	}
	fmt.Fprintf(&b, "### kindstack up `%s`: %s in %.1fs\n\n| step | seconds | result |\n| --- | ---: | --- |\n", sum.Name, outcome, sum.Seconds)
	for _, t := range sum.Timings {
		result := "✓"
		if t.Error != "" {
			result = "✗ " + cell(firstLine(t.Error))
		}
		fmt.Fprintf(&b, "| %s | %.1f | %s |\n", cell(t.Step), t.Seconds, result)
	}
	if sum.Error != "" {
		fmt.Fprintf(&b, "\n```\n%s\n```\n", strings.ReplaceAll(sum.Error, "```", "'''"))
	}
	for _, u := range sum.URLs {
		fmt.Fprintf(&b, "\n- %s", u)
	}
	b.WriteString("\n\n")
	return b.String()
}

// annotations are the ::error workflow commands for a failed run: one per object that is not
// ready (with its reason and details), and one per failure that names no object (a component
// that failed because another did, a preflight problem).
func annotations(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	for _, branch := range branches(err) {
		var objects []*kube.NotReadyError
		walk(branch, func(e error) {
			if nr, ok := e.(*kube.NotReadyError); ok {
				objects = append(objects, nr)
			}
		})
		for _, nr := range objects {
			msg := nr.Reason
			if len(nr.Details) > 0 {
				msg += "\n" + strings.Join(nr.Details, "\n")
			}
			out = append(out, "::error title="+escapeProperty("kindstack: "+nr.Name+" not ready")+"::"+escapeData(msg))
		}
		if len(objects) == 0 {
			out = append(out, "::error title=kindstack up failed::"+escapeData(branch.Error()))
		}
	}
	return out
}

// branches splits a run's error into its independent failures: the errors joined at the first
// join in it (one per failed component), or the error itself.
func branches(err error) []error {
	for e := err; e != nil; {
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			return u.Unwrap()
		case interface{ Unwrap() error }:
			e = u.Unwrap()
		default:
			e = nil
		}
	}
	return []error{err}
}

// walk visits err and everything it wraps, joined errors included.
func walk(err error, visit func(error)) {
	if err == nil {
		return
	}
	visit(err)
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walk(e, visit)
		}
	case interface{ Unwrap() error }:
		walk(u.Unwrap(), visit)
	}
}

// The escapes GitHub's workflow commands need (as its toolkit does).
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
