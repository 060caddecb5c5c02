package component

import (
	"fmt"

	"github.com/spf13/pflag"
	cliflag "k8s.io/component-base/cli/flag"
)

// Parse applies argv to an upstream component's named flag sets, as its own command
// would. userFlag names the kplex flag that carries overrides, for the error message.
func Parse(name string, sets cliflag.NamedFlagSets, argv []string, userFlag string) error {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	for _, f := range sets.FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(argv); err != nil {
		return fmt.Errorf("invalid %s: %w", userFlag, err)
	}
	return nil
}
