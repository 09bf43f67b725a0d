package cluster

import (
	"bytes"

	"go.yaml.in/yaml/v3"
)

// The helpers below edit a kubeconfig as a YAML node tree, so that every entry kindstack does not
// own keeps its comments, order and style byte for byte.

func value(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalarValue(m *yaml.Node, key string) string {
	if v := value(m, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

func seq(m *yaml.Node, key string) *yaml.Node {
	if v := value(m, key); v != nil && v.Kind == yaml.SequenceNode {
		return v
	}
	return nil
}

// ensureSeq returns the list under key, turning a missing or null value into an empty block list.
func ensureSeq(m *yaml.Node, key string) *yaml.Node {
	if v := value(m, key); v != nil {
		if v.Kind != yaml.SequenceNode {
			*v = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		}
		v.Style &^= yaml.FlowStyle
		return v
	}
	v := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
	return v
}

// setScalar sets key to a string value and reports whether that changed anything.
func setScalar(m *yaml.Node, key, val string) bool {
	if v := value(m, key); v != nil {
		if v.Kind == yaml.ScalarNode && v.Value == val && (v.Tag == "!!str" || val != "") {
			return false
		}
		*v = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: val}
		return true
	}
	m.Content = append(m.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: val})
	return true
}

func findNamed(list *yaml.Node, name string) *yaml.Node {
	if list == nil {
		return nil
	}
	for _, item := range list.Content {
		if scalarValue(item, "name") == name {
			return item
		}
	}
	return nil
}

// sameNode compares two YAML subtrees by content, ignoring positions and styles.
func sameNode(a, b *yaml.Node) bool {
	var x, y any
	if a.Decode(&x) != nil || b.Decode(&y) != nil {
		return false
	}
	xb, _ := yaml.Marshal(x)
	yb, _ := yaml.Marshal(y)
	return bytes.Equal(xb, yb)
}
