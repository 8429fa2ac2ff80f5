package instance

import "fmt"

// withinBudget counts a node's rendered objects against the cap on objects
// per instance; a node that would exceed it is not applied and reported.
func (p *pass) withinBudget(nid string, objects, limit int) bool {
	p.shared.mu.Lock()
	defer p.shared.mu.Unlock()
	if limit > 0 && p.shared.rendered+objects > limit {
		p.failures = append(p.failures, nodeMessage{nid, fmt.Sprintf(
			"the instance renders more than %d objects in total (--max-objects-per-instance); this resource's %d object(s) are not applied", limit, objects)})
		return false
	}
	p.shared.rendered += objects
	return true
}
