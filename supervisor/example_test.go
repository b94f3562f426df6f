package supervisor_test

import (
	"fmt"
	"time"

	"github.com/rskv-go/rskv/actors"
	"github.com/rskv-go/rskv/actors/actorstest"
	"github.com/rskv-go/rskv/supervisor"
)

// A store builds one tree over its four roles, each with its role's
// policy. Here a fake target stands in for the store.
func ExampleTree() {
	store := actorstest.NewTarget() // the store: every target interface
	clock := actors.SystemClock{}
	tree, err := supervisor.New(supervisor.Config{
		Name: "store-x",
		Children: []supervisor.Child{
			{Service: actors.NewCheckpointer(store, 5*time.Second, clock), Policy: supervisor.CheckpointerPolicy()},
			{Service: actors.NewCollector(store, 10*time.Second, clock), Policy: supervisor.CollectorPolicy()},
			{Service: actors.NewLogShifter(store, time.Second, clock), Policy: supervisor.LogShifterPolicy()},
			{Service: actors.NewSyncer(store, 100*time.Millisecond, clock), Policy: supervisor.SyncerPolicy()},
		},
	})
	if err != nil {
		panic(err)
	}
	if err := tree.Start(); err != nil {
		panic(err)
	}
	fmt.Println(tree)
	if err := tree.Stop(); err != nil {
		panic(err)
	}
	fmt.Println(tree.Status().Active, "active after Stop")
	// Output:
	// store-x (running, 4 of 4 services active)
	// ├─ checkpointer (running)
	// ├─ collector (running)
	// ├─ log-shifter (running)
	// └─ syncer (running)
	// 0 active after Stop
}
