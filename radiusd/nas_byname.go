package radiusd

// ByName returns the NAS client called name from the in-memory snapshot
// (the Disconnect-Request of a session goes to the NAS its accounting came
// from).
func (s *NASStore) ByName(name string) (NAS, bool) {
	for _, n := range s.snap.Load().byPrefix {
		if n.Name == name {
			return n, true
		}
	}
	return NAS{}, false
}
