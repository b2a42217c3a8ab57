package radiusd

import (
	"time"

	"keycard/eaptls"
)

// SetConversationClock replaces the clock of the EAP conversation table
// (idle deadlines), so that tests make time pass without sleeping.
func (s *Server) SetConversationClock(now func() time.Time) {
	s.conversations.mu.Lock()
	defer s.conversations.mu.Unlock()
	s.conversations.now = now
}

// StoredTickets returns how many TLS sessions the ticket store can resume.
func (s *Server) StoredTickets() int {
	if s.policy.tickets == nil {
		return 0
	}
	return s.policy.tickets.len()
}

// SealedTickets returns how many session tickets crypto/tls has wrapped,
// committed to the store or not.
func (s *Server) SealedTickets() int64 {
	if s.policy.tickets == nil {
		return 0
	}
	return s.policy.tickets.sealed.Load()
}

// SetReassemblyBudget replaces the reassembly memory shared by the EAP
// conversations started from now on.
func (s *Server) SetReassemblyBudget(limit int64) {
	s.conversations.budget = eaptls.NewBudget(limit)
}

// ReassemblyInUse returns the reassembly memory the conversations hold.
func (s *Server) ReassemblyInUse() int64 { return s.conversations.budget.InUse() }
