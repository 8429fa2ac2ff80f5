package trust

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// aggregatedAccept asks for the aggregated discovery document: every group,
// version and resource the API server serves (aggregated APIs included) in
// one answer, which the API server tags with an ETag.
const aggregatedAccept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

// servedIndex is what CheckServed asks a discovery client for when it can
// answer from the aggregated document.
type servedIndex interface {
	// servedBy returns the top-level resources that serve gk at any version,
	// and ok=false when the index cannot answer (the caller then asks
	// discovery group by group).
	servedBy(ctx context.Context, gk schema.GroupKind) (resources []string, ok bool, err error)
}

// WithAggregatedDiscovery returns disc answering the served-kind check from
// the API server's aggregated discovery document. Every check still asks the
// API server, as fresh as before: with the ETag of the document it read
// last, so an unchanged document costs one request answered 304 with no
// body, where asking group by group costs two requests and two documents to
// decode on every RGD admission. An API server that does not serve the
// aggregated document gets the group-by-group questions.
func WithAggregatedDiscovery(disc discovery.DiscoveryInterface) discovery.DiscoveryInterface {
	if disc == nil {
		return nil
	}
	return &aggregatedDiscovery{DiscoveryInterface: disc}
}

type aggregatedDiscovery struct {
	discovery.DiscoveryInterface

	mu sync.Mutex
	// unsupported is set once the API server answered without the
	// aggregated document.
	unsupported bool
	// last is the document read last.
	last *servedSnapshot
}

// servedSnapshot is what one aggregated discovery document says.
type servedSnapshot struct {
	etag string
	// resources are the top-level resources serving each group/kind;
	// stale are the groups with a version the API server could not
	// discover (an aggregated API that is down).
	resources map[schema.GroupKind][]string
	stale     map[string]string
}

func (a *aggregatedDiscovery) servedBy(ctx context.Context, gk schema.GroupKind) ([]string, bool, error) {
	rc, ok := a.RESTClient().(*rest.RESTClient)
	if !ok || rc == nil || rc.Client == nil || gk.Group == "" {
		return nil, false, nil
	}
	a.mu.Lock()
	unsupported, last := a.unsupported, a.last
	a.mu.Unlock()
	if unsupported {
		return nil, false, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rc.Get().AbsPath("/apis").URL().String(), nil)
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Accept", aggregatedAccept)
	if last != nil && last.etag != "" {
		req.Header.Set("If-None-Match", last.etag)
	}
	resp, err := rc.Client.Do(req)
	if err != nil {
		return nil, false, fmt.Errorf("reading the API server's discovery: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	// The answer comes from the document the API server vouched for in
	// this very reply: the one sent back, or for a 304 the one whose tag
	// was sent (concurrent checks may store their documents in any order).
	var snap *servedSnapshot
	switch {
	case resp.StatusCode == http.StatusNotModified && last != nil:
		snap = last
	case resp.StatusCode != http.StatusOK:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, false, fmt.Errorf("reading the API server's discovery: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	case !strings.Contains(resp.Header.Get("Content-Type"), "g=apidiscovery.k8s.io"):
		a.mu.Lock()
		a.unsupported = true
		a.mu.Unlock()
		return nil, false, nil
	default:
		var doc apidiscoveryv2.APIGroupDiscoveryList
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			return nil, false, fmt.Errorf("decoding the API server's discovery: %w", err)
		}
		snap = indexServed(&doc)
		snap.etag = resp.Header.Get("ETag")
		a.mu.Lock()
		a.last = snap
		a.mu.Unlock()
	}
	if v, ok := snap.stale[gk.Group]; ok {
		return nil, false, fmt.Errorf("discovering %s: the API server could not reach the API serving it", v)
	}
	return snap.resources[gk], true, nil
}

// indexServed lists the top-level resources serving each group/kind, and the
// groups with a version the API server reports as stale.
func indexServed(doc *apidiscoveryv2.APIGroupDiscoveryList) *servedSnapshot {
	snap := &servedSnapshot{resources: map[schema.GroupKind][]string{}, stale: map[string]string{}}
	for _, g := range doc.Items {
		for _, v := range g.Versions {
			if v.Freshness == apidiscoveryv2.DiscoveryFreshnessStale {
				snap.stale[g.Name] = schema.GroupVersion{Group: g.Name, Version: v.Version}.String()
			}
			for _, r := range v.Resources {
				if r.ResponseKind == nil || r.ResponseKind.Kind == "" {
					continue
				}
				gk := schema.GroupKind{Group: g.Name, Kind: r.ResponseKind.Kind}
				if !slices.Contains(snap.resources[gk], r.Resource) {
					snap.resources[gk] = append(snap.resources[gk], r.Resource)
				}
			}
		}
	}
	return snap
}
