package flags

import "github.com/kplex-dev/kplex/internal/controlplane/args"

// SchedulerConfig is what the scheduler needs.
type SchedulerConfig struct {
	Kubeconfig string // client certificate of system:kube-scheduler
	ExtraArgs  []args.Arg
}

// Scheduler returns the kube-scheduler flags.
func Scheduler(c SchedulerConfig) []string {
	return args.Render(args.Merge([]args.Arg{
		{Key: "kubeconfig", Value: c.Kubeconfig},
		{Key: "authentication-kubeconfig", Value: c.Kubeconfig},
		{Key: "authorization-kubeconfig", Value: c.Kubeconfig},
		{Key: "leader-elect", Value: "false"},
		{Key: "secure-port", Value: "0"},
	}, c.ExtraArgs))
}
