package resolver

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/korvid/korvid/internal/graph"
)

// Static resolves the built-in kinds of the embedded kube-apiserver snapshot
// and the kinds of the CustomResourceDefinitions added to it. A CRD kind
// takes precedence over a built-in kind of the same group, version and kind.
// It is safe for concurrent use.
type Static struct {
	mu sync.RWMutex
	// kinds holds every kind resolved so far: CRD kinds when added, built-in
	// kinds on first use.
	kinds map[schema.GroupVersionKind]*graph.ResolvedKind
	// crdVersions lists the served versions of each CRD group/kind.
	crdVersions map[schema.GroupKind][]string
}

var _ graph.SchemaResolver = (*Static)(nil)

// NewStatic returns a static resolver knowing the built-in kinds and the kinds
// of crds.
func NewStatic(crds ...*extv1.CustomResourceDefinition) (*Static, error) {
	if _, err := loadBuiltin(); err != nil {
		return nil, err
	}
	s := &Static{
		kinds:       map[schema.GroupVersionKind]*graph.ResolvedKind{},
		crdVersions: map[schema.GroupKind][]string{},
	}
	for _, crd := range crds {
		if err := s.AddCRD(crd); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// NewStaticFromFiles returns a static resolver knowing the built-in kinds and
// the CRDs of the given YAML or JSON files and directories (see ReadCRDFiles).
func NewStaticFromFiles(paths ...string) (*Static, error) {
	crds, err := ReadCRDFiles(paths...)
	if err != nil {
		return nil, err
	}
	return NewStatic(crds...)
}

// AddCRD makes the served versions of crd resolvable, replacing the kinds an
// earlier CRD of the same group and kind defined.
func (s *Static) AddCRD(crd *extv1.CustomResourceDefinition) error {
	kinds, err := crdKinds(crd)
	if err != nil {
		return err
	}
	gk := kinds[0].GVK.GroupKind()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.crdVersions[gk] {
		delete(s.kinds, gk.WithVersion(v))
	}
	versions := make([]string, 0, len(kinds))
	for _, k := range kinds {
		s.kinds[k.GVK] = k
		versions = append(versions, k.GVK.Version)
	}
	s.crdVersions[gk] = versions
	return nil
}

// LoadCRDFiles adds the CRDs of the given YAML or JSON files and directories.
func (s *Static) LoadCRDFiles(paths ...string) error {
	crds, err := ReadCRDFiles(paths...)
	if err != nil {
		return err
	}
	for _, crd := range crds {
		if err := s.AddCRD(crd); err != nil {
			return err
		}
	}
	return nil
}

// Resolve implements graph.SchemaResolver.
func (s *Static) Resolve(gvk schema.GroupVersionKind) (*graph.ResolvedKind, error) {
	s.mu.RLock()
	k, ok := s.kinds[gvk]
	s.mu.RUnlock()
	if ok {
		return k, nil
	}
	b, err := loadBuiltin()
	if err != nil {
		return nil, err
	}
	k, err = b.lookup(gvk)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, s.notFound(b, gvk)
	}
	s.mu.Lock()
	if existing, ok := s.kinds[gvk]; ok {
		// A CRD was added meanwhile; it takes precedence.
		k = existing
	} else {
		s.kinds[gvk] = k
	}
	s.mu.Unlock()
	return k, nil
}

// notFound explains a miss, listing the versions that do serve the group and
// kind, if any.
func (s *Static) notFound(b *builtinKinds, gvk schema.GroupVersionKind) error {
	gk := gvk.GroupKind()
	s.mu.RLock()
	versions := append([]string(nil), s.crdVersions[gk]...)
	s.mu.RUnlock()
	versions = append(versions, b.versions[gk]...)
	if len(versions) == 0 {
		return fmt.Errorf("kind %q of apiVersion %q is neither a built-in kind (%s) nor defined by a known CustomResourceDefinition: %w",
			gvk.Kind, gvk.GroupVersion().String(), b.source, graph.ErrKindNotFound)
	}
	sort.Strings(versions)
	return fmt.Errorf("kind %q is not served in version %q of group %q; served versions: %s: %w",
		gvk.Kind, gvk.Version, gvk.Group, strings.Join(versions, ", "), graph.ErrKindNotFound)
}
