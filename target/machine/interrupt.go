package machine

// Stall holds every CPU for ns nanoseconds of virtual time, starting at
// the end of the current round (or at once between rounds): no task runs
// while the clock advances, as while stop_machine() holds the CPUs. The
// livepatch core charges its stop_machine transitions this way.
func (m *Machine) Stall(ns uint64) { m.stall += ns }
