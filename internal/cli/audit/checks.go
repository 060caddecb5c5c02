package audit

import "context"

// check is one attempt of a hostile tenant. It returns the outcome and the evidence: the
// refusal, or what got through.
type check struct {
	name string
	run  func(ctx context.Context, e *env) (Outcome, string)
}

// group is checks that share a setup (and a positive control): setup returns "" when the
// checks can run, else why not, which becomes every check's ERROR evidence.
type group struct {
	name   string
	setup  func(ctx context.Context, e *env) string
	checks []check
}

// groups are all the checks, in the order they run.
func groups() []group {
	return []group{admissionGroup(), quotaGroup(), networkGroup(), kubeletProxyGroup()}
}

// run runs the group's checks one after the other.
func (g group) run(ctx context.Context, e *env) []Result {
	var results []Result
	broken := ""
	if g.setup != nil {
		broken = g.setup(ctx, e)
	}
	for _, c := range g.checks {
		name := g.name + ": " + c.name
		if broken != "" {
			results = append(results, Result{Check: name, Result: Error, Evidence: broken})
			continue
		}
		o, evidence := c.run(ctx, e)
		results = append(results, Result{Check: name, Result: o, Evidence: evidence})
	}
	return results
}
