// Package args checks the positional arguments of kplex commands.
package args

import (
	"fmt"

	"github.com/spf13/cobra"
)

// OneName accepts exactly one argument, the virtual cluster's name, and
// says so otherwise.
func OneName(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("kplex %s needs exactly one virtual cluster NAME (got %d arguments): e.g. kplex %s team-a", cmd.Name(), len(args), cmd.Name())
	}
	return nil
}
