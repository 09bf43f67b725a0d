package kube

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Decode splits multi-document YAML (or JSON) into objects. Empty documents and documents holding
// only comments are skipped; a `kind: List` document is expanded into its items. An error names
// the source and the 1-based document index, so a person can find the document by counting `---`.
func Decode(source string, data []byte) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []*unstructured.Unstructured
	for doc := 1; ; doc++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decode %s: document %d: %w", source, doc, err)
		}
		decoded, err := decodeDocument(raw)
		if err != nil {
			return nil, fmt.Errorf("decode %s: document %d: %w", source, doc, err)
		}
		objs = append(objs, decoded...)
	}
}

func decodeDocument(raw []byte) ([]*unstructured.Unstructured, error) {
	// Strict: a duplicated key is almost always an editing mistake that would silently drop a value.
	js, err := yaml.YAMLToJSONStrict(raw)
	if err != nil {
		return nil, err
	}
	js = bytes.TrimSpace(js)
	if len(js) == 0 || bytes.Equal(js, []byte("null")) {
		return nil, nil
	}
	var content map[string]any
	// utiljson keeps integers as int64, which unstructured helpers require.
	if err := utiljson.Unmarshal(js, &content); err != nil {
		return nil, fmt.Errorf("not an object: %w", err)
	}
	if len(content) == 0 {
		return nil, nil
	}
	u := &unstructured.Unstructured{Object: content}
	if u.IsList() {
		list, err := u.ToList()
		if err != nil {
			return nil, err
		}
		var objs []*unstructured.Unstructured
		for i := range list.Items {
			item := &list.Items[i]
			if err := checkIdentity(item); err != nil {
				return nil, fmt.Errorf("list item %d: %w", i+1, err)
			}
			objs = append(objs, item)
		}
		return objs, nil
	}
	if err := checkIdentity(u); err != nil {
		return nil, err
	}
	return []*unstructured.Unstructured{u}, nil
}

func checkIdentity(u *unstructured.Unstructured) error {
	switch {
	case u.GetAPIVersion() == "":
		return errors.New("apiVersion is missing")
	case u.GetKind() == "":
		return errors.New("kind is missing")
	case u.GetName() == "":
		return fmt.Errorf("%s has no metadata.name", u.GetKind())
	}
	return nil
}
