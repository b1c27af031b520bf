package livepatch

// MutationHandlerIgnoresState makes the ftrace handler ignore the task's
// patch state: during a transition every task runs the newest patch's
// code, switched or not (a bug the consistency checker must catch).
const MutationHandlerIgnoresState = mutationHandlerIgnoresState

// Mutate gives the core a deliberate bug (a Mutation* name; "" for
// none), for the tests that show the consistency checker catches it.
func (c *Core) Mutate(m string) { c.mutation = m }
