package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"

	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	kindexec "sigs.k8s.io/kind/pkg/exec"
)

// writeNodeFile writes content to path in the node's container with kind's nodeutils.WriteFile
// (`mkdir -p`, then `cp /dev/stdin`), under a temporary name first: containerd reads hosts.toml
// on any pull and must see the old file or the new one, never half of it. Every command is a
// program and its arguments; no shell reads a path or the content.
func (m *Manager) writeNodeFile(ctx context.Context, rt Runtime, node, file, content string) error {
	tmp := file + ".tmp"
	if err := nodeutils.WriteFile(m.execNode(ctx, rt, node), tmp, content); err != nil {
		return fmt.Errorf("write %s in node %s: %w", file, node, err)
	}
	if out, err := m.Run(ctx, rt.Binary, "exec", node, "mv", tmp, file); err != nil {
		return fmt.Errorf("write %s in node %s: %s: %w", file, node, lastLine(out), err)
	}
	return nil
}

// removeNodeFile removes a file kindstack wrote into the node, and its directory when that is
// empty now (a directory that holds the user's own files stays).
func (m *Manager) removeNodeFile(ctx context.Context, rt Runtime, node, file string) error {
	if out, err := m.Run(ctx, rt.Binary, "exec", node, "rm", "-f", file); err != nil {
		return fmt.Errorf("remove %s from node %s: %s: %w", file, node, lastLine(out), err)
	}
	_, _ = m.Run(ctx, rt.Binary, "exec", node, "rmdir", path.Dir(file))
	return nil
}

// execNode is one node's container reached through the runtime's CLI (`<runtime> exec`, with -i
// when the command has an input), as kind's own nodes are: enough of kind's nodes.Node for
// nodeutils' helpers. Its commands run through the Manager's runners, bound to ctx.
type execNode struct {
	ctx  context.Context
	m    *Manager
	rt   Runtime
	name string
}

func (m *Manager) execNode(ctx context.Context, rt Runtime, name string) nodes.Node {
	return execNode{ctx: ctx, m: m, rt: rt, name: name}
}

func (n execNode) String() string { return n.name }

func (n execNode) Command(command string, args ...string) kindexec.Cmd {
	return n.CommandContext(n.ctx, command, args...)
}

func (n execNode) CommandContext(ctx context.Context, command string, args ...string) kindexec.Cmd {
	return &execNodeCmd{ctx: ctx, node: n, argv: append([]string{command}, args...)}
}

// errNotKindNode answers what only kind's own node objects know.
var errNotKindNode = errors.New("not known through the runtime's exec")

func (n execNode) Role() (string, error)       { return "", errNotKindNode }
func (n execNode) IP() (string, string, error) { return "", "", errNotKindNode }
func (n execNode) SerialLogs(io.Writer) error  { return errNotKindNode }

// execNodeCmd is one command in an execNode.
type execNodeCmd struct {
	ctx            context.Context
	node           execNode
	argv           []string
	env            []string
	stdin          io.Reader
	stdout, stderr io.Writer
}

func (c *execNodeCmd) Run() error {
	n := c.node
	var (
		out []byte
		err error
	)
	args := []string{"exec"}
	if c.stdin != nil {
		args = append(args, "-i")
	}
	for _, kv := range c.env {
		args = append(args, "-e", kv)
	}
	args = append(append(args, n.name), c.argv...)
	if c.stdin != nil {
		out, err = n.m.RunInput(c.ctx, c.stdin, n.rt.Binary, args...)
	} else {
		out, err = n.m.Run(c.ctx, n.rt.Binary, args...)
	}
	if w := c.stdout; w != nil {
		_, _ = w.Write(out)
	} else if w := c.stderr; w != nil {
		_, _ = w.Write(out)
	}
	if err != nil {
		return fmt.Errorf("%s: %s: %w", c.argv[0], lastLine(out), err)
	}
	return nil
}

func (c *execNodeCmd) SetEnv(env ...string) kindexec.Cmd  { c.env = env; return c }
func (c *execNodeCmd) SetStdin(r io.Reader) kindexec.Cmd  { c.stdin = r; return c }
func (c *execNodeCmd) SetStdout(w io.Writer) kindexec.Cmd { c.stdout = w; return c }
func (c *execNodeCmd) SetStderr(w io.Writer) kindexec.Cmd { c.stderr = w; return c }
