package machine

// A progress watch measures whether the CPUs keep doing ordinary work
// while something runs (a live patch's stack check): per CPU, the
// longest stretch of virtual time during which it retired no instruction
// of ordinary work although it had some. A CPU makes no progress while it
// runs its stopper thread (stop_machine), or while it idles although a
// runnable task is held (HC_TASK_HOLD) and could have run on it. It makes
// progress when it retires instructions of any other task, runs user
// code, or idles with nothing it could run. Gaps are measured on each
// CPU's own clock, to the instruction.

type progressWatch struct {
	stalling []bool
	from     []uint64 // clock at which the current stall began
	maxGap   []uint64
}

// WatchProgress starts a progress watch (restarting one in progress).
func (m *Machine) WatchProgress() {
	n := len(m.cpus)
	m.watch = &progressWatch{stalling: make([]bool, n), from: make([]uint64, n), maxGap: make([]uint64, n)}
}

// StopWatchProgress ends the progress watch and returns the longest
// stretch any CPU made no progress, and that CPU (-1 if none stalled).
// Without a watch it returns 0, -1.
func (m *Machine) StopWatchProgress() (gap uint64, cpuID int) {
	w := m.watch
	m.watch = nil
	cpuID = -1
	if w == nil {
		return 0, -1
	}
	for i, v := range m.cpus {
		if w.stalling[i] {
			// Still stalled: up to its clock now.
			w.stall(i, m.clock(v), m.clock(v))
		}
		if w.maxGap[i] > gap {
			gap, cpuID = w.maxGap[i], i
		}
	}
	return gap, cpuID
}

// stall notes that CPU i made no progress from from to to.
func (w *progressWatch) stall(i int, from, to uint64) {
	if !w.stalling[i] {
		w.stalling[i], w.from[i] = true, from
	}
	w.maxGap[i] = max(w.maxGap[i], to-w.from[i])
}

// progress notes that CPU i did ordinary work.
func (w *progressWatch) progress(i int) { w.stalling[i] = false }

// noteRun records that v ran t for ran instructions from clock start.
func (m *Machine) noteRun(v *VCPU, t *Task, start, ran uint64) {
	w := m.watch
	switch {
	case w == nil:
	case t.bound != nil:
		w.stall(v.ID, start, start+ran)
	case ran > 0:
		w.progress(v.ID)
	}
}

// noteIdle records that v idled from clock start for n ns.
func (m *Machine) noteIdle(v *VCPU, start, n uint64) {
	w := m.watch
	if w == nil {
		return
	}
	for _, t := range m.runq {
		if t.held {
			w.stall(v.ID, start, start+n)
			return
		}
	}
	w.progress(v.ID)
}
