// Package steps runs an ordered list of named steps and reports each one the way kind does:
// a ✓ or ✗ line with its duration on stderr, a spinner and colour only on a capable terminal.
package steps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
)

// Step is one named unit of work.
type Step struct {
	Name string
	Run  func(ctx context.Context, s *Status) error
}

// Timing is when one step (or one phase of a step, see Status.Phase) started, how long it took
// and how it ended. Children of a Parallel step are reported as "parent/child" after their parent,
// then the phases their steps marked, as "parent/child/phase", in the order they started.
type Timing struct {
	Step     string
	Start    time.Time
	Duration time.Duration
	Err      error
}

// Options say how the runner reports.
type Options struct {
	Quiet   bool                // no progress lines, no details; warnings still print
	Verbose bool                // show details (Status.Infof)
	Getenv  func(string) string // NO_COLOR, TERM; nil means os.Getenv
}

// Runner runs steps and writes progress to one writer.
type Runner struct {
	out     io.Writer
	tty     bool
	color   bool
	quiet   bool
	verbose bool

	mu      sync.Mutex
	spinner string // name shown by the spinner, "" when idle
	frame   int
	phases  []Timing // marked by the running step (Status.Phase), moved into its timings when it ends
}

// NewRunner reports to w. The spinner needs w to be a terminal and TERM not "dumb"; colour also
// needs NO_COLOR unset or empty (https://no-color.org).
func NewRunner(w io.Writer, opts Options) *Runner {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	terminal := false
	if f, ok := w.(*os.File); ok {
		terminal = isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
	}
	return newRunner(w, terminal, opts.Quiet, opts.Verbose, getenv)
}

func newRunner(w io.Writer, terminal, quiet, verbose bool, getenv func(string) string) *Runner {
	tty := terminal && getenv("TERM") != "dumb"
	return &Runner{
		out:     w,
		tty:     tty,
		color:   tty && getenv("NO_COLOR") == "",
		quiet:   quiet,
		verbose: verbose && !quiet,
	}
}

// Status lets a running step report.
type Status struct {
	r      *Runner
	indent string
	mu     sync.Mutex
	result string
	timing *[]Timing
	prefix string
}

// Phase marks the start of one part of the step, e.g. "images" or "wait", for the timings (a
// critical-path table shows what overlapped); call the returned func when it ends. Nothing is
// printed.
func (s *Status) Phase(name string) (end func(err error)) {
	start := time.Now()
	return func(err error) { s.PhaseRan(name, start, time.Since(start), err) }
}

// PhaseRan records a phase that already ended: work this step took over from the background,
// which began before the step did (an import started while an earlier step ran).
func (s *Status) PhaseRan(name string, start time.Time, d time.Duration, err error) {
	t := Timing{Step: s.prefix + "/" + name, Start: start, Duration: d, Err: err}
	s.r.mu.Lock()
	s.r.phases = append(s.r.phases, t)
	s.r.mu.Unlock()
}

// Result sets a short suffix for the step's ✓ line, e.g. "unchanged" or "3 created".
func (s *Status) Result(msg string) {
	s.mu.Lock()
	s.result = msg
	s.mu.Unlock()
}

// Infof prints a detail line, shown only with -v.
func (s *Status) Infof(format string, args ...any) {
	if !s.r.verbose {
		return
	}
	s.r.line(s.indent + "   " + s.r.paint(dim, "· "+fmt.Sprintf(format, args...)))
}

// Notef prints a progress line a person waiting wants to see (not only with -v); -q hides it.
func (s *Status) Notef(format string, args ...any) {
	if s.r.quiet {
		return
	}
	s.r.line(s.indent + "   " + "· " + fmt.Sprintf(format, args...))
}

// Warnf prints a warning line outside any step, e.g. while waiting before the first one.
func (r *Runner) Warnf(format string, args ...any) {
	r.line(" " + r.paint(yellow, "! "+fmt.Sprintf(format, args...)))
}

// Warnf prints a warning line; it is shown even with -q because it needs the user's attention.
func (s *Status) Warnf(format string, args ...any) {
	s.r.line(s.indent + " " + s.r.paint(yellow, "! "+fmt.Sprintf(format, args...)))
}

const (
	green  = "32"
	red    = "31"
	yellow = "33"
	dim    = "2"
)

func (r *Runner) paint(code, s string) string {
	if !r.color {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// line prints one finished line, keeping the spinner (if any) below it.
func (r *Runner) line(text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tty {
		fmt.Fprint(r.out, "\r\x1b[2K")
	}
	fmt.Fprintln(r.out, text)
	r.drawSpinner()
}

var frames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// drawSpinner must be called with r.mu held.
func (r *Runner) drawSpinner() {
	if !r.tty || r.quiet || r.spinner == "" {
		return
	}
	fmt.Fprintf(r.out, "\r\x1b[2K %s %s ", r.paint(dim, frames[r.frame%len(frames)]), r.spinner)
}

func (r *Runner) startSpinner(name string) (stop func()) {
	if !r.tty || r.quiet {
		return func() {}
	}
	r.mu.Lock()
	r.spinner = name
	r.drawSpinner()
	r.mu.Unlock()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				r.mu.Lock()
				r.frame++
				r.drawSpinner()
				r.mu.Unlock()
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		r.mu.Lock()
		r.spinner = ""
		fmt.Fprint(r.out, "\r\x1b[2K")
		r.mu.Unlock()
	}
}

// finish prints a step's ✓/✗ line. A step that failed once ctx had ended failed because of it,
// whatever its own error says (a killed `docker save`, a cut connection): it reads "interrupted"
// or "timed out".
func (r *Runner) finish(ctx context.Context, indent, name, result string, d time.Duration, err error) {
	if r.quiet {
		return
	}
	mark, code := "✓", green
	if err != nil {
		mark, code = "✗", red
		switch cause := ctx.Err(); {
		case errors.Is(err, context.Canceled), errors.Is(cause, context.Canceled):
			result = "interrupted"
		case errors.Is(err, context.DeadlineExceeded), errors.Is(cause, context.DeadlineExceeded):
			result = "timed out"
		}
	}
	text := indent + " " + r.paint(code, mark) + " " + name
	if result != "" {
		text += " · " + result
	}
	text += " " + r.paint(dim, "("+FormatDuration(d)+")")
	r.line(text)
}

// FormatDuration rounds a duration the way a person reads a step time: 0.4s, 12.3s, 2m05s.
func FormatDuration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	d = d.Round(time.Second)
	return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
}

// Run runs steps in order and stops at the first error, which it returns unchanged (the ✗ line
// already names the step). The timings of every step that ran are returned either way.
func (r *Runner) Run(ctx context.Context, steps []Step) ([]Timing, error) {
	var timings []Timing
	for _, st := range steps {
		if err := ctx.Err(); err != nil {
			return timings, err
		}
		status := &Status{r: r, timing: &timings, prefix: st.Name}
		stop := r.startSpinner(st.Name)
		start := time.Now()
		idx := len(timings)
		timings = append(timings, Timing{Step: st.Name, Start: start})
		err := st.Run(ctx, status)
		d := time.Since(start)
		stop()
		timings[idx].Duration, timings[idx].Err = d, err
		r.mu.Lock()
		phases := r.phases
		r.phases = nil
		r.mu.Unlock()
		slices.SortStableFunc(phases, func(a, b Timing) int { return a.Start.Compare(b.Start) })
		timings = append(timings, phases...)
		status.mu.Lock()
		result := status.result
		status.mu.Unlock()
		r.finish(ctx, "", st.Name, result, d, err)
		if err != nil {
			return timings, err
		}
	}
	return timings, nil
}

// Parallel returns a step whose children run concurrently; each child gets its own ✓/✗ line as it
// finishes, and the parent fails with every child's error joined.
func Parallel(name string, children ...Step) Step {
	return Step{Name: name, Run: func(ctx context.Context, parent *Status) error {
		type outcome struct {
			start time.Time
			d     time.Duration
			err   error
		}
		results := make([]outcome, len(children))
		var wg sync.WaitGroup
		for i, c := range children {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st := &Status{r: parent.r, indent: "  ", prefix: parent.prefix + "/" + c.Name}
				start := time.Now()
				err := c.Run(ctx, st)
				d := time.Since(start)
				if err != nil {
					err = fmt.Errorf("%s: %w", strings.ToLower(c.Name), err)
				}
				results[i] = outcome{start, d, err}
				st.mu.Lock()
				res := st.result
				st.mu.Unlock()
				parent.r.finish(ctx, "  ", c.Name, res, d, err)
			}()
		}
		wg.Wait()
		var errs []error
		failed := 0
		for i, c := range children {
			if parent.timing != nil {
				*parent.timing = append(*parent.timing, Timing{Step: parent.prefix + "/" + c.Name, Start: results[i].start, Duration: results[i].d, Err: results[i].err})
			}
			if results[i].err != nil {
				errs = append(errs, results[i].err)
				failed++
			}
		}
		if failed > 0 {
			parent.Result(fmt.Sprintf("%d of %d failed", failed, len(children)))
		}
		return errors.Join(errs...)
	}}
}
