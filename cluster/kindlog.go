package cluster

import (
	"fmt"
	"strings"

	"sigs.k8s.io/kind/pkg/log"
)

// kindLogger forwards kind's messages: its progress becomes details, its warnings stay warnings.
type kindLogger struct{ info, warn Logf }

func (l kindLogger) Warn(message string)               { l.warn("%s", trimLine(message)) }
func (l kindLogger) Warnf(format string, args ...any)  { l.Warn(fmt.Sprintf(format, args...)) }
func (l kindLogger) Error(message string)              { l.Warn(message) }
func (l kindLogger) Errorf(format string, args ...any) { l.Warnf(format, args...) }
func (l kindLogger) V(level log.Level) log.InfoLogger  { return kindInfo{l: l, on: level == 0} }
func (kindInfo) Enabled() bool                         { return true }
func (i kindInfo) Info(message string) {
	if i.on {
		i.l.info("%s", trimLine(message))
	}
}
func (i kindInfo) Infof(format string, args ...any) { i.Info(fmt.Sprintf(format, args...)) }

// trimLine drops the padding and newlines kind's own CLI puts around its status messages: our
// step runner lays lines out itself.
func trimLine(s string) string { return strings.TrimSpace(s) }

type kindInfo struct {
	l  kindLogger
	on bool
}
