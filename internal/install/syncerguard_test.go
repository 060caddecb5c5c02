package install

import (
	"testing"

	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/cel/environment"
)

// TestSyncerGuardCompiles: every variable, match condition and validation of the syncer
// guard compiles in the API server's own CEL environment for ValidatingAdmissionPolicies
// (with its libraries: cidr(), split(), ...). A policy that does not compile would refuse
// every write of every syncer (failurePolicy Fail); the integration test TestOperatorIsolation
// evaluates it against a real API server.
func TestSyncerGuardCompiles(t *testing.T) {
	c, err := plugincel.NewCompositedCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	if err != nil {
		t.Fatal(err)
	}
	opts := plugincel.OptionalVariableDeclarations{HasAuthorizer: true}
	p := syncerGuardPolicy()
	for _, v := range p.Spec.Variables {
		if r := c.CompileAndStoreVariable(&validating.Variable{Name: v.Name, Expression: v.Expression}, opts, environment.StoredExpressions); r.Error != nil {
			t.Errorf("variable %s: %v", v.Name, r.Error)
		}
	}
	for _, m := range p.Spec.MatchConditions {
		if r := c.CompileCELExpression(&validating.ValidationCondition{Expression: m.Expression}, opts, environment.StoredExpressions); r.Error != nil {
			t.Errorf("match condition %s: %v", m.Name, r.Error)
		}
	}
	for _, v := range p.Spec.Validations {
		if r := c.CompileCELExpression(&validating.ValidationCondition{Expression: v.Expression}, opts, environment.StoredExpressions); r.Error != nil {
			t.Errorf("validation %q: %v", v.Message, r.Error)
		}
	}
}
