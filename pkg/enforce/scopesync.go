package enforce

import "sync"

// scopeTable is the scope table container attribution keeps
// (containers.ScopeTable): it writes the kernel's, asks for a reconcile
// whenever a container appears, so that its enforcement follows within
// microseconds of attribution knowing it, and stops enforcing on a scope
// once its last container is gone (and asks for a reconcile, which removes
// its fanotify marks).
type scopeTable struct {
	kernel *ScopeMap
	prompt chan<- struct{}
	gone   func(scope uint32)

	mu     sync.Mutex
	scopes map[uint64]uint32 // cgroup → scope, to know when a scope is empty
}

func (s *scopeTable) Set(cgroupID uint64, scope uint32) error {
	if err := s.kernel.Set(cgroupID, scope); err != nil {
		return err
	}
	s.mu.Lock()
	s.scopes[cgroupID] = scope
	s.mu.Unlock()
	select {
	case s.prompt <- struct{}{}:
	default: // a reconcile is pending already
	}
	return nil
}

func (s *scopeTable) Delete(cgroupID uint64) error {
	if err := s.kernel.Delete(cgroupID); err != nil {
		return err
	}
	s.mu.Lock()
	scope, ok := s.scopes[cgroupID]
	delete(s.scopes, cgroupID)
	empty := ok
	for _, other := range s.scopes {
		if other == scope {
			empty = false
			break
		}
	}
	s.mu.Unlock()
	if empty {
		s.gone(scope)
		select {
		case s.prompt <- struct{}{}: // its fanotify marks go
		default:
		}
	}
	return nil
}
