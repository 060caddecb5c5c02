// Package host connects the kplex CLI to the host cluster the way kubectl
// does (--kubeconfig, --context, KUBECONFIG, ~/.kube/config), with one
// addition for the devhost, and turns the host's errors into one line that
// names the cause and the fix.
package host

import (
	"context"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/clientcmd"
)

// DevhostKubeconfig is where `kplex-devhost up` writes the host's admin
// kubeconfig (internal/devhost/layout with the default data dir).
const DevhostKubeconfig = "/var/lib/kplex-devhost/kubeconfig"

// Options are the global flags that choose the host.
type Options struct {
	Kubeconfig string
	Context    string
}

// AddFlags registers --kubeconfig and --context.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig of the host cluster (default: $KUBECONFIG, else ~/.kube/config, else the devhost's "+DevhostKubeconfig+")")
	fs.StringVar(&o.Context, "context", "", "context of the kubeconfig to use for the host (default: its current context)")
}

// Env is what the kubeconfig search reads from the process environment,
// injected so that tests do not depend on the machine.
type Env struct {
	KUBECONFIG        string // the environment variable: a list of files
	Home              string // for ~/.kube/config
	DevhostKubeconfig string // fallback when there is no other kubeconfig
}

// ProcessEnv is the Env of this process.
func ProcessEnv() Env {
	home, _ := os.UserHomeDir()
	return Env{KUBECONFIG: os.Getenv(clientcmd.RecommendedConfigPathEnvVar), Home: home, DevhostKubeconfig: DevhostKubeconfig}
}

// homeKubeconfig is ~/.kube/config.
func (e Env) homeKubeconfig() string {
	return filepath.Join(e.Home, clientcmd.RecommendedHomeDir, clientcmd.RecommendedFileName)
}

// LoadingRules are kubectl's rules (--kubeconfig, else $KUBECONFIG, else
// ~/.kube/config) with one addition: when neither $KUBECONFIG nor
// ~/.kube/config exists, the devhost's kubeconfig is used, so that every
// command works with no flags on a machine that ran `kplex-devhost up`. It
// is never merged with another file: a user's own kubeconfig always wins.
func (o Options) LoadingRules(env Env) *clientcmd.ClientConfigLoadingRules {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: o.Kubeconfig}
	switch home := env.homeKubeconfig(); {
	case env.KUBECONFIG != "":
		rules.Precedence = filepath.SplitList(env.KUBECONFIG)
	case env.Home != "" && exists(home):
		rules.Precedence = []string{home}
	case env.DevhostKubeconfig != "" && exists(env.DevhostKubeconfig):
		rules.Precedence = []string{env.DevhostKubeconfig}
	case env.Home != "":
		rules.Precedence = []string{home}
	}
	return rules
}

// WriteTarget is the file `kplex connect` merges into: the one kubectl
// config would modify (--kubeconfig, else the first existing file of
// $KUBECONFIG, else its last, else ~/.kube/config). Never the devhost's
// file, which belongs to kplex-devhost.
func (o Options) WriteTarget(env Env) string {
	if o.Kubeconfig != "" {
		return o.Kubeconfig
	}
	if env.KUBECONFIG != "" {
		files := filepath.SplitList(env.KUBECONFIG)
		for _, f := range files {
			if exists(f) {
				return f
			}
		}
		return files[len(files)-1]
	}
	return env.homeKubeconfig()
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// RunE is the RunE of a command that works on the host: it loads the
// kubeconfig, then calls run with the connection and the arguments.
func (o *Options) RunE(log logr.Logger, run func(ctx context.Context, h *Host, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		h, err := o.Connect(ProcessEnv(), log)
		if err != nil {
			return err
		}
		return run(cmd.Context(), h, args)
	}
}
